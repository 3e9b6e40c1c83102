// The import graph of src/ and its cycles. A cycle makes a module's load order matter (one side
// sees the other half-initialised) and ties two nouns into one; the engine's modules meet through
// types.ts instead. Static imports and re-exports count, type-only ones too (a type cycle is the
// same knot in the design); `import()` does not, as it loads later, on demand.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

/** Every .ts file under dir, tests and their helpers left out (they wire anything to anything). */
function sources(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sources(p))
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) {
      out.push(p)
    }
  }
  return out
}

/** The relative modules a file imports or re-exports statically. */
function importsOf(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false)
  const out: string[] = []
  for (const st of sf.statements) {
    const spec =
      ts.isImportDeclaration(st) || ts.isExportDeclaration(st) ? st.moduleSpecifier : undefined
    if (spec && ts.isStringLiteral(spec) && spec.text.startsWith('.')) {
      out.push(resolve(dirname(file), spec.text))
    }
  }
  return out
}

/** The import graph's cycles (its strongly connected components of more than one module, or a
 *  module importing itself), each as paths relative to root, sorted. */
export function importCycles(root: string, dir = 'src'): string[][] {
  const files = sources(join(root, dir))
  const known = new Set(files)
  const edges = new Map(files.map((f) => [f, importsOf(f).filter((t) => known.has(t))]))
  // Tarjan's algorithm.
  let index = 0
  const idx = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const out: string[][] = []
  const visit = (v: string): void => {
    idx.set(v, index)
    low.set(v, index++)
    stack.push(v)
    onStack.add(v)
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1 || edges.get(v)?.includes(v)) {
        out.push(scc.map((f) => relative(root, f)).sort())
      }
    }
  }
  for (const f of files) if (!idx.has(f)) visit(f)
  return out.sort((a, b) => a[0]!.localeCompare(b[0]!))
}
