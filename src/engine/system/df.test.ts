// system df's arithmetic: shared layers, layers counted once, containers per image, the kinds
// asked for, and the build cache as the builder reports it.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { CacheRecordInfo } from '../builder/types.ts'
import type { Container } from '../container/types.ts'
import type { Digest } from '../digest.ts'
import type { Image } from '../image/types.ts'
import type { Volume } from '../volume/types.ts'
import { DiskUsageReport } from './df.ts'

const d = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest

function image(id: string, layers: string[]): Image {
  return {
    id: d(id),
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
    layers: layers.map((l) => ({ diffID: d(l), blob: d(l), mediaType: 'x', blobSize: 1 })),
    repoTags: [],
    repoDigests: [],
    size: 0,
    addedAt: '2024-01-01T00:00:00Z',
  }
}

const SIZES: Record<string, number> = { [d('1')]: 100, [d('2')]: 20, [d('3')]: 3 }

function usage(opts: { cache?: CacheRecordInfo[] } = {}) {
  const containers = [
    { id: 'c1', image: d('a') },
    { id: 'c2', image: d('a') },
  ] as Container[]
  return new DiskUsageReport({
    images: { list: async () => [image('a', ['1', '2']), image('b', ['1', '3'])] },
    layerSize: async (x) => SIZES[x] ?? 0,
    containers: {
      list: async () => containers,
      sizes: async (id) => ({ rw: id === 'c1' ? 5 : 7, rootfs: 125 }),
    },
    volumes: { usage: async () => [{ Name: 'v' } as Volume] },
    ...(opts.cache ? { builder: { cacheUsage: async () => opts.cache! } } : {}),
  })
}

test('system df: shared layers, each layer once, containers per image', async () => {
  const u = await usage().diskUsage()
  assert.equal(u.layersSize, 123)
  assert.deepEqual(
    u.images!.map((i) => [i.image.id, i.containers, i.sharedSize]),
    [
      [d('a'), 2, 100],
      [d('b'), 0, 100],
    ],
  )
  assert.deepEqual(
    u.containers!.map((c) => [c.container.id, c.rw, c.rootfs]),
    [
      ['c1', 5, 125],
      ['c2', 7, 125],
    ],
  )
  assert.deepEqual(
    u.volumes!.map((v) => v.Name),
    ['v'],
  )
  assert.deepEqual(u.buildCache, [])
})

test('system df: only the kinds asked for; the build cache as the builder says', async () => {
  const record: CacheRecordInfo = {
    id: 'k',
    description: 'RUN x',
    size: 9,
    createdAt: '2024-01-01T00:00:00Z',
    lastUsedAt: '2024-01-01T00:00:00Z',
    usageCount: 2,
    inUse: false,
    shared: true,
    type: 'regular',
  }
  const u = await usage({ cache: [record] }).diskUsage(new Set(['build-cache']))
  assert.deepEqual(u, { buildCache: [record] })
})
