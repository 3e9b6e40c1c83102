// Pull against Debian's reference registry on loopback (with the fault proxy in front where the
// test needs to see or spoil requests), into real content, layer and image stores.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { isBerthError } from '../errors.ts'
import { hostPlatform, MEDIA } from '../image/manifest.ts'
import { startFaultProxy, type FaultProxy } from '../../../test/registry/faults.ts'
import {
  imageOf,
  indexOf,
  makeLayer,
  randomLayer,
  uploadImage,
  type TestImage,
} from '../../../test/registry/images.ts'
import { opener } from '../../../test/registry/seed.ts'
import { startRegistry, type RegistryServer } from '../../../test/registry/server.ts'
import {
  hasLease,
  openStores,
  plainLines,
  statusesOf,
  type TestStores,
} from '../../../test/registry/stores.ts'
import { DistributionClient } from './client.ts'
import { shortDigest } from './progress.ts'
import type { Repository } from './types.ts'

const FAST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 }
const host = hostPlatform()

describe('pull', () => {
  let reg: RegistryServer
  let proxy: FaultProxy
  let seeder: DistributionClient
  let s: TestStores
  let mixed: TestImage
  let mixedDigest: string
  const repo = (path: string): Repository =>
    seeder.repository({ domain: reg.name, path }, { actions: ['pull', 'push'] })

  before(async () => {
    reg = await startRegistry({
      // Foreign layers' URLs must be allowed for the registry to take their manifests.
      extra: 'validation:\n  manifests:\n    urls:\n      allow:\n        - ^https?://\n',
    })
    proxy = await startFaultProxy(reg.url)
    seeder = new DistributionClient({ retry: FAST })
    mixed = imageOf([
      await makeLayer({ 'etc/os-release': 'ID=test\n', 'bin/tool': 'gzip layer\n' }, 'gzip'),
      await makeLayer({ 'usr/zstd.txt': 'a zstd layer\n' }, 'zstd'),
      await makeLayer({ 'usr/plain.txt': 'an uncompressed layer\n' }, 'none'),
    ])
    mixedDigest = await uploadImage(repo('formats/mixed'), 'v1', mixed)
  })
  after(async () => {
    await s?.close()
    await seeder.close()
    await proxy.stop()
    await reg.stop()
  })

  test('gzip, zstd and uncompressed layers, with Docker progress messages', async () => {
    s = await openStores()
    const p = s.progress()
    const [r] = await s.registry.pull(`${reg.name}/formats/mixed:v1`, { progress: p.sink })
    assert.equal(r!.ref, `${reg.name}/formats/mixed:v1`)
    assert.equal(r!.digest, mixedDigest)
    assert.equal(r!.updated, true)
    const img = await s.images.resolve(`${reg.name}/formats/mixed:v1`)
    assert.equal(img.id, mixed.config.digest)
    assert.deepEqual(
      img.layers.map((l) => l.diffID),
      mixed.layers.map((l) => l.diffID),
    )
    assert.deepEqual(
      img.layers.map((l) => l.blob),
      mixed.layers.map((l) => l.blob.digest),
    )
    assert.deepEqual(img.repoDigests, [`${reg.name}/formats/mixed@${mixedDigest}`])
    for (const l of mixed.layers) {
      assert.ok(await s.layers.has(l.diffID))
      // Stored byte for byte as the registry served it.
      assert.deepEqual(await s.blobs.readAll(l.blob.digest), l.blob.data)
      const id = shortDigest(l.blob.digest)
      const st = statusesOf(p.seen, id)
      assert.equal(st[0], 'Pulling fs layer')
      assert.ok(st.includes('Downloading'), `${id}: ${st.join(', ')}`)
      for (const want of ['Verifying Checksum', 'Download complete', 'Extracting']) {
        assert.ok(st.includes(want), `${id} lacks ${want}: ${st.join(', ')}`)
      }
      assert.equal(st.at(-1), 'Pull complete')
      const dl = p.seen.find((m) => m.id === id && m.status === 'Downloading')!
      assert.equal(dl.progressDetail?.total, l.blob.size)
    }
    assert.deepEqual(p.seen[0], { status: 'Pulling from formats/mixed', id: 'v1' })
    assert.deepEqual(
      p.seen.slice(-2).map((m) => m.status),
      [`Digest: ${mixedDigest}`, `Status: Downloaded newer image for ${reg.name}/formats/mixed:v1`],
    )
    assert.deepEqual(s.events.at(-1), {
      Type: 'image',
      Action: 'pull',
      Actor: {
        ID: `${reg.name}/formats/mixed:v1`,
        Attributes: { name: `${reg.name}/formats/mixed:v1` },
      },
    })
    // The lease went with the record.
    assert.equal(hasLease(s, mixed.layers[0]!.blob.digest), false)
  })

  test('a second pull is up to date and fetches no blob', async () => {
    const via = await openStores({ dir: s.dir })
    const p = via.progress()
    proxy.clear()
    const [r] = await via.registry.pull(`${proxy.name}/formats/mixed:v1`, { progress: p.sink })
    assert.equal(r!.updated, true, 'a new name for the image: its tag moved')
    proxy.clear()
    const p2 = via.progress()
    const [r2] = await via.registry.pull(`${proxy.name}/formats/mixed:v1`, { progress: p2.sink })
    assert.equal(r2!.updated, false)
    assert.deepEqual(plainLines(p2.seen), [
      'v1: Pulling from formats/mixed',
      `Digest: ${mixedDigest}`,
      `Status: Image is up to date for ${proxy.name}/formats/mixed:v1`,
    ])
    assert.deepEqual(
      proxy.requests.filter((q) => q.path.includes('/blobs/')),
      [],
      'no blob fetched',
    )
    await via.registry.close()
  })

  test('by digest: no tag, the digest recorded; the layers already here say so', async () => {
    const p = s.progress()
    const [r] = await s.registry.pull(`${reg.name}/formats/mixed@${mixedDigest}`, {
      progress: p.sink,
    })
    assert.equal(r!.ref, `${reg.name}/formats/mixed@${mixedDigest}`)
    assert.equal(r!.updated, false)
    assert.equal(p.seen[0]?.id, mixedDigest)
    // A second repository holding the same image: every layer "Already exists".
    await uploadImage(repo('formats/copy'), 'latest', mixed)
    const p2 = s.progress()
    await s.registry.pull(`${reg.name}/formats/copy`, { progress: p2.sink })
    for (const l of mixed.layers) {
      assert.deepEqual(statusesOf(p2.seen, shortDigest(l.blob.digest)), ['Already exists'])
    }
    const img = await s.images.resolve(`${reg.name}/formats/copy:latest`)
    assert.deepEqual(img.repoDigests.sort(), [
      `${reg.name}/formats/copy@${mixedDigest}`,
      `${reg.name}/formats/mixed@${mixedDigest}`,
    ])
  })

  test('an unknown tag and an unknown repository: Docker words, 404', async () => {
    await assert.rejects(s.registry.pull(`${reg.name}/formats/mixed:nope`), (err: Error) => {
      assert.ok(isBerthError(err) && err.status === 404)
      assert.equal(
        err.message,
        `manifest for ${reg.name}/formats/mixed:nope not found: manifest unknown: manifest unknown`,
      )
      return true
    })
    await assert.rejects(s.registry.pull(`${reg.name}/no/such`), (err: Error) => {
      assert.ok(isBerthError(err) && err.status === 404, err.message)
      assert.match(err.message, /^manifest for .*no\/such:latest not found: manifest unknown/)
      return true
    })
    await assert.rejects(s.registry.pull('UPPER/Case::x'), (err: Error) => {
      assert.ok(isBerthError(err) && err.status === 400)
      assert.match(err.message, /^invalid reference format: repository name .*must be lowercase$/)
      return true
    })
    await assert.rejects(s.registry.pull('127.0.0.1:1/x'), (err: Error) => {
      assert.ok(isBerthError(err) && err.status === 500)
      assert.equal(
        err.message,
        'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
      )
      return true
    })
  })

  test('an index: the host platform; another with --platform; none: Docker words', async () => {
    const other = host.architecture === 'arm64' ? 'amd64' : 'arm64'
    const mine = imageOf([await makeLayer({ 'which.txt': 'host\n' })], {
      platform: { architecture: host.architecture, os: 'linux' },
    })
    const theirs = imageOf([await makeLayer({ 'which.txt': 'other\n' })], {
      oci: true,
      platform: { architecture: other, os: 'linux' },
    })
    const r = repo('multi/app')
    await uploadImage(r, 'host', mine)
    await uploadImage(r, 'other', theirs)
    for (const oci of [false, true]) {
      const index = indexOf(
        [
          { image: theirs, platform: { architecture: other, os: 'linux' } },
          { image: mine, platform: { architecture: host.architecture, os: 'linux' } },
        ],
        oci,
      )
      const tag = oci ? 'oci' : 'docker'
      const digest = await r.putManifest(tag, oci ? MEDIA.ociIndex : MEDIA.dockerList, index.data)
      const [got] = await s.registry.pull(`${reg.name}/multi/app:${tag}`)
      assert.equal(got!.image.id, mine.config.digest)
      assert.equal(got!.digest, digest)
      assert.ok(got!.image.repoDigests.includes(`${reg.name}/multi/app@${digest}`))
    }
    const [arm] = await s.registry.pull(`${reg.name}/multi/app:oci`, {
      platform: `linux/${other}`,
    })
    assert.equal(arm!.image.id, theirs.config.digest)
    // An index whose only entry names no platform: the config's decides.
    const unnamed = indexOf([{ image: theirs }], true)
    await r.putManifest('unnamed', MEDIA.ociIndex, unnamed.data)
    await assert.rejects(s.registry.pull(`${reg.name}/multi/app:unnamed`), (err: Error) => {
      assert.equal(
        err.message,
        `no matching manifest for ${host.os}/${host.architecture}${host.variant ? '/' + host.variant : ''} in the manifest list entries`,
      )
      return true
    })
    await assert.rejects(
      s.registry.pull(`${reg.name}/multi/app:oci`, { platform: 'bogus/x/y/z' }),
      (err: Error) => isBerthError(err) && err.status === 400,
    )
  })

  test('layers beyond the download limit wait; a blob here but no layer is unpacked again', async () => {
    const layers = await Promise.all([1, 2, 3, 4, 5].map((i) => randomLayer(`f${i}`, 50_000)))
    const img = imageOf(layers)
    await uploadImage(repo('limit/five'), 'latest', img)
    const t = await openStores({ maxConcurrentDownloads: 2 })
    try {
      // Leave one layer's blob in the store without its layer, as a load of an archive may.
      await t.blobs.put(layers[4]!.blob.data, layers[4]!.blob.digest)
      const p = t.progress()
      await t.registry.pull(`${reg.name}/limit/five`, { progress: p.sink })
      const waited = layers
        .slice(0, 4)
        .filter((l) => statusesOf(p.seen, shortDigest(l.blob.digest)).includes('Waiting'))
      assert.ok(waited.length >= 1, 'with two places, some of five layers waited')
      const last = statusesOf(p.seen, shortDigest(layers[4]!.blob.digest))
      assert.ok(!last.includes('Downloading'), last.join(', '))
      assert.ok(last.includes('Extracting') && last.at(-1) === 'Pull complete', last.join(', '))
      for (const l of layers) assert.ok(await t.layers.has(l.diffID))
    } finally {
      await t.close()
    }
  })

  test('a non-distributable layer comes from its URL, and the image records the URL', async () => {
    const foreign = await makeLayer({ 'windows.txt': 'from elsewhere\n' }, 'gzip')
    foreign.mediaType = MEDIA.dockerLayer.foreign
    let served = 0
    const server: Server = createServer((req, res) => {
      served++
      res.writeHead(200, { 'content-length': foreign.blob.size })
      res.end(foreign.blob.data)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/layer.tar.gz`
    try {
      const base = await makeLayer({ 'base.txt': 'base\n' })
      const img = imageOf([base, foreign], {
        layerDescriptors: (l) => (l === foreign ? { urls: [url] } : {}),
      })
      await uploadImage(repo('foreign/img'), 'latest', img, (l) => l === foreign)
      const [r] = await s.registry.pull(`${reg.name}/foreign/img`)
      assert.equal(served, 1)
      assert.deepEqual(r!.image.layers[1]!.urls, [url])
      assert.equal(r!.image.layers[1]!.mediaType, MEDIA.dockerLayer.foreign)
      assert.ok(await s.layers.has(foreign.diffID))
    } finally {
      server.close()
    }
  })

  test('a corrupt layer fails the pull, stores neither it nor the image; the next pull reuses the rest', async () => {
    // Small good layers finish well before the big bad one reaches its last byte.
    const layers = [
      await randomLayer('good1', 20_000),
      await randomLayer('bad', 3_000_000),
      await randomLayer('good2', 20_000),
    ]
    const img = imageOf(layers)
    await uploadImage(repo('faults/corrupt'), 'latest', img)
    const t = await openStores()
    try {
      const bad = layers[1]!.blob.digest
      proxy.clear()
      proxy.add({
        path: new RegExp(`/blobs/${bad}`),
        fault: { kind: 'corrupt', at: layers[1]!.blob.size - 10 },
      })
      await assert.rejects(t.registry.pull(`${proxy.name}/faults/corrupt`), (err: Error) => {
        assert.equal(err.message, `filesystem layer verification failed for digest ${bad}`)
        return true
      })
      assert.equal(await t.blobs.has(bad), false)
      assert.equal(await t.layers.has(layers[1]!.diffID), false)
      await assert.rejects(t.images.resolve(`${proxy.name}/faults/corrupt`))
      // What did complete is kept under the lease, through a restart and its GC.
      const again = await t.reopen()
      const done = []
      for (const l of [layers[0]!, layers[2]!]) {
        if ((await again.blobs.has(l.blob.digest)) && (await again.layers.has(l.diffID)))
          done.push(l)
      }
      assert.equal(done.length, 2, 'both good layers survived the failure and the restart')
      proxy.clear()
      const p = again.progress()
      await again.registry.pull(`${proxy.name}/faults/corrupt`, { progress: p.sink })
      const fetched = proxy.requests.filter((q) => q.method === 'GET' && q.path.includes('/blobs/'))
      for (const l of done) {
        assert.deepEqual(statusesOf(p.seen, shortDigest(l.blob.digest)), ['Already exists'])
        assert.ok(!fetched.some((q) => q.path.includes(l.blob.digest)))
      }
      assert.ok(fetched.some((q) => q.path.includes(bad)))
      await again.registry.close()
    } finally {
      await t.close()
    }
  })

  test('a dropped connection resumes with a Range; a 500 is tried again', async () => {
    const layer = await randomLayer('big', 2_000_000)
    const img = imageOf([layer])
    await uploadImage(repo('faults/drop'), 'latest', img)
    const t = await openStores()
    try {
      proxy.clear()
      proxy.add({ method: 'GET', path: /\/blobs\//, fault: { kind: 'status', status: 500 } })
      proxy.add({
        method: 'GET',
        path: new RegExp(`/blobs/${layer.blob.digest}`),
        fault: { kind: 'drop', after: 700_000 },
      })
      await t.registry.pull(`${proxy.name}/faults/drop`)
      const gets = proxy.requests.filter(
        (q) => q.method === 'GET' && q.path.includes(layer.blob.digest),
      )
      assert.ok(
        gets.some((q) => q.headers.range === 'bytes=700000-'),
        JSON.stringify(gets.map((q) => q.headers.range)),
      )
      assert.ok(await t.layers.has(layer.diffID))
    } finally {
      await t.close()
    }
  })

  test('a manifest that lies about a layer size fails cleanly', async () => {
    const layer = await randomLayer('liar', 100_000)
    const img = imageOf([layer], { layerDescriptors: () => ({ size: 90_000 }) })
    const r = repo('faults/liar')
    await r.pushBlob(layer.blob.digest, layer.blob.size, opener(layer.blob))
    await r.pushBlob(img.config.digest, img.config.size, opener(img.config))
    // The registry checks sizes against its blobs, so the lie comes from the proxy.
    const honest = imageOf([layer])
    await r.putManifest('latest', honest.mediaType, honest.manifest.data)
    const t = await openStores()
    try {
      proxy.clear()
      proxy.add({
        method: 'GET',
        path: /\/manifests\//,
        times: Infinity,
        fault: { kind: 'rewrite', fn: () => img.manifest.data },
      })
      proxy.add({
        method: 'HEAD',
        path: /\/manifests\//,
        times: Infinity,
        fault: { kind: 'status', status: 404 },
      })
      await assert.rejects(t.registry.pull(`${proxy.name}/faults/liar`), (err: Error) => {
        assert.match(err.message, /90000/)
        return true
      })
      assert.equal(await t.blobs.has(layer.blob.digest), false)
      assert.equal(await t.layers.has(layer.diffID), false)
    } finally {
      proxy.clear()
      await t.close()
    }
  })

  test('--all-tags pulls each tag and says so once', async () => {
    const r = repo('tags/all')
    const a = imageOf([await makeLayer({ a: 'a' })])
    const b = imageOf([await makeLayer({ b: 'b' })])
    await uploadImage(r, 'one', a)
    await uploadImage(r, 'two', b)
    const p = s.progress()
    const got = await s.registry.pull(`${reg.name}/tags/all`, { allTags: true, progress: p.sink })
    assert.deepEqual(got.map((g) => g.ref).sort(), [
      `${reg.name}/tags/all:one`,
      `${reg.name}/tags/all:two`,
    ])
    assert.equal(p.seen.at(-1)?.status, `Status: Downloaded newer image for ${reg.name}/tags/all`)
    await assert.rejects(
      s.registry.pull(`${reg.name}/tags/all:one`, { allTags: true }),
      /tag can't be used with --all-tags\/-a/,
    )
  })

  test('two pulls of one image at once fetch each blob once', async () => {
    const layers = [await randomLayer('c1', 400_000), await randomLayer('c2', 400_000)]
    await uploadImage(repo('concurrent/img'), 'latest', imageOf(layers))
    const t = await openStores()
    try {
      proxy.clear()
      await Promise.all([
        t.registry.pull(`${proxy.name}/concurrent/img`),
        t.registry.pull(`${proxy.name}/concurrent/img`),
      ])
      for (const l of layers) {
        const gets = proxy.requests.filter(
          (q) => q.method === 'GET' && q.path.includes(l.blob.digest),
        )
        assert.equal(gets.length, 1, `${l.blob.digest} fetched ${gets.length} times`)
      }
    } finally {
      await t.close()
    }
  })
})
