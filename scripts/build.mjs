// Builds dist/: each program bundled into one file so Node starts it without walking a module
// graph, and the berth command ready to start as fast as Node allows:
//
//   dist/berthd.mjs            the daemon
//   dist/unpack-worker.mjs     its layer unpack thread (src/engine/layer/unpack.ts)
//   dist/berth-portfwd.mjs     the port forwarder of berthd without root (user networks)
//   dist/berth-cli.js          the CLI, one CommonJS bundle: node:* modules are required where
//                              a command first needs them, not all at start (as an ESM bundle's
//                              hoisted imports would)
//   dist/berth-cli.js.cache    V8's code cache for it (what the runs below compile)
//   dist/berth-core.js(.cache) the same for the everyday commands alone (src/cli/core.ts)
//   dist/berth.cjs             the `berth` command: runs berth-core.js or berth-cli.js with
//                              its cache
//   dist/berth.mjs             the same command under its old name
import { execFileSync } from 'node:child_process'
import { build } from 'esbuild'
import fs from 'node:fs'
import { Buffer } from 'node:buffer'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startWarmDaemon } from './warm-daemon.mjs'

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return 'unknown'
  }
}

const epoch = process.env.SOURCE_DATE_EPOCH
const buildTime = (epoch ? new Date(Number(epoch) * 1000) : new Date()).toISOString()
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // native addons are loaded from node_modules at run time
  external: ['koffi', 'node-unix-socket'],
  define: {
    BERTH_GIT_COMMIT: JSON.stringify(gitCommit()),
    BERTH_BUILD_TIME: JSON.stringify(buildTime),
  },
  logLevel: 'warning',
}

/**
 * Keeps a bundle ASCII, so V8 holds its source (which it keeps for the daemon's life) as a
 * one-byte string: esbuild escapes non-ASCII in strings but keeps comments as they are, and a
 * few "’" in undici's made berthd's 2.8 MB source a 5.7 MB two-byte string. Each character
 * left becomes a \u escape, which means the same in a comment, a pattern, a string or a template.
 */
async function asciiOnly(file) {
  const text = await readFile(file, 'utf8')
  const ascii = text.replace(
    /[^\n\r\t -~]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
  if (ascii !== text) await writeFile(file, ascii)
}

// berthd's node flags (src/lib/berthd-flags.ts) go on its #! line: `env -S` splits them.
const berthdFlags = JSON.parse(await readFile('src/lib/berthd-flags.json', 'utf8'))
const berthdInterpreter =
  berthdFlags.length > 0 ? `#!/usr/bin/env -S node ${berthdFlags.join(' ')}` : '#!/usr/bin/env node'
await build({
  ...common,
  entryPoints: ['src/daemon/main.ts'],
  outfile: 'dist/berthd.mjs',
  format: 'esm',
  banner: {
    js: `${berthdInterpreter}\nimport { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);`,
  },
})
await asciiOnly('dist/berthd.mjs')
await chmod('dist/berthd.mjs', 0o755)
// The layer unpack thread, found beside berthd.mjs.
await build({
  ...common,
  entryPoints: ['src/engine/layer/unpack-worker.ts'],
  outfile: 'dist/unpack-worker.mjs',
  format: 'esm',
  banner: {
    js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);",
  },
})
await asciiOnly('dist/unpack-worker.mjs')

// berthd without root starts it in its network namespace for published ports on user networks.
await build({
  ...common,
  entryPoints: ['src/daemon/portfwd.ts'],
  outfile: 'dist/berth-portfwd.mjs',
  format: 'esm',
})

/** Bundles a CLI entry as one CommonJS file the launcher can run from its code cache. */
async function cliBundle(entry, outfile) {
  await build({
    ...common,
    entryPoints: [entry],
    outfile,
    format: 'cjs',
    // whitespace and syntax minified (names kept, for stack traces): less to read and parse
    minifyWhitespace: true,
    minifySyntax: true,
    // import.meta.url, worked out only when asked (autostart looks for berthd beside the CLI)
    define: { ...common.define, 'import.meta': '__berthImportMeta' },
    banner: {
      js: 'var __berthImportMeta = { get url() { return require("node:url").pathToFileURL(__filename).href } };',
    },
  })
  // The bundle is kept ASCII (a one-byte string for V8, whichever way the launcher reads it):
  // esbuild writes ASCII but for regular expression literals, whose few non-ASCII characters
  // (Go's "µs") become \u escapes here, which mean the same in a pattern, string or template.
  const cli = (await readFile(outfile, 'utf8')).replace(
    /[^\n\r\t -~]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
  await writeFile(outfile, cli)
  // vm.Script (the launcher) has no loader for import(): node:* modules must be required
  const dynamic = /\bimport\((["'])node:[^"']+\1\)/.exec(cli)
  if (dynamic) {
    throw new Error(`${outfile} has ${dynamic[0]}: import node:* modules statically in src/cli`)
  }
}

await cliBundle('src/cli/main.ts', 'dist/berth-cli.js')
// the everyday commands (version, ps, images) without the rest: see src/cli/core.ts
await cliBundle('src/cli/core.ts', 'dist/berth-core.js')
/**
 * The berth command's #! line: the node that builds it, by its absolute path. Through
 * /usr/bin/env a command first runs a second program (another execve, env's loader, libc and
 * locale mapped and faulted in, a PATH search): about 5 ms of CPU here (perf stat task-clock:
 * `env /bin/true` 6.8 ms, `/bin/true` 2.1 ms), nearly all of it in the kernel, where callgrind
 * does not count. env stays where the path cannot be a #! line (white space, or too long).
 */
function interpreterLine() {
  const node = process.execPath
  return /^\/[!-~]+$/.test(node) && node.length < 120 ? `#!${node}` : '#!/usr/bin/env node'
}

await build({
  ...common,
  entryPoints: ['src/cli/launch.ts'],
  outfile: 'dist/berth.cjs',
  format: 'cjs',
  sourcemap: false,
  minifyWhitespace: true,
  minifySyntax: true,
  banner: { js: interpreterLine() },
})
await chmod('dist/berth.cjs', 0o755)
await writeFile(
  'dist/berth.mjs',
  "#!/usr/bin/env node\nimport { start } from './berth.cjs'\nstart()\n",
  { mode: 0o755 },
)

// The code caches: V8's compiled code for each bundle's top level and for what runs of the CLI
// compile: its help pages (the entry, flag parsing and each command module's definitions) and
// `version`, `ps` and `images` against a stand-in daemon (the client, the formatting, the
// template engine, the table writer), and an unchanged rebuild (`build`: the context scan, its
// digest, the request, the display), taken after those runs. Functions other commands need
// beyond that compile on first use; a cache of every function (--no-lazy) was measured slower
// to load than what it saves.
const launcher = createRequire(import.meta.url)('../dist/berth.cjs')
const warm = await startWarmDaemon()

/** Compiles a bundle, runs each command line through run, and writes the bundle's cache. */
async function codeCache(bundle, helps, runs, run) {
  await rm(`dist/${bundle}.cache`, { force: true })
  const { script, file } = launcher.compileCli('dist', false, bundle)
  const mod = { exports: {} }
  script.runInThisContext()(mod.exports, createRequire(import.meta.url), mod, file, 'dist')
  const write = process.stdout.write
  const writeErr = process.stderr.write
  const writeSync = fs.writeSync
  process.stdout.write = () => true
  process.stderr.write = () => true
  // the CLI writes a quiet build's output to the descriptors (src/cli/stdio.ts)
  fs.writeSync = (fd, data, offset, ...rest) =>
    fd !== 1 && fd !== 2
      ? writeSync(fd, data, offset, ...rest)
      : typeof data === 'string'
        ? Buffer.byteLength(data)
        : data.length - (offset ?? 0)
  try {
    for (const args of helps) await run(mod.exports, ['--host', 'unix:///nonexistent', ...args])
    for (const args of runs) {
      const code = await run(mod.exports, ['--host', warm.host, ...args])
      if (code !== 0)
        throw new Error(`${bundle}: berth ${args.join(' ')} against the stand-in: ${code}`)
    }
  } finally {
    process.stdout.write = write
    process.stderr.write = writeErr
    fs.writeSync = writeSync
  }
  await writeFile(`dist/${bundle}.cache`, script.createCachedData())
  if (launcher.compileCli('dist', true, bundle).script.cachedDataRejected) {
    throw new Error(`V8 refuses the code cache it just made (dist/${bundle}.cache)`)
  }
}

const everyday = [['version'], ['ps'], ['ps', '-a'], ['images']]
// A small context for `build`: a Dockerfile and a few files in directories.
const buildCtx = await mkdtemp(join(tmpdir(), 'berth-warm-ctx-'))
await writeFile(join(buildCtx, 'Dockerfile'), 'FROM busybox\nCOPY . /app\n')
for (const d of ['a', 'b']) {
  await mkdir(join(buildCtx, d))
  for (let i = 0; i < 20; i++) await writeFile(join(buildCtx, d, `f${i}.js`), `${i}\n`)
}
const builds = [
  ['build', '-q', buildCtx],
  ['build', '--progress=plain', buildCtx],
]
try {
  await codeCache(
    launcher.BUNDLE,
    [
      ['--help'],
      ['version', '--help'],
      ['ps', '--help'],
      ['images', '--help'],
      ['run', '--help'],
      ['exec', '--help'],
    ],
    [...everyday, ...builds],
    (cli, argv) => cli.runCli(argv),
  )
  await codeCache(
    launcher.CORE_BUNDLE,
    [
      ['version', '--help'],
      ['ps', '--help'],
      ['images', '--help'],
    ],
    everyday,
    (core, argv) => core.runCore(argv),
  )
} finally {
  await warm.close()
  await rm(buildCtx, { recursive: true, force: true })
}
