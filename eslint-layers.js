// The layers of berth, as ESLint rules (docs/architecture.md, "Layers"). Imports are resolved
// to paths first, so `../../api/x.ts` and `../api/x.ts` are judged alike, type imports too.
//
//   src/lib     Docker's grammar and formats: imports only src/lib
//   src/engine  imports src/engine and src/lib; never src/api, src/daemon or src/cli
//   src/api     imports src/api, src/engine and src/lib
//   src/cli     a client of the API: imports only src/cli and src/lib
//   src/daemon  wires everything (any layer but src/cli)
//
// `layers` enforces those. `boundaries` enforces the seams inside them: an engine module
// (src/engine/<noun>/) reaches another only through its types.ts (the shared kernel files
// directly under src/engine/, and sys/, reference/ and tar/, which are libraries rather than
// modules, are open to all), and src/api reaches the engine through types.ts and engine.ts
// and takes nothing from src/daemon. Tests wire real parts and fakes together, so *.test.ts
// files and test helpers (testing.ts, testutil.ts, testkit.ts, and fakes in fake.ts and
// fake-*.ts) are free of both rules.
import { dirname, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(fileURLToPath(import.meta.url))

/** Engine folders whose every file may be imported from anywhere in the engine. */
const OPEN_ENGINE_DIRS = new Set(['sys', 'reference', 'tar'])

const TEST_HELPERS = new Set(['testing.ts', 'testutil.ts', 'testkit.ts', 'fake.ts'])

const LAYER_ALLOWS = {
  lib: ['lib'],
  engine: ['engine', 'lib'],
  api: ['api', 'engine', 'lib', 'daemon'],
  cli: ['cli', 'lib'],
  daemon: ['daemon', 'api', 'engine', 'lib'],
}

/** ['src', layer, ...rest] for a path inside src/, or undefined. */
function srcParts(file) {
  const rel = relative(root, file).split(sep)
  return rel[0] === 'src' && rel.length >= 3 ? rel : undefined
}

/** Tests and their helpers (fakes, fixtures, harness glue). */
function isTest(file) {
  const name = file.split(sep).at(-1)
  return file.endsWith('.test.ts') || TEST_HELPERS.has(name) || /^fake-[\w-]+\.ts$/.test(name)
}

/** Calls check(node, targetParts, fromParts) for every relative import of a src/ file. */
function visitor(context, check) {
  const from = srcParts(context.filename)
  if (!from || isTest(context.filename)) return {}
  const onSource = (node) => {
    const src = node.source
    if (!src || src.type !== 'Literal' || typeof src.value !== 'string') return
    if (!src.value.startsWith('.')) return
    const target = srcParts(resolve(dirname(context.filename), src.value))
    check(
      src,
      target ?? relative(root, resolve(dirname(context.filename), src.value)).split(sep),
      from,
    )
  }
  return {
    ImportDeclaration: onSource,
    ExportNamedDeclaration: onSource,
    ExportAllDeclaration: onSource,
    ImportExpression: onSource,
  }
}

const layers = {
  meta: {
    type: 'problem',
    docs: { description: 'Keeps src/lib, src/engine, src/api, src/cli and src/daemon layered' },
    messages: {
      layer: 'src/{{from}} may not import src/{{to}} ({{path}}): it may import only {{allowed}}',
      outside: 'src/{{from}} may not import {{path}}, outside src/',
    },
    schema: [],
  },
  create(context) {
    return visitor(context, (node, target, from) => {
      const allowed = LAYER_ALLOWS[from[1]]
      if (!allowed) return
      if (target[0] !== 'src') {
        context.report({
          node,
          messageId: 'outside',
          data: { from: from[1], path: target.join('/') },
        })
        return
      }
      if (!allowed.includes(target[1])) {
        context.report({
          node,
          messageId: 'layer',
          data: {
            from: from[1],
            to: target[1],
            path: target.join('/'),
            allowed: allowed.map((l) => `src/${l}`).join(', '),
          },
        })
      }
    })
  },
}

const boundaries = {
  meta: {
    type: 'suggestion',
    docs: {
      description: "Engine modules meet through their types.ts; the API through the engine's",
    },
    messages: {
      module:
        'src/engine/{{from}} reaches into src/engine/{{to}} ({{path}}): import its types.ts, and take the implementation as a constructor argument',
      api: "src/api reaches into {{path}}: use the module's types.ts or src/engine/engine.ts",
      daemon: 'src/api imports {{path}}: the API takes nothing from src/daemon',
    },
    schema: [],
  },
  create(context) {
    return visitor(context, (node, target, from) => {
      if (target[0] !== 'src') return
      const path = target.join('/')
      const intoModule =
        target[1] === 'engine' &&
        target.length >= 4 &&
        !OPEN_ENGINE_DIRS.has(target[2]) &&
        target.at(-1) !== 'types.ts'
      if (from[1] === 'engine' && intoModule) {
        const fromModule = from.length >= 4 ? from[2] : '(engine)'
        if (fromModule !== target[2]) {
          context.report({
            node,
            messageId: 'module',
            data: { from: fromModule, to: target[2], path },
          })
        }
      } else if (from[1] === 'api' && intoModule) {
        context.report({ node, messageId: 'api', data: { path } })
      } else if (from[1] === 'api' && target[1] === 'daemon') {
        context.report({ node, messageId: 'daemon', data: { path } })
      }
    })
  },
}

export default { rules: { layers, boundaries } }
