// Builds dist/: each program bundled into one file so Node starts it without walking a module
// graph, and the berth command ready to start as fast as Node allows:
//
//   dist/berthd.mjs            the daemon
//   dist/berth-cli.js          the CLI, one CommonJS bundle: node:* modules are required where
//                              a command first needs them, not all at start (as an ESM bundle's
//                              hoisted imports would)
//   dist/berth-cli.js.cache    V8's code cache for it, every function compiled
//   dist/berth.cjs             the `berth` command: runs berth-cli.js with that cache
//   dist/berth.mjs             the same command under its old name
import { execFileSync } from 'node:child_process'
import { build } from 'esbuild'
import { chmod, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
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

await build({
  ...common,
  entryPoints: ['src/daemon/main.ts'],
  outfile: 'dist/berthd.mjs',
  format: 'esm',
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);",
  },
})
await chmod('dist/berthd.mjs', 0o755)

await build({
  ...common,
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/berth-cli.js',
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
// vm.Script (the launcher) has no loader for import(): node:* modules must be required
// The launcher reads the bundle as latin1 (no UTF-8 decoding, a one-byte string for V8):
// esbuild writes ASCII but for regular expression literals, whose few non-ASCII characters
// (Go's "µs") become \u escapes here, which mean the same in a pattern, string or template.
const cli = (await readFile('dist/berth-cli.js', 'utf8')).replace(
  /[^\n\r\t -~]/g,
  (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
)
await writeFile('dist/berth-cli.js', cli)
const dynamic = /\bimport\((["'])node:[^"']+\1\)/.exec(cli)
if (dynamic) {
  throw new Error(
    `dist/berth-cli.js has ${dynamic[0]}: import node:* modules statically in src/cli`,
  )
}
await build({
  ...common,
  entryPoints: ['src/cli/launch.ts'],
  outfile: 'dist/berth.cjs',
  format: 'cjs',
  sourcemap: false,
  banner: { js: '#!/usr/bin/env node' },
})
await chmod('dist/berth.cjs', 0o755)
await writeFile(
  'dist/berth.mjs',
  "#!/usr/bin/env node\nimport { start } from './berth.cjs'\nstart()\n",
  { mode: 0o755 },
)

// The code cache: V8's compiled code for the bundle's top level and for what runs of the CLI
// compile: its help pages (the entry, flag parsing and each command module's definitions) and
// `version`, `ps` and `images` against a stand-in daemon (the client, the formatting, the
// template engine, the table writer), taken after those runs. Functions other commands need
// beyond that compile on first use; a cache of every function (--no-lazy) was measured slower
// to load than what it saves.
const launcher = createRequire(import.meta.url)('../dist/berth.cjs')
await rm(`dist/${launcher.CACHE}`, { force: true })
const { script, file } = launcher.compileCli('dist', false)
const mod = { exports: {} }
script.runInThisContext()(mod.exports, createRequire(import.meta.url), mod, file, 'dist')
const warm = await startWarmDaemon()
const write = process.stdout.write
process.stdout.write = () => true
try {
  for (const args of [
    ['--help'],
    ['version', '--help'],
    ['ps', '--help'],
    ['images', '--help'],
    ['run', '--help'],
    ['exec', '--help'],
  ]) {
    await mod.exports.runCli(['--host', 'unix:///nonexistent', ...args])
  }
  for (const args of [['version'], ['ps'], ['ps', '-a'], ['images']]) {
    const code = await mod.exports.runCli(['--host', warm.host, ...args])
    if (code !== 0) throw new Error(`berth ${args.join(' ')} against the stand-in daemon: ${code}`)
  }
} finally {
  process.stdout.write = write
  await warm.close()
}
await writeFile(`dist/${launcher.CACHE}`, script.createCachedData())
if (launcher.compileCli('dist').script.cachedDataRejected) {
  throw new Error(`V8 refuses the code cache it just made (dist/${launcher.CACHE})`)
}
