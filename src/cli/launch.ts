// The `berth` command as installed (dist/berth.cjs, a CommonJS file of its own): it runs the CLI
// bundle, dist/berth-cli.js, compiled with the V8 code cache that `npm run build` wrote beside
// it (berth-cli.js.cache), so a command spends no time parsing and compiling the bundle. Without
// the cache, or with one V8 refuses (another Node), the bundle is compiled as usual.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Script } from 'node:vm'

/** What the bundle (src/cli/main.ts) exports. */
interface Cli {
  runCli(argv: string[]): Promise<number>
  exitAfterFlush(code: number): void
}

export const BUNDLE = 'berth-cli.js'
export const CACHE = `${BUNDLE}.cache`

/** Compiles the bundle in dir as CommonJS would (same wrapper), with its code cache if any. */
export function compileCli(dir: string, useCache = true): { script: Script; file: string } {
  const file = join(dir, BUNDLE)
  // the bundle is ASCII (the build checks): read as latin1, it needs no UTF-8 decoding
  const source = readFileSync(file, 'latin1')
  let cachedData: Buffer | undefined
  if (useCache) {
    try {
      cachedData = readFileSync(join(dir, CACHE))
    } catch {
      // no cache: V8 compiles the bundle
    }
  }
  const script = new Script(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    { filename: file, cachedData },
  )
  return { script, file }
}

export function loadCli(dir: string): Cli {
  const { script, file } = compileCli(dir)
  const mod = { exports: {} as Cli }
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void
  // the bundle requires only node:* modules, which any require resolves
  wrapper(mod.exports, require, mod, file, dir)
  return mod.exports
}

export function start(): void {
  const cli = loadCli(__dirname)
  cli.runCli(process.argv.slice(2)).then(cli.exitAfterFlush, (e: unknown) => {
    process.stderr.write(String(e) + '\n')
    process.exit(1)
  })
}

if (require.main === module) start()
