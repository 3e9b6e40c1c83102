import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LockBusy, lockDataRoot } from './lock.ts'

test('one holder per data root; the pid is recorded; release lets the next in', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-lock-'))
  try {
    const root = join(dir, 'root')
    const a = await lockDataRoot(root)
    assert.equal(await readFile(join(root, 'berthd.lock'), 'utf8'), `${process.pid}\n`)
    // A second open file description conflicts even within one process.
    await assert.rejects(lockDataRoot(root), (err: unknown) => {
      assert.ok(err instanceof LockBusy)
      assert.equal(err.pid, process.pid)
      assert.equal(
        err.message,
        `data root ${root} is in use by another berthd (pid ${process.pid})`,
      )
      return true
    })
    await a.release()
    const b = await lockDataRoot(root)
    await b.release()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('a stale lock file from a dead process does not block', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-lock-'))
  try {
    // A process that took the lock and died: the file stays, the flock does not.
    const child = spawnSync(process.execPath, [
      '--import',
      'tsx',
      '-e',
      `import('${new URL('./lock.ts', import.meta.url).pathname}').then(m => m.lockDataRoot(${JSON.stringify(dir)})).then(() => process.exit(0))`,
    ])
    assert.equal(child.status, 0, child.stderr.toString())
    assert.match(await readFile(join(dir, 'berthd.lock'), 'utf8'), /^\d+\n$/)
    await writeFile(join(dir, 'berthd.lock'), '999999\n')
    const l = await lockDataRoot(dir)
    assert.equal(await readFile(join(dir, 'berthd.lock'), 'utf8'), `${process.pid}\n`)
    await l.release()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
