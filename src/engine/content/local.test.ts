import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { after, before, describe, test } from 'node:test'
import { sha256 } from '../digest.ts'
import { InvalidArgument, NotFound } from '../errors.ts'
import { LocalBlobStore } from './local.ts'

describe('LocalBlobStore', () => {
  let dir: string
  let store: LocalBlobStore
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-content-'))
    await mkdir(join(dir, 'ingest'), { recursive: true })
    await writeFile(join(dir, 'ingest', 'stale'), 'left by a crash')
    store = new LocalBlobStore(dir)
    await store.init()
  })
  after(() => rm(dir, { recursive: true, force: true }))

  test('init sweeps stale ingests', async () => {
    assert.deepEqual(await readdir(join(dir, 'ingest')), [])
  })

  test('writes, reads and verifies a streamed blob', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 7)
    const w = await store.ingest()
    await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), w)
    const info = await w.commit({ digest: sha256(data), size: data.length })
    assert.deepEqual(info, { digest: sha256(data), size: data.length })
    assert.equal(await store.has(info.digest), true)
    assert.deepEqual(await store.info(info.digest), info)
    assert.deepEqual(await store.readAll(info.digest), data)
    const chunks: Buffer[] = []
    for await (const c of await store.open(info.digest)) chunks.push(c as Buffer)
    assert.deepEqual(Buffer.concat(chunks), data)
    assert.deepEqual(await readdir(join(dir, 'ingest')), [])
  })

  test('refuses a digest or size mismatch and keeps nothing', async () => {
    const wrong = sha256('something else')
    await assert.rejects(store.put('hello', wrong), (err: Error) => {
      assert.ok(err instanceof InvalidArgument)
      assert.equal(err.message, `digest mismatch: expected ${wrong}, got ${sha256('hello')}`)
      return true
    })
    assert.equal(await store.has(sha256('hello')), false)
    const w = await store.ingest()
    w.end('abc')
    await assert.rejects(w.commit({ size: 4 }), InvalidArgument)
    assert.equal(await store.has(sha256('abc')), false)
    assert.deepEqual(await readdir(join(dir, 'ingest')), [])
  })

  test('a trusted digest: not hashed again, committed only once its feeder says it verified', async () => {
    const data = Buffer.from('checked upstream')
    let verified = false
    const w = await store.ingest({ trusted: { digest: sha256(data), verified: () => verified } })
    await pipeline(Readable.from([data]), w)
    await assert.rejects(w.commit({ size: data.length }), {
      message: `blob ${sha256(data)} was not verified before commit`,
    })
    assert.equal(await store.has(sha256(data)), false)
    assert.deepEqual(await readdir(join(dir, 'ingest')), [])
    const again = await store.ingest({
      trusted: { digest: sha256(data), verified: () => verified },
    })
    await pipeline(Readable.from([data]), again)
    verified = true
    assert.deepEqual(await again.commit({ size: data.length }), {
      digest: sha256(data),
      size: data.length,
    })
    assert.deepEqual(await store.readAll(sha256(data)), data)
  })

  test('abort drops the partial blob', async () => {
    const w = await store.ingest()
    w.write('partial')
    await w.abort()
    await w.abort() // twice is fine
    assert.deepEqual(await readdir(join(dir, 'ingest')), [])
    assert.equal(await store.has(sha256('partial')), false)
  })

  test('concurrent ingests of the same content both succeed', async () => {
    const data = Buffer.alloc(512 * 1024, 3)
    const one = async () => {
      const w = await store.ingest()
      await pipeline(Readable.from([data]), w)
      return w.commit({ digest: sha256(data) })
    }
    const [a, b, c] = await Promise.all([one(), one(), one()])
    assert.deepEqual(a, b)
    assert.deepEqual(b, c)
    assert.deepEqual(await store.readAll(a.digest), data)
    assert.deepEqual(await readdir(join(dir, 'ingest')), [])
  })

  test('put, list and delete; NotFound for missing blobs', async () => {
    const info = await store.put('small config')
    const listed = []
    for await (const b of store.list()) listed.push(b.digest)
    assert.ok(listed.includes(info.digest))
    await store.delete(info.digest)
    assert.equal(await store.has(info.digest), false)
    await assert.rejects(store.info(info.digest), NotFound)
    await assert.rejects(store.open(info.digest), NotFound)
    await assert.rejects(store.readAll(info.digest), NotFound)
    await assert.rejects(store.delete(info.digest), NotFound)
  })

  test('a failing source leaves nothing after abort', async () => {
    const w = await store.ingest()
    const src = new Readable({
      read() {
        this.push('x')
        this.destroy(new Error('network gone'))
      },
    })
    await assert.rejects(pipeline(src, w), /network gone/)
    await assert.rejects(w.commit(), InvalidArgument)
    await w.abort()
    assert.deepEqual(await readdir(join(dir, 'ingest')), [])
  })
})
