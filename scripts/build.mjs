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
import { setFlagsFromString } from 'node:v8'

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
  define: { ...common.define, 'import.meta.url': '__berthCliUrl' },
  banner: { js: 'var __berthCliUrl = require("node:url").pathToFileURL(__filename).href;' },
})
// vm.Script (the launcher) has no loader for import(): node:* modules must be required
const cli = await readFile('dist/berth-cli.js', 'utf8')
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

// The code cache, made with every function compiled (V8's --no-lazy while compiling), so each
// command finds its own functions in it; the flag is back to its default before the cache is
// written, so the cache carries the flags every `berth` runs with and V8 accepts it.
const launcher = createRequire(import.meta.url)('../dist/berth.cjs')
await rm(`dist/${launcher.CACHE}`, { force: true })
setFlagsFromString('--no-lazy')
const { script } = launcher.compileCli('dist', false)
setFlagsFromString('--lazy')
await writeFile(`dist/${launcher.CACHE}`, script.createCachedData())
if (launcher.compileCli('dist').script.cachedDataRejected) {
  throw new Error(`V8 refuses the code cache it just made (dist/${launcher.CACHE})`)
}
