// The layer store's contract (src/engine/layer/types.ts), for every implementation: the real
// one on overlayfs directories and the in-memory fake the API tests use.
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { describe, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { sha256 } from '../../src/engine/digest.ts'
import { Conflict, InvalidArgument, NotFound } from '../../src/engine/errors.ts'
import { makeTar, streamOf, zstd, type TarEntry } from '../../src/engine/layer/testkit.ts'
import type { LayerStore } from '../../src/engine/layer/types.ts'

export interface LayerStoreFixture {
  store: LayerStore
  cleanup?(): Promise<void>
}

const files: TarEntry[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/hello', data: 'hello\n' },
  { name: 'etc/link', type: 'symlink', linkname: 'hello' },
  { name: 'etc/hard', type: 'link', linkname: 'etc/hello' },
  { name: 'bin/tool', data: 'x'.repeat(5000), mode: 0o755 },
]

const invalid = (re: RegExp) => (e: Error) => {
  assert.ok(e instanceof InvalidArgument, `${e.name}: ${e.message}`)
  assert.match(e.message, re)
  return true
}

export function layerStoreSuite(name: string, make: () => Promise<LayerStoreFixture>): void {
  describe(`LayerStore conformance: ${name}`, () => {
    const withStore = (title: string, fn: (s: LayerStore) => Promise<void>) =>
      test(title, async () => {
        const f = await make()
        try {
          await fn(f.store)
        } finally {
          await f.cleanup?.()
        }
      })

    withStore('plain, gzip and zstd layers unpack to one diffID and file size', async (s) => {
      const tar = await makeTar(files)
      const want = { diffID: sha256(tar), size: 6 + 5000 }
      for (const blob of [tar, gzipSync(tar), zstd(tar)]) {
        assert.deepEqual(await s.unpack(streamOf(blob), { expectedDiffID: want.diffID }), want)
      }
      // A plain tar marked so is taken as it is.
      assert.deepEqual(await s.unpack(streamOf(tar), { uncompressed: true }), want)
      assert.deepEqual(await s.list(), [want])
      assert.deepEqual(await s.info(want.diffID), want)
      assert.equal(await s.has(want.diffID), true)
    })

    withStore('an existing layer is read again and checked', async (s) => {
      const tar = await makeTar(files)
      const info = await s.unpack(streamOf(tar))
      const other = await makeTar([{ name: 'x', data: 'y' }])
      await assert.rejects(
        s.unpack(streamOf(other), { expectedDiffID: info.diffID }),
        invalid(/diffID/),
      )
      assert.deepEqual(await s.unpack(streamOf(tar), { expectedDiffID: info.diffID }), info)
      assert.deepEqual(await s.list(), [info])
    })

    withStore('concurrent unpacks of one layer keep one', async (s) => {
      const tar = await makeTar(files)
      const infos = await Promise.all([1, 2, 3].map(() => s.unpack(streamOf(tar))))
      for (const i of infos) assert.deepEqual(i, infos[0])
      assert.equal((await s.list()).length, 1)
    })

    const refused: [string, () => Promise<Buffer>, object, RegExp][] = [
      ['another diffID', () => makeTar(files), { expectedDiffID: sha256('x') }, /diffID/],
      ['a name escaping the root', () => makeTar([{ name: '../evil', data: 'x' }]), {}, /escapes/],
      [
        'a path through a symlink',
        () =>
          makeTar([
            { name: 'l', type: 'symlink', linkname: '/etc' },
            { name: 'l/passwd', data: 'x' },
          ]),
        {},
        /symlink/,
      ],
      [
        'a hardlink to nothing',
        () => makeTar([{ name: 'h', type: 'link', linkname: 'nothing' }]),
        {},
        /not in the layer/,
      ],
      [
        'a device when devices are not allowed',
        () => makeTar([{ name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 }]),
        { allowDevices: false },
        /device/,
      ],
      [
        'a truncated tar',
        async () => (await makeTar(files)).subarray(0, 1500),
        {},
        /invalid layer/,
      ],
      ['bytes that are no tar', async () => Buffer.alloc(600, 7), {}, /invalid layer/],
      [
        'a broken gzip',
        async () => gzipSync(await makeTar(files)).subarray(0, 100),
        {},
        /invalid layer/,
      ],
    ]
    for (const [what, build, opts, re] of refused) {
      withStore(`refuses ${what}, keeping nothing`, async (s) => {
        await assert.rejects(s.unpack(streamOf(await build()), opts), invalid(re))
        assert.deepEqual(await s.list(), [])
      })
    }

    withStore('an abort stops an unpack and keeps nothing', async (s) => {
      const tar = await makeTar(files)
      const ac = new AbortController()
      async function* slow() {
        yield tar.subarray(0, 1024)
        ac.abort(new Error('stop'))
        await new Promise((r) => setTimeout(r, 10))
        yield tar.subarray(1024)
      }
      await assert.rejects(s.unpack(Readable.from(slow()), { signal: ac.signal }), /stop/)
      assert.deepEqual(await s.list(), [])
    })

    withStore('absent layers are NotFound', async (s) => {
      const d = sha256('absent')
      assert.equal(await s.has(d), false)
      await assert.rejects(s.info(d), NotFound)
      await assert.rejects(s.delete(d), NotFound)
      await assert.rejects(s.createRW('c1', [d]), NotFound)
    })

    withStore('read-write layers: made over parents, described, listed, removed', async (s) => {
      const a = await s.unpack(streamOf(await makeTar([{ name: 'a', data: 'a' }])))
      const b = await s.unpack(streamOf(await makeTar([{ name: 'b', data: 'b' }])))
      await s.createRW('c1', [a.diffID, b.diffID])
      await s.createRW('c2', [])
      await assert.rejects(s.createRW('c1', []), Conflict)
      await assert.rejects(s.createRW('../x', []), InvalidArgument)
      assert.deepEqual((await s.listRW()).sort(), ['c1', 'c2'])
      const m = await s.rootfsMount('c1', '/target')
      assert.equal(m.type, 'overlay')
      assert.equal(m.destination, '/target')
      const opt = (k: string) => m.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1)
      // Two parents, topmost first, as overlayfs wants them.
      assert.equal(opt('lowerdir')?.split(':').length, 2)
      assert.ok(opt('upperdir'))
      assert.ok(opt('workdir'))
      assert.equal((await s.rootfsMount('c2', '/t')).options[0]?.split(':').length, 1)
      await assert.rejects(s.rootfsMount('nope', '/t'), NotFound)
      assert.equal(await s.rwSize('c1'), 0)
      // A layer under a container is kept.
      await assert.rejects(s.delete(a.diffID), Conflict)
      await s.removeRW('c1')
      await s.removeRW('c1')
      assert.deepEqual(await s.listRW(), ['c2'])
      await s.delete(a.diffID)
      assert.deepEqual(await s.list(), [b])
    })
  })
}
