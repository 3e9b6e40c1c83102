// The unpack thread's life: it goes once idle, stays while an unpack waits on its source, and
// its death mid-unpack fails that unpack cleanly and leaves the next one a new thread.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, describe, test } from 'node:test'
import { sha256 } from '../digest.ts'
import { Internal } from '../errors.ts'
import { makeTar, names, streamOf, tempStore, type TarEntry } from './testkit.ts'
import { unpackThreadForTests } from './unpack.ts'

// Some 1.2 MiB of tar: several of the 256 KiB batches the main thread hands over.
const many: TarEntry[] = [{ name: 'd/', type: 'directory' }]
for (let i = 0; i < 300; i++) many.push({ name: `d/f${i}`, data: `${i}`.repeat(4000 / 4) })

const small: TarEntry[] = [{ name: 'hello', data: 'hello\n' }]

const IDLE = 200
unpackThreadForTests.setIdleMs(IDLE)
after(() => unpackThreadForTests.setIdleMs(5000))

async function assertNothingLeft(dir: string): Promise<void> {
  assert.deepEqual(await names(dir, 'sha256'), [])
  assert.deepEqual(await names(dir, 'l'), [])
  assert.deepEqual(await names(dir, 'tmp'), [])
}

describe('the unpack thread', () => {
  test('exits once idle; the next unpack starts a new one', async () => {
    const t = await tempStore()
    try {
      const tar = await makeTar(small)
      // The thread is taken while its unpack waits on the source: once done, it may go (after
      // IDLE) before the store's last steps for the layer are over.
      const source = new PassThrough()
      const unpacked = t.store.unpack(source, { expectedDiffID: sha256(tar) })
      source.write(tar)
      while (unpackThreadForTests.worker() === undefined) await new Promise(setImmediate)
      const first = unpackThreadForTests.worker()
      assert.ok(first, 'a thread serves the unpack')
      source.end()
      await unpacked
      // An idle thread (and its timer) no longer keep the process alive: this test must.
      first.ref()
      const [code] = (await once(first, 'exit')) as [number]
      assert.equal(typeof code, 'number')
      assert.equal(unpackThreadForTests.worker(), undefined)

      const other = await makeTar([{ name: 'other', data: 'x' }])
      const info = await t.store.unpack(streamOf(other), { expectedDiffID: sha256(other) })
      assert.equal(info.diffID, sha256(other))
      const second = unpackThreadForTests.worker()
      assert.ok(second)
      assert.notEqual(second, first)
      const d = join(t.dir, 'sha256', info.diffID.slice(7), 'diff')
      assert.equal(await readFile(join(d, 'other'), 'utf8'), 'x')
    } finally {
      await t.cleanup()
    }
  })

  test('stays while an unpack waits on its source longer than the idle time', async () => {
    const t = await tempStore()
    try {
      const tar = await makeTar(many)
      // The thread the test before left idle goes after its idle time; the thread to watch is
      // the one this unpack starts (it is not there yet when the store's unpack first returns).
      const leftover = unpackThreadForTests.worker()
      if (leftover !== undefined) {
        // Neither that thread nor its idle timer holds the event loop open: this timer does.
        const hold = setTimeout(() => {}, 60_000)
        await once(leftover, 'exit')
        clearTimeout(hold)
      }
      const source = new PassThrough()
      const unpacked = t.store.unpack(source, { expectedDiffID: sha256(tar) })
      source.write(tar.subarray(0, tar.length >> 1))
      // Wait until the thread is there, then well past its idle time with the source silent.
      while (unpackThreadForTests.worker() === undefined) await new Promise(setImmediate)
      const worker = unpackThreadForTests.worker()!
      let exited = false
      worker.once('exit', () => (exited = true))
      await new Promise((r) => setTimeout(r, IDLE * 3))
      assert.equal(exited, false, 'the thread went while an unpack was under way')
      source.end(tar.subarray(tar.length >> 1))
      // Served to the end by that thread (one that went mid-unpack fails it); once done, the
      // thread may go after its short idle time, before the store's last steps here.
      const info = await unpacked
      assert.equal(info.diffID, sha256(tar))
    } finally {
      await t.cleanup()
    }
  })

  test('dying mid-unpack fails the unpack, keeps nothing, and the next unpack succeeds', async () => {
    const t = await tempStore()
    try {
      const tar = await makeTar(many)
      // A thread first, so that its messages can be watched.
      const warm = await makeTar(small)
      await t.store.unpack(streamOf(warm), { expectedDiffID: sha256(warm) })
      const worker = unpackThreadForTests.worker()!
      const source = new PassThrough()
      const unpacked = t.store.unpack(source, { expectedDiffID: sha256(tar) })
      unpacked.catch(() => undefined)
      // A batch handed back means the thread has unpacked it: files of this layer exist.
      const acked = once(worker, 'message')
      source.write(tar.subarray(0, tar.length >> 1))
      await acked
      await worker.terminate()
      await assert.rejects(unpacked, (err: unknown) => {
        assert.ok(err instanceof Internal, String(err))
        assert.match((err as Error).message, /^unpacking layer: the unpack thread exited/)
        return true
      })
      assert.equal(source.destroyed, true, 'the source is let go')
      // Only the first layer is there: nothing of the torn one, no temp dir left.
      assert.deepEqual(await names(t.dir, 'sha256'), [sha256(warm).slice(7)])
      assert.deepEqual(await names(t.dir, 'tmp'), [])
      assert.equal(await t.store.has(sha256(tar)), false)

      const info = await t.store.unpack(streamOf(tar), { expectedDiffID: sha256(tar) })
      assert.equal(info.diffID, sha256(tar))
      const next = unpackThreadForTests.worker()
      assert.ok(next)
      assert.notEqual(next, worker)
      const d = join(t.dir, 'sha256', info.diffID.slice(7), 'diff')
      assert.equal(await readFile(join(d, 'd/f299'), 'utf8'), '299'.repeat(1000))
    } finally {
      await t.cleanup()
    }
  })

  test('dying with no unpack under way goes unnoticed by the next unpack', async () => {
    const t = await tempStore()
    try {
      const tar = await makeTar(small)
      await t.store.unpack(streamOf(tar), { expectedDiffID: sha256(tar) })
      const worker = unpackThreadForTests.worker()!
      await worker.terminate()
      const other = await makeTar(many)
      const info = await t.store.unpack(streamOf(other), { expectedDiffID: sha256(other) })
      assert.equal(info.diffID, sha256(other))
      await t.store.delete(info.diffID)
      await t.store.delete(sha256(tar))
      await assertNothingLeft(t.dir)
    } finally {
      await t.cleanup()
    }
  })
})
