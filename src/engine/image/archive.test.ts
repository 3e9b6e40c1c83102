import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, beforeEach, describe, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { LocalBlobStore } from '../content/local.ts'
import { hex, sha256, type Digest } from '../digest.ts'
import { InvalidArgument, NotFound } from '../errors.ts'
import { LocalImageStore } from './local.ts'
import { FakeLayerStore, FakeUsage, makeTar, readTar, type TarEntry } from './testing.ts'
import type { ImageConfig, Progress } from './types.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'berth-archive-'))
  dirs.push(dir)
  const blobs = new LocalBlobStore(join(dir, 'content'))
  await blobs.init()
  const layers = new FakeLayerStore()
  const store = new LocalImageStore({
    dir: join(dir, 'images'),
    blobs,
    layers,
    usage: new FakeUsage(),
    platform: { os: 'linux', architecture: 'amd64' },
  })
  await store.init()
  return { dir, blobs, layers, store }
}

async function blobCount(blobs: LocalBlobStore): Promise<number> {
  let n = 0
  for await (const _ of blobs.list()) n++
  return n
}

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of r) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** A layer tar and an image config over it. */
async function imageParts(files: Record<string, string>, extra: Partial<ImageConfig> = {}) {
  const layer = await makeTar(Object.entries(files).map(([name, data]) => ({ name, data })))
  const diffID = sha256(layer)
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [diffID] },
      ...extra,
    }),
  )
  return { layer, diffID, config, id: sha256(config) }
}

/** A docker-archive as Docker 20.10 writes it, with manifest.json last (as Docker 25+ does). */
async function dockerArchive(tags: string[] | null, gzipLayer = false) {
  const p = await imageParts({ 'etc/hello': 'hello' })
  const layerDir = 'f'.repeat(64)
  const layerData = gzipLayer ? gzipSync(p.layer) : p.layer
  const entries: TarEntry[] = [
    { name: `${hex(p.id)}.json`, data: p.config },
    { name: `${layerDir}/`, type: 'directory' },
    { name: `${layerDir}/VERSION`, data: '1.0' },
    { name: `${layerDir}/json`, data: '{}' },
    { name: `${layerDir}/layer.tar`, data: layerData },
    { name: 'repositories', data: '{}' },
    {
      name: 'manifest.json',
      data: JSON.stringify([
        { Config: `${hex(p.id)}.json`, RepoTags: tags, Layers: [`${layerDir}/layer.tar`] },
      ]),
    },
  ]
  return { ...p, tar: await makeTar(entries), entries }
}

async function ociLayout(name?: string) {
  const p = await imageParts({ 'bin/x': 'x' }, { comment: 'oci' })
  const gz = gzipSync(p.layer)
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: p.id,
        size: p.config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: sha256(gz),
          size: gz.length,
        },
      ],
    }),
  )
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha256(manifest),
        size: manifest.length,
        annotations: name
          ? { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': 'v1' }
          : undefined,
      },
    ],
  }
  const tar = await makeTar([
    { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'index.json', data: JSON.stringify(index) },
    { name: `blobs/sha256/${hex(sha256(manifest))}`, data: manifest },
    { name: `blobs/sha256/${hex(p.id)}`, data: p.config },
    { name: `blobs/sha256/${hex(sha256(gz))}`, data: gz },
  ])
  return { ...p, tar, gz }
}

describe('load', () => {
  let t: Awaited<ReturnType<typeof setup>>
  beforeEach(async () => {
    t = await setup()
  })

  test('loads a docker-archive with manifest.json last', async () => {
    const a = await dockerArchive(['busybox:latest', 'example.com/a/b:1'], true)
    const msgs: Progress[] = []
    const r = await t.store.load(Readable.from([a.tar]), { progress: (p) => msgs.push(p) })
    assert.deepEqual(r.loaded, ['busybox:latest', 'example.com/a/b:1'])
    assert.deepEqual(msgs, [
      { stream: 'Loaded image: busybox:latest\n' },
      { stream: 'Loaded image: example.com/a/b:1\n' },
    ])
    const img = await t.store.resolve('busybox')
    assert.equal(img.id, a.id)
    assert.deepEqual(
      img.layers.map((l) => l.diffID),
      [a.diffID],
    )
    assert.equal(img.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip')
    assert.deepEqual(t.layers.unpacked, [a.diffID])
    // Only the config and the layer stay in the content store.
    assert.equal(await blobCount(t.blobs), 2)
  })

  test('an untagged image reports its ID; a moved tag is announced', async () => {
    const a = await dockerArchive(null)
    const msgs: Progress[] = []
    assert.deepEqual(
      (await t.store.load(Readable.from([a.tar]), { progress: (p) => msgs.push(p) })).loaded,
      [a.id],
    )
    assert.deepEqual(msgs, [{ stream: `Loaded image ID: ${a.id}\n` }])
    const o = await ociLayout('docker.io/library/busybox:latest')
    await t.store.load(Readable.from([o.tar]), {})
    const a2 = await dockerArchive(['busybox:latest'])
    const moved: Progress[] = []
    await t.store.load(Readable.from([a2.tar]), { progress: (p) => moved.push(p) })
    assert.deepEqual(moved, [
      {
        stream: `The image busybox:latest already exists, renaming the old one with ID ${o.id} to empty string\n`,
      },
      { stream: 'Loaded image: busybox:latest\n' },
    ])
  })

  test('loads an OCI layout, whole-archive gzip and zstd too', async () => {
    const o = await ociLayout('docker.io/library/ocitest:v1')
    for (const [i, data] of [o.tar, gzipSync(o.tar), zstd(o.tar)].entries()) {
      const t2 = i === 0 ? t : await setup()
      const r = await t2.store.load(Readable.from([data]), {})
      assert.deepEqual(r.loaded, ['ocitest:v1'])
      const img = await t2.store.resolve('ocitest:v1')
      assert.equal(img.id, o.id)
      assert.equal(img.layers[0].blob, sha256(o.gz))
      assert.equal(img.config.comment, 'oci')
      assert.equal(await blobCount(t2.blobs), 2) // the manifest blob is not kept
    }
  })

  const hostile: [string, () => Promise<Buffer>, RegExp][] = [
    [
      'path traversal',
      async () =>
        makeTar([
          { name: '../../etc/evil', data: 'x' },
          { name: 'manifest.json', data: '[]' },
        ]),
      /outside the archive root/,
    ],
    [
      'missing blob',
      async () => {
        const a = await dockerArchive(['x'])
        return makeTar(a.entries.filter((e) => !e.name.endsWith('layer.tar')))
      },
      /is not in the archive/,
    ],
    [
      'blob digest mismatch',
      async () =>
        makeTar([
          { name: `blobs/sha256/${'0'.repeat(64)}`, data: 'not that' },
          { name: 'index.json', data: '{}' },
        ]),
      /digest mismatch/,
    ],
    [
      'layer diffID mismatch',
      async () => {
        const a = await dockerArchive(['x'])
        return makeTar(
          a.entries.map((e) =>
            e.name.endsWith('layer.tar') ? { name: e.name, data: 'other' } : e,
          ),
        )
      },
      /mismatch/,
    ],
    [
      'truncated tar',
      async () => (await dockerArchive(['x'])).tar.subarray(0, 3000),
      /invalid archive/,
    ],
    [
      'non-JSON manifest',
      async () => {
        const a = await dockerArchive(['x'])
        return makeTar(
          a.entries.map((e) => (e.name === 'manifest.json' ? { name: e.name, data: '{nope' } : e)),
        )
      },
      /manifest.json is not valid JSON/,
    ],
    [
      'not a tar',
      async () => Buffer.from('hello world, not a tar at all'.repeat(40)),
      /invalid archive/,
    ],
    ['empty archive', async () => makeTar([]), /neither manifest.json nor index.json/],
    [
      'bad tag',
      async () => {
        const a = await dockerArchive(['Bad:tag'])
        return a.tar
      },
      /must be lowercase/,
    ],
  ]
  for (const [name, build, re] of hostile) {
    test(`refuses ${name}, recording nothing`, async () => {
      const data = await build()
      await assert.rejects(t.store.load(Readable.from([data]), {}), (err: Error) => {
        assert.ok(err instanceof InvalidArgument, `${err.name}: ${err.message}`)
        assert.match(err.message, re)
        return true
      })
      assert.deepEqual(await t.store.list(), [])
      assert.equal(await blobCount(t.blobs), 0)
      assert.equal(t.layers.layers.size, 0)
    })
  }
})

function zstd(data: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c'], { input: data })
  assert.equal(r.status, 0, 'zstd must be installed')
  return r.stdout
}

describe('save', () => {
  test('writes docker-archive and OCI metadata; loads back', async () => {
    const t = await setup()
    const a = await dockerArchive(['busybox:latest', 'busybox:1'], true)
    await t.store.load(Readable.from([a.tar]), {})
    const o = await ociLayout()
    await t.store.load(Readable.from([o.tar]), {})
    await assert.rejects(t.store.save(['nope'], {}), NotFound)
    const out = await collect(await t.store.save(['busybox', o.id], {}))
    const files = await readTar(out)
    const manifest = JSON.parse(files.get('manifest.json')!.data.toString()) as {
      Config: string
      RepoTags: string[] | null
      Layers: string[]
    }[]
    assert.deepEqual(manifest, [
      {
        Config: `blobs/sha256/${hex(a.id)}`,
        RepoTags: ['busybox:1', 'busybox:latest'],
        Layers: [`blobs/sha256/${hex(a.diffID)}`],
      },
      {
        Config: `blobs/sha256/${hex(o.id)}`,
        RepoTags: null,
        Layers: [`blobs/sha256/${hex(o.diffID)}`],
      },
    ])
    // Layers are written uncompressed: blob digest == diffID.
    assert.deepEqual(files.get(`blobs/sha256/${hex(o.diffID)}`)!.data, o.layer)
    assert.equal(sha256(files.get(`blobs/sha256/${hex(a.diffID)}`)!.data), a.diffID)
    assert.equal(files.get('oci-layout')!.data.toString(), '{"imageLayoutVersion":"1.0.0"}')
    const index = JSON.parse(files.get('index.json')!.data.toString()) as {
      manifests: { digest: Digest; annotations?: Record<string, string> }[]
    }
    assert.equal(index.manifests.length, 3)
    assert.deepEqual(index.manifests[0].annotations, {
      'io.containerd.image.name': 'docker.io/library/busybox:1',
      'org.opencontainers.image.ref.name': '1',
    })
    for (const m of index.manifests) {
      const blob = files.get(`blobs/sha256/${hex(m.digest)}`)!.data
      assert.equal(sha256(blob), m.digest)
    }
    assert.deepEqual(JSON.parse(files.get('repositories')!.data.toString()), {
      busybox: { '1': hex(a.diffID), latest: hex(a.diffID) },
    })

    // Both halves of the archive load on their own.
    const t2 = await setup()
    assert.deepEqual((await t2.store.load(Readable.from([out]), {})).loaded, [
      'busybox:1',
      'busybox:latest',
      o.id,
    ])
    const t3 = await setup()
    const ociOnly = await makeTar(
      [...files]
        .filter(([n]) => n !== 'manifest.json' && !n.endsWith('/'))
        .map(([name, f]) => ({ name, data: f.data })),
    )
    assert.deepEqual((await t3.store.load(Readable.from([ociOnly]), {})).loaded, [
      'busybox:1',
      'busybox:latest',
      o.id,
    ])
    assert.equal((await t3.store.resolve('busybox:1')).id, a.id)
  })
})

describe('importRootfs', () => {
  test('makes a one-layer image with Docker fields and changes', async () => {
    const t = await setup()
    const rootfs = await makeTar([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/sh', data: 'binary' },
    ])
    for (const data of [rootfs, gzipSync(rootfs), zstd(rootfs)]) {
      const img = await t.store.importRootfs(Readable.from([data]), {
        changes: ['CMD ["sh"]', 'ENV A=1', 'EXPOSE 80'],
        tag: 'imported:v1',
      })
      assert.deepEqual(img.repoTags, ['imported:v1'])
      assert.deepEqual(img.config.rootfs.diff_ids, [sha256(rootfs)])
      assert.equal(img.config.comment, 'Imported from -')
      assert.equal(img.config.architecture, 'amd64')
      assert.equal(img.config.os, 'linux')
      assert.deepEqual(img.config.history, [
        { created: img.config.created, comment: 'Imported from -' },
      ])
      assert.deepEqual(img.config.config, {
        Cmd: ['sh'],
        Env: ['A=1'],
        ExposedPorts: { '80/tcp': {} },
      })
      assert.equal(img.layers[0].blob, sha256(data))
    }
    const m = await t.store.importRootfs(Readable.from([rootfs]), {
      changes: [],
      message: 'msg',
      platform: 'linux/arm64',
    })
    assert.equal(m.config.comment, 'msg')
    assert.equal(m.config.architecture, 'arm64')
    assert.deepEqual(m.repoTags, [])
    await assert.rejects(t.store.importRootfs(Readable.from([rootfs]), { changes: ['FROM x'] }), {
      message: 'from is not a valid change command',
    })
    await assert.rejects(
      t.store.importRootfs(Readable.from([rootfs]), { changes: [], tag: 'Bad' }),
      InvalidArgument,
    )
  })
})
