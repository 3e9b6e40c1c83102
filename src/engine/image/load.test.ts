// Load's choice in a multi-platform OCI layout, as containerd's platforms.Only makes it.
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { describe, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { hex, sha256 } from '../digest.ts'
import { InvalidArgument } from '../errors.ts'
import { makeTar } from '../layer/testkit.ts'
import { memoryImageStore } from './fake.ts'
import { descriptorOf, encodeManifest, MEDIA, type Descriptor, type Platform } from './manifest.ts'

interface Variant {
  platform?: Platform
  /** The platform the config itself names (defaults to `platform`). */
  config?: Platform
  annotations?: Record<string, string>
}

/** An OCI layout holding one index of images, one per variant; returns it and their IDs. */
async function layout(variants: Variant[]) {
  const blobs: { name: string; data: Buffer }[] = []
  const entries: Descriptor[] = []
  const ids: string[] = []
  for (const [i, v] of variants.entries()) {
    const layer = gzipSync(await makeTar([{ name: `f${i}`, data: `variant ${i}` }]))
    const diffID = sha256(await makeTar([{ name: `f${i}`, data: `variant ${i}` }]))
    const p = v.config ?? v.platform ?? { os: 'linux', architecture: 'amd64' }
    const config = Buffer.from(
      JSON.stringify({ ...p, rootfs: { type: 'layers', diff_ids: [diffID] } }),
    )
    const manifest = encodeManifest({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: descriptorOf(MEDIA.ociConfig, config),
      layers: [descriptorOf(MEDIA.layer.gzip, layer)],
    })
    for (const data of [layer, config, manifest]) {
      blobs.push({ name: `blobs/sha256/${hex(sha256(data))}`, data })
    }
    entries.push({
      ...descriptorOf(MEDIA.ociManifest, manifest),
      ...(v.platform ? { platform: v.platform } : {}),
      ...(v.annotations ? { annotations: v.annotations } : {}),
    })
    ids.push(sha256(config))
  }
  const index = encodeManifest({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: entries })
  blobs.push({ name: `blobs/sha256/${hex(sha256(index))}`, data: index })
  const top = encodeManifest({
    schemaVersion: 2,
    manifests: [
      {
        ...descriptorOf(MEDIA.ociIndex, index),
        annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1' },
      },
    ],
  })
  const tar = await makeTar([
    { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'index.json', data: top },
    ...blobs,
  ])
  return { tar, ids }
}

const linux = (architecture: string, variant?: string): Platform => ({
  os: 'linux',
  architecture,
  ...(variant ? { variant } : {}),
})

async function loadOn(host: Platform, variants: Variant[]) {
  const m = await memoryImageStore({ platform: host })
  const { tar, ids } = await layout(variants)
  const r = m.store.load(Readable.from([tar]), {})
  return { r, ids, m }
}

describe('load from a multi-platform layout', () => {
  test("takes the host's platform, not the first entry, and never an attestation", async () => {
    const { r, ids, m } = await loadOn(linux('amd64'), [
      {
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      },
      { platform: linux('arm64', 'v8') },
      { platform: linux('amd64') },
      { platform: linux('386') },
    ])
    assert.deepEqual((await r).loaded, ['multi:1'])
    assert.equal((await m.store.resolve('multi:1')).id, ids[2])
  })

  const fallbacks: [string, Platform, Variant[], number][] = [
    [
      'amd64 runs 386',
      linux('amd64'),
      [{ platform: linux('arm64') }, { platform: linux('386') }],
      1,
    ],
    [
      'arm64 prefers arm/v7 to arm/v6',
      linux('arm64'),
      [
        { platform: linux('arm', 'v6') },
        { platform: linux('arm', 'v7') },
        { platform: linux('amd64') },
      ],
      1,
    ],
    ['arm/v7 written without its variant', linux('arm', 'v7'), [{ platform: linux('arm') }], 0],
    [
      'an entry naming no platform, when its config is for the host',
      linux('amd64'),
      [{ config: linux('arm64') }, { config: linux('amd64') }],
      1,
    ],
  ]
  for (const [what, host, variants, want] of fallbacks) {
    test(what, async () => {
      const { r, ids, m } = await loadOn(host, variants)
      await r
      assert.equal((await m.store.resolve('multi:1')).id, ids[want])
    })
  }

  test('nothing for the host is refused in containerd words, recording nothing', async () => {
    const { r, m } = await loadOn(linux('amd64'), [
      { platform: linux('arm64') },
      { platform: linux('amd64', 'v3') },
      { config: linux('s390x') },
    ])
    await assert.rejects(r, (e: Error) => {
      assert.ok(e instanceof InvalidArgument)
      assert.match(
        e.message,
        /^no match for platform in manifest sha256:[a-f0-9]{64}: linux\/amd64: not found$/,
      )
      return true
    })
    assert.deepEqual(await m.store.list(), [])
    assert.deepEqual(await m.layers.list(), [])
  })
})
