// Whole images for registry tests: layers made with tar-stream in each compression, a config that
// names their diffIDs, and a manifest (Docker's schema 2 or OCI's) uploaded with the client, so a
// pull has something real to fetch.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import tar from 'tar-stream'
import { sha256, type Digest } from '../../src/engine/digest.ts'
import { MEDIA, type Descriptor } from '../../src/engine/image/manifest.ts'
import type { Repository } from '../../src/engine/registry/types.ts'
import { blob, opener, type Blob } from './seed.ts'

export type Compression = 'none' | 'gzip' | 'zstd'

export interface TestLayer {
  files: Record<string, string | Buffer>
  tar: Buffer
  diffID: Digest
  blob: Blob
  mediaType: string
  compression: Compression
}

export interface TestImage {
  layers: TestLayer[]
  config: Blob
  manifest: Blob
  mediaType: string
}

export async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const p = tar.pack()
  const chunks: Buffer[] = []
  const done = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) chunks.push(c)
  })()
  for (const [name, data] of Object.entries(files)) {
    await new Promise<void>((resolve, reject) =>
      p.entry(
        { name, mode: 0o644, uid: 0, gid: 0, mtime: new Date(1_600_000_000_000) },
        data,
        (err) => (err ? reject(err) : resolve()),
      ),
    )
  }
  p.finalize()
  await done
  return Buffer.concat(chunks)
}

function zstd(buf: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c'], { input: buf, maxBuffer: 1 << 30 })
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`)
  return r.stdout
}

/** A layer of the given files, compressed as asked, typed in Docker's family or OCI's. */
export async function makeLayer(
  files: Record<string, string | Buffer>,
  compression: Compression = 'gzip',
  family: 'docker' | 'oci' = 'docker',
): Promise<TestLayer> {
  const t = await tarOf(files)
  const data = compression === 'gzip' ? gzipSync(t) : compression === 'zstd' ? zstd(t) : t
  let mediaType: string
  if (family === 'oci' || compression === 'zstd') mediaType = MEDIA.layer[compression]
  else mediaType = compression === 'gzip' ? MEDIA.dockerLayer.gzip : MEDIA.dockerLayer.none
  return { files, tar: t, diffID: sha256(t), blob: blob(data), mediaType, compression }
}

/** A layer holding one file of random bytes (incompressible), for transfers that take a while. */
export function randomLayer(name: string, size: number, compression: Compression = 'gzip') {
  return makeLayer({ [name]: randomBytes(size) }, compression)
}

export function configFor(
  layers: { diffID: Digest }[],
  platform: { architecture: string; os: string; variant?: string } = {
    architecture: 'amd64',
    os: 'linux',
  },
  extra: Record<string, unknown> = {},
): Blob {
  return blob(
    JSON.stringify({
      ...platform,
      created: '2024-01-01T00:00:00Z',
      config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/bin:/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
      history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'test' })),
      ...extra,
    }),
  )
}

/** Builds the manifest for layers and a config (Docker's schema 2 unless `oci`). */
export function imageOf(
  layers: TestLayer[],
  opts: {
    oci?: boolean
    platform?: { architecture: string; os: string; variant?: string }
    layerDescriptors?: (l: TestLayer) => Partial<Descriptor>
  } = {},
): TestImage {
  const config = configFor(layers, opts.platform)
  const mediaType = opts.oci ? MEDIA.ociManifest : MEDIA.dockerManifest
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: {
        mediaType: opts.oci ? MEDIA.ociConfig : MEDIA.dockerConfig,
        digest: config.digest,
        size: config.size,
      },
      layers: layers.map((l) => ({
        mediaType: l.mediaType,
        digest: l.blob.digest,
        size: l.blob.size,
        ...opts.layerDescriptors?.(l),
      })),
    }),
  )
  return { layers, config, manifest, mediaType }
}

/** Uploads the blobs (unless `skip` says so) and puts the manifest under `tag`. */
export async function uploadImage(
  repo: Repository,
  tag: string,
  img: TestImage,
  skip: (l: TestLayer) => boolean = () => false,
): Promise<Digest> {
  for (const l of img.layers) {
    if (!skip(l)) await repo.pushBlob(l.blob.digest, l.blob.size, opener(l.blob))
  }
  await repo.pushBlob(img.config.digest, img.config.size, opener(img.config))
  return repo.putManifest(tag, img.mediaType, img.manifest.data)
}

/** An index over manifests already uploaded, each with its platform. */
export function indexOf(
  entries: {
    image: TestImage
    platform?: { architecture: string; os: string; variant?: string }
  }[],
  oci = false,
): Blob {
  return blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: oci ? MEDIA.ociIndex : MEDIA.dockerList,
      manifests: entries.map((e) => ({
        mediaType: e.image.mediaType,
        digest: e.image.manifest.digest,
        size: e.image.manifest.size,
        ...(e.platform ? { platform: e.platform } : {}),
      })),
    }),
  )
}
