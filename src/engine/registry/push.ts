// Push: NAME[:TAG] (or every local tag of NAME) to a registry, with Docker's progress messages.
//
//   "The push refers to repository [NAME]"; every error after it travels in the stream
//   per tag:  each layer "Preparing", then through the upload limiter ("Waiting"):
//     a foreign layer: "Skipped foreign layer" (its descriptor keeps its URLs)
//     the blob to send: the stored one when compressed, else the gzip a push made before
//       already there (HEAD) → "Layer already exists"
//       mountable from a repository it is known in (sources.ts) → "Mounted from REPO"
//       else uploaded: a compressed blob as stored; an uncompressed layer gzipped on the way
//       in one streamed PATCH (digest learnt as it goes, remembered for next time) →
//       "Pushing" with bytes, "Pushed"
//     the config blob, then the manifest (Docker's schema 2; OCI's when a layer is zstd) by
//     tag → "TAG: digest: D size: N" and the aux {Tag, Digest, Size}; NAME@D recorded here
//
// No compressed copy is kept: a layer berth holds uncompressed is compressed again for a
// registry that lacks it, so nothing a push makes needs protecting from the image GC.
import { PassThrough, Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import type { BlobStore } from '../content/types.ts'
import type { Digest } from '../digest.ts'
import { InvalidArgument, isBerthError, NotFound, Unauthorized } from '../errors.ts'
import type { EventSink } from '../events/types.ts'
// eslint-disable-next-line berth/boundaries -- the manifest code and image events seams-images made for pull and push to share (to move under image/types.ts or src/lib)
import { emitImageEvent } from '../image/events.ts'
import {
  encodeManifest,
  isNonDistributable,
  layerCompression,
  MEDIA,
  type Descriptor,
  type ImageManifest,
  // eslint-disable-next-line berth/boundaries -- the manifest code and image events seams-images made for pull and push to share (to move under image/types.ts or src/lib)
} from '../image/manifest.ts'
import type { Image, ImageCreator, ImageReader, LayerDescriptor } from '../image/types.ts'
import type { Logger } from '../logger.ts'
import {
  familiarName,
  parseNamed,
  parseReference,
  tagNameOnly,
  type Reference,
} from '../reference/reference.ts'
import { NoBasicAuthCredentials } from './errors.ts'
import type { Limiter } from './limit.ts'
import { shortDigest, throttled } from './progress.ts'
import type { BlobSources, CompressedBlob } from './sources.ts'
import type {
  PushedTag,
  PushOptions,
  RegistryClient,
  Repository,
  TransferProgressSink,
} from './types.ts'

/** Docker tries at most this many repositories to mount a blob from. */
const MAX_MOUNT_SOURCES = 3

export interface PushDeps {
  client: RegistryClient
  blobs: BlobStore
  images: ImageReader & ImageCreator
  sources: BlobSources
  uploads: Limiter
  events?: EventSink
  logger?: Logger
}

interface Job {
  deps: PushDeps
  repo: Repository
  sink: TransferProgressSink
  signal: AbortSignal | undefined
}

export async function push(
  deps: PushDeps,
  refString: string,
  opts: PushOptions = {},
): Promise<PushedTag[]> {
  const named = parseNamed(refString)
  if (named.digest !== undefined) throw new InvalidArgument('cannot push a digest reference')
  if (opts.allTags && named.tag !== undefined) {
    throw new InvalidArgument("tag can't be used with --all-tags/-a")
  }
  const sink: TransferProgressSink = opts.progress ?? (() => undefined)
  sink({ status: `The push refers to repository [${named.name}]` })
  const targets = await localTags(deps.images, named, opts.allTags === true)
  const repo = deps.client.repository(named, {
    ...(opts.auth ? { auth: opts.auth } : {}),
    actions: ['pull', 'push'],
  })
  const job: Job = { deps, repo, sink, signal: opts.signal }
  const out: PushedTag[] = []
  try {
    for (const { tag, image } of targets) out.push(await pushTag(job, named, tag, image))
  } catch (err) {
    // Docker's push reports missing credentials without the request they stopped.
    if (isBerthError(err) && err.cause instanceof NoBasicAuthCredentials) {
      throw new Unauthorized(err.cause.message, { cause: err })
    }
    throw err
  }
  const what = opts.allTags ? familiarName(named) : tagNameOnly(named).familiar
  emitImageEvent(deps.events, 'push', what, what)
  return out
}

/** The local images to push, by tag: one, or every tag of the repository (sorted, as Docker). */
async function localTags(
  images: ImageReader,
  named: Reference,
  all: boolean,
): Promise<{ tag: string; image: Image }[]> {
  const missing = () =>
    new NotFound(`An image does not exist locally with the tag: ${familiarName(named)}`)
  if (!all) {
    const ref = tagNameOnly(named)
    try {
      return [{ tag: ref.tag!, image: await images.resolve(ref.familiar) }]
    } catch (err) {
      if (isBerthError(err) && err.status === 404) throw missing()
      throw err
    }
  }
  const out: { tag: string; image: Image }[] = []
  for (const image of await images.list()) {
    for (const t of image.repoTags) {
      const r = parseReference(t)
      if (r.name === named.name) out.push({ tag: r.tag!, image })
    }
  }
  if (out.length === 0) throw missing()
  return out.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0))
}

async function pushTag(job: Job, named: Reference, tag: string, image: Image): Promise<PushedTag> {
  const { deps, repo, sink, signal } = job
  for (const l of image.layers)
    sink({ status: 'Preparing', progressDetail: {}, id: shortDigest(l.diffID) })
  const oci = image.layers.some((l) => layerCompression(l.mediaType) === 'zstd')
  // Layers go up at once (bounded by the limiter); the first failure stops the rest.
  const stop = new AbortController()
  const both = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal
  const tasks = image.layers.map((l) => {
    const t = deps.uploads.run(() => pushLayer({ ...job, signal: both }, l, oci), {
      signal: both,
      onWait: () => sink({ status: 'Waiting', progressDetail: {}, id: shortDigest(l.diffID) }),
    })
    t.catch(() => stop.abort())
    return t
  })
  const settled = await Promise.allSettled(tasks)
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed.length > 0) {
    const cause = failed.find((f) => !(stop.signal.aborted && f.reason === stop.signal.reason))
    throw (cause ?? failed[0]!).reason
  }
  const layers = settled.map((s) => (s as PromiseFulfilledResult<Descriptor>).value)

  const configBytes = await deps.blobs.readAll(image.id)
  if ((await repo.statBlob(image.id, signalOpt(signal))) === undefined) {
    await repo.pushBlob(image.id, configBytes.length, () => deps.blobs.open(image.id), {
      ...signalOpt(signal),
    })
  }
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: oci ? MEDIA.ociManifest : MEDIA.dockerManifest,
    config: {
      mediaType: oci ? MEDIA.ociConfig : MEDIA.dockerConfig,
      digest: image.id,
      size: configBytes.length,
    },
    layers,
  }
  const bytes = oci ? encodeManifest(manifest) : encodeDockerManifest(manifest)
  const digest = await repo.putManifest(tag, manifest.mediaType!, bytes, signalOpt(signal))
  sink({ status: `${tag}: digest: ${digest} size: ${bytes.length}` })
  sink({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: bytes.length } })
  // The image now has a digest on that repository, as `docker images --digests` shows.
  await deps.images.create({
    config: image.config,
    configDigest: image.id,
    layers: image.layers,
    repoDigests: [`${familiarName(named)}@${digest}`],
  })
  return { tag, digest, size: bytes.length }
}

function signalOpt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {}
}

/**
 * Docker's own bytes for a schema 2 manifest (Go's MarshalIndent with three spaces, fields in
 * distribution's order), so that an image pushed by berth and by Docker gets the same digest
 * when its blobs are the same.
 */
export function encodeDockerManifest(m: ImageManifest): Buffer {
  const desc = (d: Descriptor) => ({
    mediaType: d.mediaType,
    size: d.size,
    digest: d.digest,
    ...(d.urls && d.urls.length > 0 ? { urls: d.urls } : {}),
  })
  return Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: m.mediaType,
        config: desc(m.config),
        layers: m.layers.map(desc),
      },
      null,
      3,
    ),
  )
}

/** The media type a stored layer goes up as, in the manifest's family. */
function remoteMediaType(l: LayerDescriptor, oci: boolean): string {
  if (isNonDistributable(l.mediaType)) return l.mediaType
  const c = layerCompression(l.mediaType) ?? 'none'
  if (oci) return MEDIA.layer[c]
  return c === 'gzip'
    ? MEDIA.dockerLayer.gzip
    : c === 'zstd'
      ? MEDIA.layer.zstd
      : MEDIA.dockerLayer.none
}

/** Whether the stored blob is a compressed one to send as it is. */
function storedCompressed(l: LayerDescriptor): boolean {
  return l.blob !== l.diffID && (layerCompression(l.mediaType) ?? 'none') !== 'none'
}

async function pushLayer(job: Job, l: LayerDescriptor, oci: boolean): Promise<Descriptor> {
  const { deps, repo, sink, signal } = job
  const id = shortDigest(l.diffID)
  if (isNonDistributable(l.mediaType)) {
    sink({ status: 'Skipped foreign layer', progressDetail: {}, id })
    const d: Descriptor = { mediaType: l.mediaType, digest: l.blob, size: l.blobSize }
    if (l.urls) d.urls = [...l.urls]
    return d
  }
  let blob: CompressedBlob | undefined = storedCompressed(l)
    ? { digest: l.blob, size: l.blobSize, mediaType: remoteMediaType(l, oci) }
    : deps.sources.compressedOf(l.diffID)
  if (blob) {
    blob = { ...blob, mediaType: remoteMediaType({ ...l, mediaType: blob.mediaType }, oci) }
    const there = await repo.statBlob(blob.digest, signalOpt(signal))
    if (there !== undefined) {
      sink({ status: 'Layer already exists', progressDetail: {}, id })
      remember(job, blob.digest)
      return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size }
    }
    const from = deps.sources
      .repositoriesOf(blob.digest)
      .filter((r) => r.registry === repo.registry && r.repository !== repo.path)
      .slice(0, MAX_MOUNT_SOURCES)
      .map((r) => r.repository)
    if (from.length > 0) {
      const mounted = await repo.mountBlob(blob.digest, from, signalOpt(signal))
      if (mounted) {
        sink({ status: `Mounted from ${mounted}`, progressDetail: {}, id })
        remember(job, blob.digest)
        return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size }
      }
    }
  }
  let out: Descriptor
  if (storedCompressed(l)) {
    const pushing = throttled((current) =>
      sink({ status: 'Pushing', progressDetail: { current, total: l.blobSize }, id }),
    )
    await repo.pushBlob(l.blob, l.blobSize, () => deps.blobs.open(l.blob), {
      ...signalOpt(signal),
      onProgress: (n) => pushing(n, n >= l.blobSize),
    })
    out = { mediaType: remoteMediaType(l, oci), digest: l.blob, size: l.blobSize }
  } else {
    // Docker's bar counts the layer's uncompressed bytes as they are read.
    const total = l.diffSize ?? l.blobSize
    const pushing = throttled((current) =>
      sink({ status: 'Pushing', progressDetail: { current, total }, id }),
    )
    const open = async (): Promise<Readable> => {
      let read = 0
      const counter = new Transform({
        transform(chunk: Buffer, _e, cb) {
          read += chunk.length
          pushing(read, read >= total)
          cb(null, chunk)
        },
      })
      const out = new PassThrough()
      // Whatever ends first (the upload, a failure) tears the whole chain down.
      pipeline(await deps.blobs.open(l.blob), counter, createGzip(), out).catch(() => undefined)
      return out
    }
    const sent = await repo.pushStream(open, signalOpt(signal))
    const mediaType = oci ? MEDIA.layer.gzip : MEDIA.dockerLayer.gzip
    await deps.sources
      .compressed(l.diffID, { digest: sent.digest, size: sent.size, mediaType })
      .catch((err: unknown) => warn(job, err))
    out = { mediaType, digest: sent.digest, size: sent.size }
  }
  sink({ status: 'Pushed', progressDetail: {}, id })
  remember(job, out.digest)
  return out
}

function remember(job: Job, digest: Digest): void {
  job.deps.sources
    .seen(digest, { registry: job.repo.registry, repository: job.repo.path })
    .catch((err: unknown) => warn(job, err))
}

function warn(job: Job, err: unknown): void {
  job.deps.logger?.warn('push: could not remember where a blob is', {
    error: (err as Error).message,
  })
}
