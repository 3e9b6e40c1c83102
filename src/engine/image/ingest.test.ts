// The ingest path against the real content and layer stores: every input kind, each digest
// check, and what is left behind when something fails (nothing but garbage-collectable content).
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { after, describe, test } from 'node:test'
import { gunzipSync, gzipSync } from 'node:zlib'
import { LocalBlobStore } from '../content/local.ts'
import { sha256 } from '../digest.ts'
import { InvalidArgument, NotFound } from '../errors.ts'
import { LocalLayerStore } from '../layer/local.ts'
import { makeTar, streamOf, zstd } from '../layer/testkit.ts'
import { LayerIngester } from './ingest.ts'
import { MEDIA } from './manifest.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'berth-ingest-'))
  dirs.push(dir)
  const blobs = new LocalBlobStore(join(dir, 'content'))
  const layers = new LocalLayerStore(join(dir, 'layers'))
  await blobs.init()
  await layers.init()
  const ingest = new LayerIngester({ blobs, layers })
  /** What the stores hold, temp dirs included: a failure must leave none of it. */
  const contents = async () => {
    const b: string[] = []
    for await (const x of blobs.list()) b.push(x.digest)
    return {
      blobs: b,
      layers: (await layers.list()).map((l) => l.diffID),
      temp: [
        ...(await readdir(join(dir, 'content', 'ingest'))),
        ...(await readdir(join(dir, 'layers', 'tmp'))),
      ],
    }
  }
  return { dir, blobs, layers, ingest, contents }
}

const files = [
  { name: 'etc/', type: 'directory' as const },
  { name: 'etc/hello', data: 'hello\n' },
  { name: 'bin/tool', data: 'x'.repeat(70_000) },
]

async function refuses(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof InvalidArgument, `${e.name}: ${e.message}`)
    assert.match(e.message, re)
    return true
  })
}

describe('LayerIngester', () => {
  test('a blob in any compression is stored as it came and unpacked in the same pass', async () => {
    const t = await setup()
    const tar = await makeTar(files)
    const diffID = sha256(tar)
    const cases: [Buffer, string][] = [
      [tar, MEDIA.layer.none],
      [gzipSync(tar), MEDIA.layer.gzip],
      [zstd(tar), MEDIA.layer.zstd],
    ]
    for (const [data, mediaType] of cases) {
      const seen: number[] = []
      const l = await t.ingest.writeLayer(
        { blob: streamOf(data), digest: sha256(data), size: data.length },
        { diffID, progress: (n) => seen.push(n) },
      )
      assert.deepEqual(l, {
        diffID,
        blob: sha256(data),
        blobSize: data.length,
        mediaType,
        diffSize: tar.length,
        size: 6 + 70_000,
      })
      assert.equal(seen.at(-1), data.length)
      assert.deepEqual(await t.blobs.readAll(l.blob), data)
    }
    const c = await t.contents()
    assert.deepEqual(c.layers, [diffID])
    assert.equal(c.blobs.length, 3)
    assert.deepEqual(c.temp, [])
    // A media type given is recorded as given.
    const gz = gzipSync(tar)
    const again = await t.ingest.writeLayer({
      blob: streamOf(gz),
      mediaType: MEDIA.dockerLayer.gzip,
    })
    assert.equal(again.mediaType, MEDIA.dockerLayer.gzip)
    assert.equal(again.blob, sha256(gz))
  })

  const wrong: [string, (data: Buffer) => object, object, RegExp][] = [
    ['another blob digest', () => ({ digest: sha256('other') }), {}, /layer blob: digest mismatch/],
    ['a shorter size', (d) => ({ size: d.length - 1 }), {}, /more than the expected/],
    [
      'a longer size',
      (d) => ({ size: d.length + 1 }),
      {},
      /size mismatch: expected \d+ bytes, got/,
    ],
    ['another diffID', () => ({}), { diffID: sha256('other') }, /invalid diffID for layer/],
  ]
  for (const [name, input, opts, re] of wrong) {
    test(`a blob with ${name} is refused and leaves nothing`, async () => {
      const t = await setup()
      const data = gzipSync(await makeTar(files))
      await refuses(t.ingest.writeLayer({ blob: streamOf(data), ...input(data) }, opts), re)
      assert.deepEqual(await t.contents(), { blobs: [], layers: [], temp: [] })
    })
  }

  test('a blob that is no tar, or whose source fails or stops, leaves nothing', async () => {
    const t = await setup()
    await refuses(
      t.ingest.writeLayer({ blob: streamOf(gzipSync(Buffer.alloc(3000, 7))) }),
      /invalid layer/,
    )
    const data = gzipSync(await makeTar(files))
    const failing = new PassThrough()
    failing.write(data.subarray(0, 1000))
    setImmediate(() => failing.destroy(new Error('connection reset')))
    await assert.rejects(t.ingest.writeLayer({ blob: failing }), /connection reset/)
    const stopped = new PassThrough()
    stopped.write(data.subarray(0, 1000))
    setImmediate(() => stopped.destroy())
    await assert.rejects(t.ingest.writeLayer({ blob: stopped }))
    assert.deepEqual(await t.contents(), { blobs: [], layers: [], temp: [] })
  })

  test('an abort stops the ingest and leaves nothing', async () => {
    const t = await setup()
    const data = gzipSync(await makeTar(files))
    const src = new PassThrough()
    src.write(data.subarray(0, 500))
    const ac = new AbortController()
    const p = t.ingest.writeLayer({ blob: src }, { signal: ac.signal })
    setImmediate(() => ac.abort(new Error('client went away')))
    await assert.rejects(p, /client went away/)
    assert.deepEqual(await t.contents(), { blobs: [], layers: [], temp: [] })
  })

  test('what already exists counts as written, and is still checked', async () => {
    const t = await setup()
    const data = gzipSync(await makeTar(files))
    const first = await t.ingest.writeLayer({ blob: streamOf(data) })
    const second = await t.ingest.writeLayer(
      { blob: streamOf(data), digest: first.blob },
      { diffID: first.diffID },
    )
    assert.deepEqual(second, first)
    await refuses(
      t.ingest.writeLayer({ blob: streamOf(gzipSync(Buffer.from('x'))), digest: first.blob }),
      /digest mismatch/,
    )
    const c = await t.contents()
    assert.deepEqual(c.blobs, [first.blob])
    assert.deepEqual(c.temp, [])
  })

  test('a tar made here is stored plain (blob = diffID) or gzipped, and unpacked', async () => {
    const t = await setup()
    const tar = await makeTar(files)
    const plain = await t.ingest.writeLayer({
      tar: streamOf(tar),
      mediaType: MEDIA.dockerLayer.none,
    })
    assert.deepEqual(plain, {
      diffID: sha256(tar),
      blob: sha256(tar),
      blobSize: tar.length,
      mediaType: MEDIA.dockerLayer.none,
      diffSize: tar.length,
      size: 70_006,
    })
    const gz = await t.ingest.writeLayer({ tar: streamOf(tar), compression: 'gzip' })
    assert.equal(gz.diffID, sha256(tar))
    assert.equal(gz.mediaType, MEDIA.layer.gzip)
    assert.equal(gz.diffSize, tar.length)
    const stored = await t.blobs.readAll(gz.blob)
    assert.equal(gz.blobSize, stored.length)
    assert.deepEqual(gunzipSync(stored), tar)
    await refuses(
      t.ingest.writeLayer({ tar: streamOf(gzipSync(tar)) }),
      /a layer tar must be uncompressed; this one is gzip/,
    )
    await refuses(
      t.ingest.writeLayer({ tar: streamOf(tar) }, { diffID: sha256('x') }),
      /invalid diffID/,
    )
    assert.deepEqual((await t.contents()).temp, [])
  })

  test('a stored blob is unpacked without being written again', async () => {
    const t = await setup()
    const tar = await makeTar(files)
    const z = zstd(tar)
    const { digest } = await t.blobs.put(z)
    const l = await t.ingest.writeLayer({ stored: digest }, { diffID: sha256(tar) })
    assert.deepEqual(l, {
      diffID: sha256(tar),
      blob: digest,
      blobSize: z.length,
      mediaType: MEDIA.layer.zstd,
      diffSize: tar.length,
      size: 70_006,
    })
    assert.deepEqual((await t.contents()).layers, [sha256(tar)])
    await assert.rejects(t.ingest.writeLayer({ stored: sha256('absent') }), NotFound)
    const other = await t.blobs.put(gzipSync(await makeTar([{ name: 'x', data: 'y' }])))
    await refuses(
      t.ingest.writeLayer({ stored: other.digest }, { diffID: sha256(tar) }),
      /invalid diffID/,
    )
    assert.deepEqual((await t.contents()).layers, [sha256(tar)])
  })

  test('a large layer streams through with bounded memory', async () => {
    const t = await setup()
    // 128 MiB of file content, produced as it is read: never in memory at once.
    const chunk = Buffer.alloc(1 << 20, 0x61)
    const total = 128
    async function* tarOf(): AsyncGenerator<Buffer> {
      const header = await makeTar([{ name: 'big', data: '' }])
      const h = Buffer.from(header.subarray(0, 512))
      const size = (chunk.length * total).toString(8).padStart(11, '0')
      h.write(`${size}\0`, 124, 'ascii')
      let sum = 0
      h.fill(0x20, 148, 156)
      for (const b of h) sum += b
      h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii')
      yield h
      // A fresh buffer each time: holding on to them would show as memory.
      for (let i = 0; i < total; i++) yield Buffer.alloc(chunk.length, 0x61)
      yield Buffer.alloc(1024)
    }
    const before = process.memoryUsage().rss
    let peak = before
    const l = await t.ingest.writeLayer(
      { tar: Readable.from(tarOf()) },
      { progress: () => (peak = Math.max(peak, process.memoryUsage().rss)) },
    )
    assert.equal(l.size, chunk.length * total)
    assert.equal(l.diffSize, 512 + chunk.length * total + 1024)
    // Far less than the layer: the pipeline holds a few buffers, not the tar.
    assert.ok(peak - before < 64 * 1024 * 1024, `rss grew by ${peak - before} bytes`)
  })
})

describe('adoptLayer: a layer whose files are on disk already', () => {
  test('the tar becomes the blob, named by its digest; the layer is adopted before the blob is committed', async () => {
    const { blobs, layers, ingest, contents } = await setup()
    const tar = await makeTar(files)
    const diffID = sha256(tar)
    const seen: { diffID: string; blobThere: boolean }[] = []
    const l = await ingest.adoptLayer({
      tar: streamOf(tar),
      adopt: async (d) => {
        seen.push({ diffID: d, blobThere: await blobs.has(d) })
        return layers.unpack(Readable.from([tar]), { uncompressed: true })
      },
    })
    assert.deepEqual(seen, [{ diffID, blobThere: false }])
    assert.equal(l.diffID, diffID)
    assert.equal(l.blob, diffID)
    assert.equal(l.blobSize, tar.length)
    assert.equal(l.diffSize, tar.length)
    assert.equal(l.mediaType, MEDIA.layer.none)
    assert.equal(l.size, (await layers.info(diffID)).size)
    assert.deepEqual((await contents()).blobs, [diffID])
  })

  test('a failed adoption or a wrong diffID leaves no blob', async () => {
    const { ingest, contents } = await setup()
    const tar = await makeTar(files)
    await assert.rejects(
      ingest.adoptLayer({
        tar: streamOf(tar),
        adopt: async () => {
          throw new Error('disk full')
        },
      }),
      /disk full/,
    )
    let adopted = false
    await refuses(
      ingest.adoptLayer(
        {
          tar: streamOf(tar),
          adopt: async () => {
            adopted = true
            throw new Error('not reached')
          },
        },
        { diffID: sha256(Buffer.from('other')) },
      ),
      /invalid diffID for layer/,
    )
    assert.equal(adopted, false)
    assert.deepEqual(await contents(), { blobs: [], layers: [], temp: [] })
  })
})
