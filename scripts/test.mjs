// Runs every *.test.ts under src/ and test/ with Node's own test runner.
// Node 20's runner does not glob TypeScript files itself, so we list them.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function find(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...find(p))
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

const only = process.argv.slice(2)
const files = only.length > 0 ? only : [...find('src'), ...find('test'), ...find('bench')].sort()

// After the whole suite, nothing of berth's networking may be left on the machine (anything
// there before the run is someone else's and is not counted).
const leftovers = () => {
  const l = spawnSync(process.execPath, [
    '--import',
    'tsx',
    'scripts/network-leftovers.ts',
    '--json',
  ])
  return l.status === 0 ? JSON.parse(l.stdout.toString()) : [`leftover check failed: ${l.stderr}`]
}
const before = only.length > 0 ? [] : leftovers()
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    // a guard against a hang, not a speed goal: a file's tests may take minutes on a loaded machine
    '--test-timeout=600000',
    '--test-reporter=spec',
    ...files,
  ],
  { stdio: 'inherit' },
)
if (only.length === 0) {
  const left = leftovers().filter((l) => !before.includes(l))
  if (left.length > 0) {
    process.stderr.write(
      `berth networking left these behind:\n${left.map((l) => `  ${l}\n`).join('')}`,
    )
    process.exit(1)
  }
}
process.exit(r.status ?? 1)
