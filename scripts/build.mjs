// Bundles each binary into one file so Node starts it fast (no module graph to walk).
import { build } from 'esbuild'
import { chmod } from 'node:fs/promises'

const entries = { berth: 'src/cli/main.ts', berthd: 'src/daemon/main.ts' }
for (const [name, entry] of Object.entries(entries)) {
  const outfile = `dist/${name}.mjs`
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: 'linked',
    // native addons are loaded from node_modules at run time
    external: ['koffi', 'node-unix-socket'],
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  })
  await chmod(outfile, 0o755)
}
