// The distribution client against Debian's reference registry on loopback, over plain HTTP (a
// loopback registry is insecure, so HTTPS is tried first and HTTP next, as in Docker).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sha256 } from '../digest.ts'
import { Internal, NotFound } from '../errors.ts'
import { startFaultProxy, type FaultProxy } from '../../../test/registry/faults.ts'
import {
  ACCEPT,
  blob,
  manifestFor,
  OCI_MANIFEST,
  opener,
  randomBlob,
  readAll,
} from '../../../test/registry/seed.ts'
import { startRegistry, type RegistryServer } from '../../../test/registry/server.ts'
import { DistributionClient } from './client.ts'
import { registryResponseOf } from './errors.ts'

const FAST_RETRY = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 }

describe('DistributionClient over plain HTTP', () => {
  let reg: RegistryServer
  let proxy: FaultProxy
  let client: DistributionClient
  before(async () => {
    reg = await startRegistry()
    proxy = await startFaultProxy(reg.url)
    client = new DistributionClient({ retry: FAST_RETRY })
  })
  after(async () => {
    await client.close()
    await proxy.stop()
    await reg.stop()
  })

  const repo = (path: string, via: { name: string } = reg) =>
    client.repository({ domain: via.name, path }, { actions: ['pull', 'push'] })

  test('pushes a blob in one PUT, and the registry serves the same bytes', async () => {
    const b = randomBlob(200_000)
    const r = repo('plain/one')
    assert.equal(await r.statBlob(b.digest), undefined)
    let sent = 0
    assert.equal(
      await r.pushBlob(b.digest, b.size, opener(b), { onProgress: (n) => (sent = n) }),
      'uploaded',
    )
    assert.equal(sent, b.size)
    assert.equal(await r.statBlob(b.digest), b.size)
    // An oracle other than our own client: plain fetch against the registry.
    const res = await fetch(`${reg.url}/v2/plain/one/blobs/${b.digest}`)
    assert.equal(res.status, 200)
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), b.data)
  })

  test('pushes in PATCH chunks when asked, with Content-Range', async () => {
    const b = randomBlob(300_000)
    proxy.clear()
    const r = repo('plain/chunked', proxy)
    assert.equal(
      await r.pushBlob(b.digest, b.size, opener(b, 7000), { chunkSize: 64 << 10 }),
      'uploaded',
    )
    const patches = proxy.requests.filter((q) => q.method === 'PATCH')
    assert.deepEqual(
      patches.map((p) => p.headers['content-range']),
      ['0-65535', '65536-131071', '131072-196607', '196608-262143', '262144-299999'],
    )
    const res = await fetch(`${reg.url}/v2/plain/chunked/blobs/${b.digest}`)
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), b.data)
  })

  test('mounts a blob from another repository instead of uploading it', async () => {
    const b = randomBlob(50_000)
    await repo('plain/source').pushBlob(b.digest, b.size, opener(b))
    proxy.clear()
    const r = repo('plain/target', proxy)
    const how = await r.pushBlob(b.digest, b.size, opener(b), { mountFrom: ['plain/source'] })
    assert.equal(how, 'mounted')
    assert.deepEqual(
      proxy.requests.filter((q) => q.method !== 'GET' || q.path !== '/v2/').map((q) => q.method),
      ['POST'],
    )
    assert.match(proxy.requests.at(-1)!.path, /mount=sha256%3A[0-9a-f]{64}&from=plain%2Fsource/)
    assert.equal(await r.statBlob(b.digest), b.size)
  })

  test('a mount the registry cannot do becomes an upload in the session it opened', async () => {
    const b = randomBlob(10_000)
    proxy.clear()
    const r = repo('plain/target2', proxy)
    assert.equal(
      await r.pushBlob(b.digest, b.size, opener(b), { mountFrom: ['plain/nothing-here'] }),
      'uploaded',
    )
    const methods = proxy.requests.filter((q) => q.path !== '/v2/').map((q) => q.method)
    assert.deepEqual(methods, ['POST', 'PUT'])
    assert.equal(await r.statBlob(b.digest), b.size)
  })

  test('puts a manifest by tag and gets it by tag and by digest, verified', async () => {
    const config = blob(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    )
    const layer = randomBlob(1000)
    const r = repo('plain/image')
    await r.pushBlob(config.digest, config.size, opener(config))
    await r.pushBlob(layer.digest, layer.size, opener(layer))
    const m = manifestFor(config, [layer])
    assert.equal(await r.putManifest('v1', OCI_MANIFEST, m.data), m.digest)
    const byTag = await r.getManifest('v1', ACCEPT)
    assert.deepEqual(byTag, { mediaType: OCI_MANIFEST, digest: m.digest, bytes: m.data })
    const byDigest = await r.getManifest(m.digest, ACCEPT)
    assert.deepEqual(byDigest.bytes, m.data)
    assert.deepEqual(await r.headManifest('v1', ACCEPT), {
      mediaType: OCI_MANIFEST,
      digest: m.digest,
      size: m.size,
    })
    assert.equal(await r.headManifest('nope', ACCEPT), undefined)
    const got = await readAll(await r.fetchBlob(config.digest, { size: config.size }))
    assert.deepEqual(got, config.data)
  })

  test('lists every tag', async () => {
    const config = blob(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    )
    const r = repo('plain/tags')
    await r.pushBlob(config.digest, config.size, opener(config))
    const m = manifestFor(config, [])
    for (const t of ['b', 'a', 'c']) await r.putManifest(t, OCI_MANIFEST, m.data)
    assert.deepEqual((await r.listTags()).sort(), ['a', 'b', 'c'])
  })

  test('follows the registry’s tag pagination', async () => {
    const config = blob(
      '{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    )
    const r = repo('plain/paged', proxy)
    await r.pushBlob(config.digest, config.size, opener(config))
    for (const t of ['x1', 'x2', 'x3'])
      await r.putManifest(t, OCI_MANIFEST, manifestFor(config, []).data)
    proxy.clear()
    proxy.add({
      path: /\/tags\/list$/,
      fault: {
        kind: 'rewrite',
        fn: () => Buffer.from(JSON.stringify({ name: 'plain/paged', tags: ['x1'] })),
        headers: { link: '</v2/plain/paged/tags/list?last=x1&n=1>; rel="next"' },
      },
    })
    proxy.add({
      path: /\/tags\/list\?last=x1/,
      fault: {
        kind: 'rewrite',
        fn: () => Buffer.from(JSON.stringify({ name: 'plain/paged', tags: ['x2', 'x3'] })),
      },
    })
    assert.deepEqual(await r.listTags(), ['x1', 'x2', 'x3'])
    assert.deepEqual(
      proxy.requests.filter((q) => q.path.includes('tags')).map((q) => q.path),
      ['/v2/plain/paged/tags/list', '/v2/plain/paged/tags/list?last=x1&n=1'],
    )
  })

  test('an unknown tag, repository or blob is NotFound in the registry’s words', async () => {
    const r = repo('plain/image')
    await assert.rejects(r.getManifest('missing', ACCEPT), (err: Error) => {
      assert.ok(err instanceof NotFound)
      assert.equal(err.message, 'manifest unknown: manifest unknown')
      assert.ok(registryResponseOf(err)?.has('MANIFEST_UNKNOWN'))
      return true
    })
    await assert.rejects(r.fetchBlob(sha256('never pushed')), (err: Error) => {
      assert.ok(err instanceof NotFound)
      assert.equal(err.message, 'blob unknown: blob unknown to registry')
      return true
    })
    await assert.rejects(repo('plain/none').listTags(), (err: Error) => {
      assert.ok(err instanceof NotFound)
      assert.match(err.message, /^name unknown: repository name not known to registry/)
      return true
    })
  })

  test('a manifest fetched by digest must hash to it', async () => {
    const config = blob(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    )
    const r = repo('plain/verify', proxy)
    await r.pushBlob(config.digest, config.size, opener(config))
    const m = manifestFor(config, [])
    await r.putManifest('v1', OCI_MANIFEST, m.data)
    proxy.add({ path: /\/manifests\/sha256:/, fault: { kind: 'corrupt', at: 10 } })
    await assert.rejects(r.getManifest(m.digest, ACCEPT), (err: Error) => {
      assert.ok(err instanceof Internal)
      assert.equal(err.message, `manifest verification failed for digest ${m.digest}`)
      return true
    })
    // By tag, the digest the registry names must match the bytes too.
    proxy.add({ path: /\/manifests\/v1$/, fault: { kind: 'corrupt', at: 10 } })
    await assert.rejects(r.getManifest('v1', ACCEPT), /manifest verification failed/)
  })

  test('a registry that is not there fails with Go’s words, quickly', async () => {
    const gone = await startRegistry()
    await gone.stop()
    const r = client.repository({ domain: gone.name, path: 'x/y' }, { actions: ['pull'] })
    await assert.rejects(r.getManifest('latest', ACCEPT), (err: Error) => {
      assert.ok(err instanceof Internal)
      assert.equal(
        err.message,
        `Get "http://${gone.name}/v2/": dial tcp ${gone.name}: connect: connection refused`,
      )
      return true
    })
  })
})
