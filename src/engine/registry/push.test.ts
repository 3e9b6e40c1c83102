// Push against Debian's reference registry on loopback: local layers gzipped on the way, stored
// compressed blobs sent as they are, "Layer already exists" and cross-repository mounts, the
// manifest in Docker's bytes, and a fresh store pulling back exactly what went up.
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import { after, before, describe, test } from 'node:test'
import { sha256 } from '../digest.ts'
import { isBerthError } from '../errors.ts'
import { MEDIA, parseManifest } from '../image/manifest.ts'
import type { Image } from '../image/types.ts'
import { startFaultProxy, type FaultProxy } from '../../../test/registry/faults.ts'
import { imageOf, makeLayer, tarOf, uploadImage } from '../../../test/registry/images.ts'
import { ACCEPT, readAll } from '../../../test/registry/seed.ts'
import { startRegistry, type RegistryServer } from '../../../test/registry/server.ts'
import { openStores, statusesOf, type TestStores } from '../../../test/registry/stores.ts'
import { DistributionClient } from './client.ts'
import { shortDigest } from './progress.ts'
import { encodeDockerManifest } from './push.ts'

const FAST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 }

/** An image made here as commit and build make them: uncompressed layers. */
async function localImage(s: TestStores, tag: string, files: Record<string, string>[]) {
  const layers = []
  for (const f of files) {
    layers.push(await s.images.ingest.writeLayer({ tar: Readable.from([await tarOf(f)]) }))
  }
  return s.images.create({
    config: {
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    },
    layers,
    tags: [tag],
  })
}

describe('push', () => {
  let reg: RegistryServer
  let proxy: FaultProxy
  let client: DistributionClient
  let s: TestStores
  let img: Image
  let name: string

  before(async () => {
    reg = await startRegistry()
    proxy = await startFaultProxy(reg.url)
    client = new DistributionClient({ retry: FAST })
    s = await openStores()
    name = `${proxy.name}/push/app`
    img = await localImage(s, `${name}:v1`, [
      { 'etc/base.txt': 'base layer\n'.repeat(1000) },
      { 'app/run.sh': '#!/bin/sh\necho hi\n' },
    ])
  })
  after(async () => {
    await s?.close()
    await client.close()
    await proxy.stop()
    await reg.stop()
  })

  test('uncompressed layers go up gzipped, with Docker progress and manifest', async () => {
    proxy.clear()
    const p = s.progress()
    const [r] = await s.registry.push(`${name}:v1`, { progress: p.sink })
    assert.equal(p.seen[0]?.status, `The push refers to repository [${name}]`)
    for (const l of img.layers) {
      const st = statusesOf(p.seen, shortDigest(l.diffID))
      assert.equal(st[0], 'Preparing')
      assert.ok(st.includes('Pushing'), st.join(', '))
      assert.equal(st.at(-1), 'Pushed')
    }
    const remote = client.repository({ domain: reg.name, path: 'push/app' }, { actions: ['pull'] })
    const m = await remote.getManifest('v1', ACCEPT)
    assert.equal(m.digest, r!.digest)
    assert.equal(m.mediaType, MEDIA.dockerManifest)
    const parsed = parseManifest(m.bytes, m.mediaType)
    assert.equal(parsed.kind, 'manifest')
    if (parsed.kind !== 'manifest') return
    // Docker's own encoding: three-space indents, mediaType/size/digest.
    assert.deepEqual(m.bytes, encodeDockerManifest(parsed.manifest))
    assert.match(m.bytes.toString(), /^\{\n {3}"schemaVersion": 2,\n {3}"mediaType"/)
    assert.equal(parsed.manifest.config.digest, img.id)
    for (const [i, d] of parsed.manifest.layers.entries()) {
      assert.equal(d.mediaType, MEDIA.dockerLayer.gzip)
      const bytes = await readAll(await remote.fetchBlob(d.digest, { size: d.size }))
      assert.equal(sha256(gunzipSync(bytes)), img.layers[i]!.diffID)
    }
    assert.deepEqual(p.seen.slice(-2), [
      { status: `v1: digest: ${r!.digest} size: ${m.bytes.length}` },
      { progressDetail: {}, aux: { Tag: 'v1', Digest: r!.digest, Size: m.bytes.length } },
    ])
    const after = await s.images.resolve(`${name}:v1`)
    assert.deepEqual(after.repoDigests, [`${name}@${r!.digest}`])
    assert.equal(s.events.at(-1)?.Action, 'push')
    // No compressed copy was kept here.
    for (const d of parsed.manifest.layers) assert.equal(await s.blobs.has(d.digest), false)
  })

  test('a second push finds every layer there and uploads nothing', async () => {
    proxy.clear()
    const p = s.progress()
    const [r] = await s.registry.push(`${name}:v1`, { progress: p.sink })
    for (const l of img.layers) {
      assert.deepEqual(statusesOf(p.seen, shortDigest(l.diffID)), [
        'Preparing',
        'Layer already exists',
      ])
    }
    assert.deepEqual(
      proxy.requests.filter((q) => q.method === 'PATCH' || q.method === 'PUT').map((q) => q.method),
      ['PUT'],
      'only the manifest',
    )
    assert.ok(r!.digest.startsWith('sha256:'))
  })

  test('another repository on the registry mounts the blobs instead of uploading them', async () => {
    await s.images.tag(`${name}:v1`, `${proxy.name}/push/other:v1`)
    proxy.clear()
    const p = s.progress()
    await s.registry.push(`${proxy.name}/push/other:v1`, { progress: p.sink })
    for (const l of img.layers) {
      assert.deepEqual(statusesOf(p.seen, shortDigest(l.diffID)), [
        'Preparing',
        'Mounted from push/app',
      ])
    }
    assert.equal(proxy.requests.filter((q) => q.method === 'PATCH').length, 0)
  })

  test('a fresh store pulls back the same image', async () => {
    const t = await openStores()
    try {
      const [r] = await t.registry.pull(`${name}:v1`)
      assert.equal(r!.image.id, img.id)
      assert.deepEqual(
        r!.image.layers.map((l) => l.diffID),
        img.layers.map((l) => l.diffID),
      )
      // And pushing a pulled image sends its compressed blobs as they are (by mount here).
      await t.images.tag(`${name}:v1`, `${proxy.name}/push/again:v1`)
      const p = t.progress()
      await t.registry.push(`${proxy.name}/push/again:v1`, { progress: p.sink })
      for (const l of r!.image.layers) {
        assert.deepEqual(statusesOf(p.seen, shortDigest(l.diffID)), [
          'Preparing',
          'Mounted from push/app',
        ])
      }
    } finally {
      await t.close()
    }
  })

  test('a pulled gzip layer is uploaded byte for byte; a zstd one makes an OCI manifest', async () => {
    const gz = await makeLayer({ 'gz.txt': 'gzip\n' }, 'gzip')
    const zs = await makeLayer({ 'zs.txt': 'zstd\n' }, 'zstd')
    const up = client.repository(
      { domain: reg.name, path: 'src/img' },
      { actions: ['pull', 'push'] },
    )
    await uploadImage(up, 'v1', imageOf([gz, zs]))
    const t = await openStores()
    try {
      await t.registry.pull(`${reg.name}/src/img:v1`)
      // A registry it was not pulled from: nothing to mount, every blob uploaded.
      const other = await startRegistry()
      try {
        await t.images.tag(`${reg.name}/src/img:v1`, `${other.name}/dst/img:v1`)
        const p = t.progress()
        const [r] = await t.registry.push(`${other.name}/dst/img:v1`, { progress: p.sink })
        const remote = client.repository(
          { domain: other.name, path: 'dst/img' },
          { actions: ['pull'] },
        )
        const m = await remote.getManifest(r!.digest, ACCEPT)
        assert.equal(m.mediaType, MEDIA.ociManifest)
        const parsed = parseManifest(m.bytes, m.mediaType)
        assert.ok(parsed.kind === 'manifest')
        if (parsed.kind !== 'manifest') return
        assert.deepEqual(
          parsed.manifest.layers.map((l) => [l.mediaType, l.digest]),
          [
            [MEDIA.layer.gzip, gz.blob.digest],
            [MEDIA.layer.zstd, zs.blob.digest],
          ],
        )
        assert.equal(parsed.manifest.config.mediaType, MEDIA.ociConfig)
      } finally {
        await other.stop()
      }
    } finally {
      await t.close()
    }
  })

  test('--all-tags pushes every local tag of the repository, in order', async () => {
    await s.images.tag(`${name}:v1`, `${name}:v2`)
    const p = s.progress()
    const pushed = await s.registry.push(name, { allTags: true, progress: p.sink })
    assert.deepEqual(
      pushed.map((x) => x.tag),
      ['v1', 'v2'],
    )
    assert.deepEqual(
      p.seen.filter((m) => m.aux).map((m) => m.aux!.Tag),
      ['v1', 'v2'],
    )
  })

  test('an image not here: Docker words after the first message', async () => {
    const p = s.progress()
    await assert.rejects(
      s.registry.push(`${proxy.name}/push/none:1`, { progress: p.sink }),
      (err: Error) => {
        assert.ok(isBerthError(err) && err.status === 404)
        assert.equal(
          err.message,
          `An image does not exist locally with the tag: ${proxy.name}/push/none`,
        )
        return true
      },
    )
    assert.deepEqual(p.seen, [
      { status: `The push refers to repository [${proxy.name}/push/none]` },
    ])
    await assert.rejects(
      s.registry.push(`${name}@${img.id}`),
      (err: Error) => isBerthError(err) && err.status === 400,
    )
  })

  test('an upload that fails with a 500 is started again', async () => {
    const fresh = await localImage(s, `${proxy.name}/push/retry:v1`, [{ 'x.txt': 'retry me\n' }])
    proxy.clear()
    proxy.add({
      method: 'PATCH',
      path: /\/blobs\/uploads\//,
      fault: { kind: 'status', status: 500 },
    })
    await s.registry.push(`${proxy.name}/push/retry:v1`)
    assert.equal(proxy.requests.filter((q) => q.method === 'PATCH').length, 2)
    assert.ok(fresh.id)
  })
})
