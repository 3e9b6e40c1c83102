import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { goArch, goOS } from '../../lib/platform.ts'
import { sha256 } from '../digest.ts'
import { InvalidArgument } from '../errors.ts'
import {
  candidateManifests,
  descriptorOf,
  encodeManifest,
  formatPlatform,
  isNonDistributable,
  layerCompression,
  layerMediaType,
  MEDIA,
  normalizePlatform,
  parseManifest,
  parsePlatform,
  platformMatcher,
  strictPlatformMatcher,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from './manifest.ts'

const host = { os: goOS(), arch: goArch() }
const cfg = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}')
const layer = Buffer.from('layer bytes')

describe('parsePlatform (containerd specifiers)', () => {
  const ok: [string, Platform][] = [
    ['linux', { os: 'linux', architecture: host.arch }],
    ['amd64', { os: host.os, architecture: 'amd64' }],
    ['x86_64', { os: host.os, architecture: 'amd64' }],
    ['i386', { os: host.os, architecture: '386' }],
    ['armhf', { os: host.os, architecture: 'arm' }],
    ['armel', { os: host.os, architecture: 'arm', variant: 'v6' }],
    ['aarch64', { os: host.os, architecture: 'arm64' }],
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['Linux/X86_64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm', { os: 'linux', architecture: 'arm' }],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/arm/6', { os: 'linux', architecture: 'arm', variant: 'v6' }],
    ['linux/arm64', { os: 'linux', architecture: 'arm64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['linux/aarch64/v8.2', { os: 'linux', architecture: 'arm64', variant: 'v8.2' }],
    ['linux/amd64/v3', { os: 'linux', architecture: 'amd64', variant: 'v3' }],
    ['macos/arm64', { os: 'darwin', architecture: 'arm64' }],
    [
      'windows(10.0.17763)/amd64',
      { os: 'windows', 'os.version': '10.0.17763', architecture: 'amd64' },
    ],
  ]
  for (const [spec, want] of ok) {
    test(`parses ${spec}`, () => assert.deepEqual(parsePlatform(spec), want))
  }
  const refused: [string, RegExp][] = [
    ['*', /wildcards not yet supported: invalid argument$/],
    ['linux/amd64/v1/x', /cannot parse platform specifier: invalid argument$/],
    ['linux/am d64', /is an invalid component of "linux\/am d64"/],
    ['lin ux/amd64', /is an invalid OS component/],
    ['nosuchthing', /^"nosuchthing": unknown operating system or architecture: invalid argument$/],
    ['', /invalid OS component/],
  ]
  for (const [spec, re] of refused) {
    test(`refuses ${JSON.stringify(spec)}`, () => {
      assert.throws(
        () => parsePlatform(spec),
        (e: Error) => {
          assert.ok(e instanceof InvalidArgument)
          assert.match(e.message, re)
          return true
        },
      )
    })
  }
  test('formats as os/arch[/variant]', () => {
    assert.equal(
      formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' }),
      'linux/arm/v7',
    )
    assert.equal(formatPlatform({ os: 'linux', architecture: 'amd64' }), 'linux/amd64')
    assert.equal(formatPlatform({ os: '', architecture: 'amd64' }), 'unknown')
  })
  test('normalises index entries', () => {
    assert.deepEqual(normalizePlatform({ os: 'Linux', architecture: 'aarch64', variant: 'v8' }), {
      os: 'linux',
      architecture: 'arm64',
    })
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm' }), {
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
    })
  })
})

describe('platform matching (containerd platforms.Only)', () => {
  const p = (s: string): Platform => {
    const [os, architecture, variant] = s.split('/')
    return { os: os!, architecture: architecture!, ...(variant ? { variant } : {}) }
  }
  const table: [string, string[], string[]][] = [
    // wanted, matches best first, refused
    ['linux/amd64', ['linux/amd64', 'linux/386'], ['linux/arm64', 'windows/amd64']],
    [
      'linux/amd64/v3',
      ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386'],
      ['linux/amd64/v4'],
    ],
    [
      'linux/arm64',
      ['linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5'],
      ['linux/arm64/v8.1', 'linux/amd64'],
    ],
    [
      'linux/arm/v7',
      ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5'],
      ['linux/arm/v8', 'linux/arm64'],
    ],
    [
      'linux/arm64/v9',
      ['linux/arm64/v9', 'linux/arm64/v8.5', 'linux/arm64/v8', 'linux/arm/v8'],
      ['linux/arm64/v9.1'],
    ],
  ]
  for (const [wanted, matches, refused] of table) {
    test(`${wanted} takes ${matches.join(', ')} in that order`, () => {
      const m = platformMatcher(p(wanted))
      for (const s of matches) assert.ok(m.match(p(s)), s)
      for (const s of refused) assert.ok(!m.match(p(s)), s)
      const shuffled = [...matches].reverse().map(p)
      assert.deepEqual(shuffled.sort((a, b) => m.compare(a, b)).map(formatPlatform), matches)
    })
  }
  test('arm/v7 written without its variant matches arm/v7', () => {
    assert.ok(platformMatcher(p('linux/arm/v7')).match({ os: 'linux', architecture: 'arm' }))
  })
  test('the strict matcher takes only the platform itself', () => {
    const m = strictPlatformMatcher(p('linux/amd64'))
    assert.ok(m.match(p('linux/amd64')))
    assert.ok(m.match({ os: 'linux', architecture: 'x86_64' }))
    assert.ok(!m.match(p('linux/386')))
  })
  test('candidates: matching entries by preference, then unnamed ones; never attestations', () => {
    const entry = (
      digestOf: string,
      platform?: Platform,
      annotations?: Record<string, string>,
    ) => ({
      mediaType: MEDIA.ociManifest,
      digest: sha256(digestOf),
      size: 1,
      ...(platform ? { platform } : {}),
      ...(annotations ? { annotations } : {}),
    })
    const index: ImageIndex = {
      schemaVersion: 2,
      manifests: [
        entry('none'),
        entry('386', p('linux/386')),
        entry('arm', p('linux/arm64')),
        entry(
          'att',
          { os: 'unknown', architecture: 'unknown' },
          {
            'vnd.docker.reference.type': 'attestation-manifest',
          },
        ),
        entry('amd', p('linux/amd64')),
      ],
    }
    assert.deepEqual(
      candidateManifests(index, platformMatcher(p('linux/amd64'))).map((d) => d.digest),
      [sha256('amd'), sha256('386'), sha256('none')],
    )
  })
})

function ociManifest(): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: descriptorOf(MEDIA.ociConfig, cfg),
    layers: [descriptorOf(MEDIA.layer.gzip, layer)],
  }
}

describe('parseManifest', () => {
  test('reads an OCI manifest and writes back the same bytes', () => {
    const m = ociManifest()
    const bytes = encodeManifest(m)
    assert.equal(
      bytes.toString(),
      `{"schemaVersion":2,"mediaType":"${MEDIA.ociManifest}","config":{"mediaType":"${MEDIA.ociConfig}","digest":"${sha256(cfg)}","size":${cfg.length}},"layers":[{"mediaType":"${MEDIA.layer.gzip}","digest":"${sha256(layer)}","size":${layer.length}}]}`,
    )
    const parsed = parseManifest(bytes)
    assert.equal(parsed.kind, 'manifest')
    assert.deepEqual(parsed.kind === 'manifest' && parsed.manifest, m)
    assert.equal(parsed.mediaType, MEDIA.ociManifest)
    assert.deepEqual(encodeManifest(parsed.kind === 'manifest' ? parsed.manifest : m), bytes)
  })

  test('reads a Docker manifest list with platforms, and an OCI index with annotations', () => {
    const list = {
      schemaVersion: 2,
      mediaType: MEDIA.dockerList,
      manifests: [
        {
          mediaType: MEDIA.dockerManifest,
          size: 528,
          digest: sha256('a'),
          platform: {
            architecture: 'arm',
            os: 'linux',
            variant: 'v7',
            'os.features': ['x'],
            features: ['sse4'],
          },
        },
        {
          mediaType: MEDIA.dockerManifest,
          size: 528,
          digest: sha256('w'),
          platform: { architecture: 'amd64', os: 'windows', 'os.version': '10.0.17763.1' },
          urls: ['https://example.com/x'],
        },
      ],
    }
    const r = parseManifest(JSON.stringify(list), `${MEDIA.dockerList}; charset=utf-8`)
    assert.equal(r.kind, 'index')
    assert.deepEqual(r.kind === 'index' && r.index, list)
    const idx = {
      schemaVersion: 2,
      manifests: [
        {
          ...descriptorOf(MEDIA.ociManifest, cfg),
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      subject: descriptorOf(MEDIA.ociManifest, layer),
    }
    const o = parseManifest(JSON.stringify(idx))
    assert.equal(o.mediaType, MEDIA.ociIndex)
    assert.deepEqual(o.kind === 'index' && o.index, idx)
  })

  test('takes embedded data that matches its digest', () => {
    const m = ociManifest()
    m.config = { ...m.config, data: cfg.toString('base64') }
    const r = parseManifest(encodeManifest(m))
    assert.equal(r.kind === 'manifest' && r.manifest.config.data, cfg.toString('base64'))
  })

  const m = (over: Record<string, unknown>) => JSON.stringify({ ...ociManifest(), ...over })
  const bad: [string, string | Buffer, string | undefined, RegExp][] = [
    ['not JSON', '{nope', undefined, /invalid manifest: not valid JSON/],
    ['a list', '[]', undefined, /not a JSON object/],
    [
      'schema 1',
      '{"schemaVersion":1,"name":"x","fsLayers":[]}',
      undefined,
      /schema 1 has been removed/,
    ],
    ['schema 1 by type', m({}), MEDIA.dockerSchema1Signed, /schema 1 has been removed/],
    ['schemaVersion 3', m({ schemaVersion: 3 }), undefined, /unsupported schemaVersion 3/],
    [
      'a type other than served',
      m({}),
      MEDIA.dockerManifest,
      /mediaType in manifest should be 'application\/vnd.docker.distribution.manifest.v2\+json' not 'application\/vnd.oci.image.manifest.v1\+json'/,
    ],
    [
      'an unknown type',
      m({ mediaType: 'text/plain' }),
      undefined,
      /unsupported media type text\/plain/,
    ],
    [
      'both shapes',
      m({ mediaType: undefined, manifests: [] }),
      undefined,
      /both manifests and config/,
    ],
    ['no shape', '{"schemaVersion":2}', undefined, /neither an image manifest nor an index/],
    ['layers not a list', m({ layers: {} }), undefined, /layers must be a list/],
    [
      'a config without digest',
      m({ config: { mediaType: MEDIA.ociConfig, size: 1 } }),
      undefined,
      /config descriptor: digest undefined is not a digest/,
    ],
    [
      'a sha512 digest',
      m({ config: { mediaType: MEDIA.ociConfig, size: 1, digest: `sha512:${'a'.repeat(128)}` } }),
      undefined,
      /only sha256 is supported/,
    ],
    [
      'a negative size',
      m({ layers: [{ mediaType: MEDIA.layer.gzip, digest: sha256('x'), size: -1 }] }),
      undefined,
      /layer descriptor 0: size -1 is not a byte count/,
    ],
    [
      'a fractional size',
      m({ layers: [{ mediaType: MEDIA.layer.gzip, digest: sha256('x'), size: 1.5 }] }),
      undefined,
      /is not a byte count/,
    ],
    [
      'a bad media type',
      m({ layers: [{ mediaType: 'gzip', digest: sha256('x'), size: 1 }] }),
      undefined,
      /"gzip" is not a media type/,
    ],
    [
      'annotations of numbers',
      m({ annotations: { a: 1 } }),
      undefined,
      /annotations must map strings to strings/,
    ],
    [
      'urls not strings',
      m({ layers: [{ mediaType: MEDIA.layer.gzip, digest: sha256('x'), size: 1, urls: [1] }] }),
      undefined,
      /urls must be a list of strings/,
    ],
    [
      'data of another digest',
      m({ config: { ...descriptorOf(MEDIA.ociConfig, cfg), data: 'eA==' } }),
      undefined,
      /embedded data does not match/,
    ],
    [
      'a platform without os',
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          { ...descriptorOf(MEDIA.ociManifest, cfg), platform: { architecture: 'amd64' } },
        ],
      }),
      undefined,
      /platform: os is missing/,
    ],
    [
      'an index with layers',
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [], layers: [] }),
      undefined,
      /an index has no config or layers/,
    ],
    ['too large', Buffer.alloc(4 * 1024 * 1024 + 1, 32), undefined, /larger than/],
  ]
  for (const [name, bytes, type, re] of bad) {
    test(`refuses ${name}`, () => {
      assert.throws(
        () => parseManifest(bytes, type),
        (e: Error) => {
          assert.ok(e instanceof InvalidArgument, `${e.name}: ${e.message}`)
          assert.match(e.message, re)
          return true
        },
      )
    })
  }
})

describe('layer media types', () => {
  test('name their compression, and which may not be pushed', () => {
    assert.equal(layerCompression(MEDIA.layer.zstd), 'zstd')
    assert.equal(layerCompression(MEDIA.dockerLayer.gzip), 'gzip')
    assert.equal(layerCompression(MEDIA.dockerLayer.none), 'none')
    assert.equal(layerCompression(MEDIA.ociConfig), undefined)
    assert.equal(isNonDistributable(MEDIA.dockerLayer.foreign), true)
    assert.equal(isNonDistributable(MEDIA.ociForeignLayer.gzip), true)
    assert.equal(isNonDistributable(MEDIA.layer.gzip), false)
    assert.equal(layerMediaType('gzip'), MEDIA.layer.gzip)
    assert.equal(layerMediaType('none', 'docker'), MEDIA.dockerLayer.none)
    assert.equal(layerMediaType('gzip', 'docker'), MEDIA.dockerLayer.gzip)
  })
})
