// The `berth` command as installed (dist/berth.cjs, a CommonJS file of its own): it runs a CLI
// bundle compiled with the V8 code cache that `npm run build` wrote beside it (BUNDLE.cache), so
// a command spends no time parsing and compiling the bundle. Without the cache, or with one V8
// refuses (another Node), the bundle is compiled as usual.
//
// There are two bundles: the full CLI (dist/berth-cli.js, src/cli/main.ts) and a small one for
// the everyday commands (dist/berth-core.js, src/cli/core.ts). Loading a bundle costs in
// proportion to its size, and these commands are short, so for them the small one is loaded
// and the full one never is.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Script } from 'node:vm'
import { isCore } from './corepick.ts'

/** What the full bundle (src/cli/main.ts) exports. */
interface Cli {
  runCli(argv: string[]): Promise<number>
  exitAfterFlush(code: number): void
}

/** What the core bundle (src/cli/core.ts) exports. */
interface Core {
  runCore(argv: string[]): Promise<number | undefined>
  exitAfterFlush(code: number): void
}

export const BUNDLE = 'berth-cli.js'
export const CORE_BUNDLE = 'berth-core.js'
export const CACHE = `${BUNDLE}.cache`

/** Compiles a bundle in dir as CommonJS would (same wrapper), with its code cache if any. */
export function compileCli(
  dir: string,
  useCache = true,
  bundle = BUNDLE,
): { script: Script; file: string } {
  const file = join(dir, bundle)
  // 'utf8' is Node's one-call C++ read (binding.readFileUtf8); 'latin1' goes through a Buffer
  // and its decoder, about 2M instructions more on first use. The bundle is ASCII (the build
  // escapes the rest), so V8 keeps it a one-byte string either way.
  const source = readFileSync(file, 'utf8')
  let cachedData: Buffer | undefined
  if (useCache) {
    try {
      cachedData = readFileSync(`${file}.cache`)
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

function load<T>(dir: string, bundle: string): T {
  const { script, file } = compileCli(dir, true, bundle)
  const mod = { exports: {} as T }
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void
  // the bundle requires only node:* modules, which any require resolves
  wrapper(mod.exports, require, mod, file, dir)
  return mod.exports
}

export function loadCli(dir: string): Cli {
  return load<Cli>(dir, BUNDLE)
}

export function loadCore(dir: string): Core {
  return load<Core>(dir, CORE_BUNDLE)
}

function fail(e: unknown): void {
  process.stderr.write(String(e) + '\n')
  process.exit(1)
}

export function start(): void {
  const argv = process.argv.slice(2)
  if (isCore(argv)) {
    const core = loadCore(__dirname)
    core.runCore(argv).then((code) => {
      if (code !== undefined) core.exitAfterFlush(code)
      else full(argv)
    }, fail)
  } else full(argv)
}

function full(argv: string[]): void {
  const cli = loadCli(__dirname)
  cli.runCli(argv).then(cli.exitAfterFlush, fail)
}

if (require.main === module) start()
