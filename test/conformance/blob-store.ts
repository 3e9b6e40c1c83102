// The content store's contract (src/engine/content/types.ts), for every implementation: the
// real one on files and the in-memory fake the API tests use.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { BlobStore } from '../../src/engine/content/types.ts'
import { sha256, type Digest } from '../../src/engine/digest.ts'
import { InvalidArgument, NotFound } from '../../src/engine/errors.ts'

export interface BlobStoreFixture {
  store: BlobStore
  cleanup?(): Promise<void>
}

async function all(store: BlobStore): Promise<Digest[]> {
  const out: Digest[] = []
  for await (const b of store.list()) out.push(b.digest)
  return out
}

async function read(store: BlobStore, d: Digest): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of await store.open(d)) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

function write(w: NodeJS.WritableStream, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    w.once('error', reject)
    w.write(data, (err) => (err ? reject(err) : resolve()))
  })
}

const invalid = (e: Error) => e instanceof InvalidArgument
const missing = (d: Digest) => (e: Error) =>
  e instanceof NotFound && e.message === `content digest ${d}: not found`

export function blobStoreSuite(name: string, make: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    const withStore = (title: string, fn: (s: BlobStore) => Promise<void>) =>
      test(title, async () => {
        const f = await make()
        try {
          await fn(f.store)
        } finally {
          await f.cleanup?.()
        }
      })

    withStore('a written blob is invisible until commit, then whole', async (s) => {
      const data = Buffer.alloc(300_000, 7)
      const d = sha256(data)
      const w = await s.ingest()
      await write(w, data.subarray(0, 1000))
      assert.equal(await s.has(d), false)
      assert.deepEqual(await all(s), [])
      await write(w, data.subarray(1000))
      assert.deepEqual(await w.commit({ digest: d, size: data.length }), {
        digest: d,
        size: data.length,
      })
      assert.equal(await s.has(d), true)
      assert.deepEqual(await s.info(d), { digest: d, size: data.length })
      assert.deepEqual(await read(s, d), data)
      assert.deepEqual(await s.readAll(d), data)
      assert.deepEqual(await all(s), [d])
      await assert.rejects(w.commit(), invalid)
    })

    withStore('a wrong digest or size commits nothing', async (s) => {
      const data = Buffer.from('some content')
      for (const expected of [{ digest: sha256('other') }, { size: data.length + 1 }]) {
        const w = await s.ingest()
        await write(w, data)
        await assert.rejects(w.commit(expected), invalid)
        await w.abort()
      }
      assert.equal(await s.has(sha256(data)), false)
      assert.deepEqual(await all(s), [])
      await assert.rejects(s.put(data, sha256('other')), invalid)
      assert.deepEqual(await all(s), [])
    })

    withStore('an aborted write leaves nothing', async (s) => {
      const w = await s.ingest()
      await write(w, Buffer.from('half'))
      await w.abort()
      await w.abort()
      assert.deepEqual(await all(s), [])
    })

    withStore('already there is success, and one copy', async (s) => {
      const data = Buffer.from('twice')
      const a = await s.put(data)
      const w = await s.ingest()
      await write(w, data)
      assert.deepEqual(await w.commit({ digest: a.digest }), a)
      assert.deepEqual(await s.put(data, a.digest), a)
      assert.deepEqual(await all(s), [a.digest])
    })

    withStore('list is sorted; delete removes', async (s) => {
      const ds: Digest[] = []
      for (const x of ['c', 'a', 'b', '']) ds.push((await s.put(x)).digest)
      assert.deepEqual(await all(s), [...ds].sort())
      assert.deepEqual(await s.info(sha256('')), { digest: sha256(''), size: 0 })
      await s.delete(ds[0])
      assert.equal(await s.has(ds[0]), false)
      assert.deepEqual(await all(s), ds.slice(1).sort())
    })

    withStore("absence is NotFound in the store's words", async (s) => {
      const d = sha256('absent')
      await assert.rejects(s.info(d), missing(d))
      await assert.rejects(s.open(d), missing(d))
      await assert.rejects(s.readAll(d), missing(d))
      await assert.rejects(s.delete(d), missing(d))
      assert.equal(await s.has(d), false)
    })

    withStore('a malformed digest is an invalid argument', async (s) => {
      const bad = 'sha256:../../etc/passwd' as Digest
      for (const call of [
        () => s.has(bad),
        () => s.info(bad),
        () => s.open(bad),
        () => s.readAll(bad),
        () => s.delete(bad),
      ]) {
        await assert.rejects(call(), invalid)
      }
    })
  })
}
