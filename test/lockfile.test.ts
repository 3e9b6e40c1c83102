// `npm ci` (npm 11.16 and later) refuses a lock file that lacks an entry for any optional
// dependency, including platform packages the registry does not have (npm/cli#9846), and a
// later `npm install` drops the placeholder entries npm 11.13 wrote for those. This keeps the
// README's first command from breaking the day someone refreshes the lock with such an npm.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'

interface LockEntry {
  optionalDependencies?: Record<string, string>
}

/** Where npm looks for NAME from the package at PATH: its own node_modules, then each parent's. */
function candidates(path: string, name: string): string[] {
  const out: string[] = []
  let p = path
  for (;;) {
    out.push(p === '' ? `node_modules/${name}` : `${p}/node_modules/${name}`)
    if (p === '') return out
    const i = p.lastIndexOf('/node_modules/')
    p = i < 0 ? '' : p.slice(0, i)
  }
}

test('package-lock.json has an entry for every optional dependency, so npm ci accepts it', async () => {
  const lock = JSON.parse(
    await readFile(new URL('../package-lock.json', import.meta.url), 'utf8'),
  ) as {
    lockfileVersion: number
    packages: Record<string, LockEntry>
  }
  assert.equal(lock.lockfileVersion, 3)
  const missing: string[] = []
  let optional = 0
  for (const [path, entry] of Object.entries(lock.packages)) {
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      optional++
      if (!candidates(path, name).some((c) => c in lock.packages))
        missing.push(`${name} (of ${path})`)
    }
  }
  assert.ok(optional > 0, 'the lock lists optional dependencies (node-unix-socket has some)')
  assert.deepEqual(
    missing,
    [],
    'missing from package-lock.json; regenerate it with `npx npm@11.13.0 install --package-lock-only`',
  )
})
