// The client against a registry that misbehaves: the fault proxy in front of the reference
// registry spoils answers, and the client either recovers (retries, Range resume) or fails
// cleanly, never handing a caller bytes that end as if they were good.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { after, before, beforeEach, describe, test } from 'node:test'
import { Internal } from '../errors.ts'
import { startFaultProxy, type FaultProxy } from '../../../test/registry/faults.ts'
import {
  ACCEPT,
  blob,
  manifestFor,
  OCI_MANIFEST,
  opener,
  randomBlob,
  readAll,
  type Blob,
} from '../../../test/registry/seed.ts'
import { startRegistry, type RegistryServer } from '../../../test/registry/server.ts'
import { DistributionClient } from './client.ts'
import type { Repository } from './types.ts'

const ATTEMPTS = 3

describe('DistributionClient against faults', () => {
  let reg: RegistryServer
  let proxy: FaultProxy
  let client: DistributionClient
  let r: Repository
  let layer: Blob
  let config: Blob
  let manifest: Blob
  before(async () => {
    reg = await startRegistry()
    proxy = await startFaultProxy(reg.url)
    client = new DistributionClient({
      retry: { attempts: ATTEMPTS, baseDelayMs: 10, maxDelayMs: 40 },
    })
    r = client.repository({ domain: proxy.name, path: 'faults/img' }, { actions: ['pull', 'push'] })
    layer = randomBlob(1 << 20)
    config = blob('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
    await r.pushBlob(layer.digest, layer.size, opener(layer))
    await r.pushBlob(config.digest, config.size, opener(config))
    manifest = manifestFor(config, [layer])
    await r.putManifest('v1', OCI_MANIFEST, manifest.data)
  })
  beforeEach(() => proxy.clear())
  after(async () => {
    await client.close()
    await proxy.stop()
    await reg.stop()
  })

  const blobGets = () =>
    proxy.requests.filter((q) => q.method === 'GET' && q.path.includes('/blobs/'))

  /** Drains a blob stream, telling whether it ended cleanly. */
  let ended = false
  async function drain(size: number | null = layer.size) {
    let bytes = 0
    ended = false
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        bytes += c.length
        cb()
      },
      final(cb) {
        ended = true
        cb()
      },
    })
    await pipeline(await r.fetchBlob(layer.digest, size === null ? {} : { size }), sink)
    return bytes
  }

  test('a wrong byte fails the stream at its end, never ending it cleanly', async () => {
    proxy.add({ path: /\/blobs\//, fault: { kind: 'corrupt', at: 500_000 } })
    await assert.rejects(drain(), (err: Error) => {
      assert.ok(err instanceof Internal)
      assert.equal(err.message, `filesystem layer verification failed for digest ${layer.digest}`)
      return true
    })
    assert.equal(ended, false, 'the sink saw an end')
    assert.equal(blobGets().length, 1)
  })

  test('a blob cut short but ended cleanly fails on its size', async () => {
    proxy.add({ path: /\/blobs\//, fault: { kind: 'truncate', keep: 1000 } })
    await assert.rejects(r.fetchBlob(layer.digest, { size: layer.size }), (err: Error) => {
      assert.ok(err instanceof Internal)
      assert.equal(
        err.message,
        `blob ${layer.digest}: the registry sent 1000 bytes where the manifest promised ${layer.size}`,
      )
      return true
    })
    // Without a size to hold it to, the digest catches it.
    proxy.add({ path: /\/blobs\//, fault: { kind: 'truncate', keep: 1000 } })
    await assert.rejects(drain(null), /filesystem layer verification failed/)
  })

  test('a 500 is tried again, and the second answer is used', async () => {
    proxy.add({ path: /\/blobs\//, fault: { kind: 'status', status: 500 } })
    assert.equal(await drain(), layer.size)
    assert.deepEqual(
      blobGets().map((q) => q.fault ?? 'ok'),
      ['status', 'ok'],
    )
  })

  test('a registry that keeps failing fails after the last try', async () => {
    proxy.add({ path: /\/manifests\//, times: Infinity, fault: { kind: 'status', status: 503 } })
    await assert.rejects(r.getManifest('v1', ACCEPT), (err: Error) => {
      assert.equal(err.message, 'received unexpected HTTP status: 503 Service Unavailable')
      return true
    })
    assert.equal(proxy.requests.filter((q) => q.path.includes('/manifests/')).length, ATTEMPTS)
  })

  test('a connection dropped mid-layer is resumed with a Range request', async () => {
    proxy.add({ path: /\/blobs\//, fault: { kind: 'drop', after: 300_000 } })
    let last = 0
    const got = await readAll(
      await r.fetchBlob(layer.digest, { size: layer.size, onProgress: (n) => (last = n) }),
    )
    assert.deepEqual(got, layer.data)
    assert.equal(last, layer.size)
    const gets = blobGets()
    assert.equal(gets.length, 2)
    assert.equal(gets[0]!.headers.range, undefined)
    assert.match(gets[1]!.headers.range ?? '', /^bytes=[0-9]+-$/)
    const from = Number(/bytes=([0-9]+)-/.exec(gets[1]!.headers.range!)![1])
    assert.ok(from > 0 && from <= 300_000, `resumed from ${from}`)
  })

  test('a connection dropped at every try gives up', async () => {
    proxy.add({ path: /\/blobs\//, times: Infinity, fault: { kind: 'drop', after: 1000 } })
    await assert.rejects(drain(), (err: Error) => {
      assert.ok(err instanceof Internal)
      assert.match(
        err.message,
        /^Get "http:\/\/127\.0\.0\.1:[0-9]+\/v2\/faults\/img\/blobs\/sha256:[0-9a-f]{64}": unexpected EOF$/,
      )
      return true
    })
    assert.equal(ended, false)
    // The first GET and five resumes.
    assert.equal(blobGets().length, 6)
  })

  test('a resume the registry answers whole is cut to the missing part', async () => {
    proxy.add({ path: /\/blobs\//, fault: { kind: 'drop', after: 400_000 } })
    proxy.add({ path: /\/blobs\//, fault: { kind: 'ignore-range' } })
    const got = await readAll(await r.fetchBlob(layer.digest, { size: layer.size }))
    assert.deepEqual(got, layer.data)
    assert.deepEqual(
      blobGets().map((q) => q.fault),
      ['drop', 'ignore-range'],
    )
  })

  test('a manifest that lies about a layer’s size fails that layer before any byte', async () => {
    const lying = manifestFor(config, [{ ...layer, size: layer.size - 1 }])
    proxy.add({ path: /\/manifests\/v1$/, fault: { kind: 'rewrite', fn: () => lying.data } })
    const m = await r.getManifest('v1', ACCEPT)
    assert.equal(m.digest, lying.digest)
    const promised = (JSON.parse(m.bytes.toString()) as { layers: { size: number }[] }).layers[0]!
      .size
    await assert.rejects(r.fetchBlob(layer.digest, { size: promised }), (err: Error) => {
      assert.equal(
        err.message,
        `blob ${layer.digest}: the registry sent ${layer.size} bytes where the manifest promised ${promised}`,
      )
      return true
    })
  })

  test('an upload whose PUT fails with a 500 starts again and lands', async () => {
    const b = randomBlob(100_000)
    proxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'status', status: 500 } })
    let opened = 0
    const open = opener(b)
    assert.equal(
      await r.pushBlob(b.digest, b.size, async () => {
        opened++
        return open()
      }),
      'uploaded',
    )
    assert.equal(opened, 2)
    assert.deepEqual(
      proxy.requests
        .filter((q) => q.path.includes('/uploads/'))
        .map((q) => `${q.method} ${q.fault ?? 'ok'}`),
      ['POST ok', 'PUT status', 'POST ok', 'PUT ok'],
    )
    assert.equal(await r.statBlob(b.digest), b.size)
  })

  test('a manifest GET dropped before its answer is sent again', async () => {
    proxy.add({ path: /\/manifests\/v1$/, fault: { kind: 'drop', after: 0 } })
    const m = await r.getManifest('v1', ACCEPT)
    assert.equal(m.digest, manifest.digest)
  })
})
