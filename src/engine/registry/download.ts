// The layer downloads of a pull: each layer here already, unpacked from a blob here, or fetched
// through the download limiter (shared with concurrent pulls) and unpacked while it streams.
import type { Readable } from 'node:stream'
import type { BlobStore } from '../content/types.ts'
import type { Digest } from '../digest.ts'
import { Internal } from '../errors.ts'
import { faultPoint } from '../fault.ts'
// eslint-disable-next-line berth/boundaries -- the manifest code and image events seams-images made for pull and push to share (to move under image/types.ts or src/lib)
import { isNonDistributable, type Descriptor } from '../image/manifest.ts'
import type { IngestedLayer, LayerDescriptor, LayerIngest } from '../image/types.ts'
import type { Logger } from '../logger.ts'
import type { Limiter } from './limit.ts'
import { shortDigest, throttled } from './progress.ts'
import type { BlobSources } from './sources.ts'
import type { Repository, TransferProgressSink } from './types.ts'

/** What the layer downloads need of a pull (its PullDeps and job, in pull.ts). */
export interface LayerJob {
  deps: {
    blobs: BlobStore
    layers: { has(diffID: Digest): Promise<boolean> }
    ingest: LayerIngest
    sources: BlobSources
    downloads: Limiter
    inflight: Map<Digest, Promise<IngestedLayer>>
    logger?: Logger
    fetchUrl?: (url: string, signal?: AbortSignal) => Promise<Readable>
  }
  repo: Repository
  sink: TransferProgressSink
  opts: { signal?: AbortSignal }
}

/** Every layer of the manifest in the stores, in the manifest's order. */
export async function fetchLayers(
  job: LayerJob,
  descriptors: Descriptor[],
  diffIDs: Digest[],
): Promise<LayerDescriptor[]> {
  if (descriptors.length !== diffIDs.length) {
    throw new Internal("layers from manifest don't match image configuration")
  }
  const { deps, sink } = job
  // One task per distinct blob; a failure stops the others before it is reported.
  const stop = new AbortController()
  const signal = job.opts.signal ? AbortSignal.any([job.opts.signal, stop.signal]) : stop.signal
  const tasks = new Map<Digest, Promise<LayerDescriptor>>()
  const present = new Set<Digest>()
  for (const [i, d] of descriptors.entries()) {
    if (tasks.has(d.digest) || present.has(d.digest)) continue
    if ((await deps.blobs.has(d.digest)) && (await deps.layers.has(diffIDs[i]!))) {
      present.add(d.digest)
      sink({ status: 'Already exists', progressDetail: {}, id: shortDigest(d.digest) })
    } else {
      sink({ status: 'Pulling fs layer', progressDetail: {}, id: shortDigest(d.digest) })
    }
  }
  for (const [i, d] of descriptors.entries()) {
    if (tasks.has(d.digest) || present.has(d.digest)) continue
    const task = fetchLayer(job, d, diffIDs[i]!, signal)
    task.catch(() => stop.abort())
    tasks.set(d.digest, task)
  }
  const settled = await Promise.allSettled(tasks.values())
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed) {
    // The cause, not the aborts it set off in the other layers.
    const first = settled.find(
      (s): s is PromiseRejectedResult =>
        s.status === 'rejected' && !(stop.signal.aborted && s.reason === stop.signal.reason),
    )
    throw (first ?? failed).reason
  }
  const byBlob = new Map<Digest, LayerDescriptor>()
  for (const [blob, t] of tasks) byBlob.set(blob, await t)
  return descriptors.map((d, i) => {
    const got = byBlob.get(d.digest)
    const l: LayerDescriptor = got
      ? { ...got }
      : { diffID: diffIDs[i]!, blob: d.digest, mediaType: d.mediaType, blobSize: d.size }
    l.mediaType = d.mediaType
    if (d.urls && d.urls.length > 0) l.urls = [...d.urls]
    else delete l.urls
    return l
  })
}

/** One layer into the stores, sharing a fetch already under way for the same blob. */
async function fetchLayer(
  job: LayerJob,
  d: Descriptor,
  diffID: Digest,
  signal: AbortSignal,
): Promise<LayerDescriptor> {
  const { deps, sink } = job
  const id = shortDigest(d.digest)
  const running = deps.inflight.get(d.digest)
  if (running) {
    sink({ status: 'Waiting', progressDetail: {}, id })
    const l = await running
    sink({ status: 'Pull complete', progressDetail: {}, id })
    return l
  }
  const task = deps.downloads.run(() => ingestLayer(job, d, diffID, signal), {
    signal,
    onWait: () => sink({ status: 'Waiting', progressDetail: {}, id }),
  })
  deps.inflight.set(d.digest, task)
  try {
    const l = await task
    sink({ status: 'Pull complete', progressDetail: {}, id })
    faultPoint('pull.after-layer')
    return l
  } finally {
    if (deps.inflight.get(d.digest) === task) deps.inflight.delete(d.digest)
  }
}

async function ingestLayer(
  job: LayerJob,
  d: Descriptor,
  diffID: Digest,
  signal: AbortSignal,
): Promise<IngestedLayer> {
  const { deps, sink, repo } = job
  const id = shortDigest(d.digest)
  const extracting = throttled((current: number) =>
    sink({ status: 'Extracting', progressDetail: { current, total: d.size }, id }),
  )
  if (await deps.blobs.has(d.digest)) {
    // The blob survived (a pull cut short after it, an image loaded with it): unpack it again.
    const l = await deps.ingest.writeLayer(
      { stored: d.digest, mediaType: d.mediaType },
      { diffID, signal, progress: (n) => extracting(n, n >= d.size) },
    )
    return l
  }
  const downloading = throttled((current: number) =>
    sink({ status: 'Downloading', progressDetail: { current, total: d.size }, id }),
  )
  let stream: Readable
  let verified: boolean
  const foreign = isNonDistributable(d.mediaType) ? await openForeign(job, d, signal) : undefined
  if (foreign) {
    stream = foreign
    verified = false // plain HTTP from a URL: the ingest checks the digest itself
  } else {
    stream = await repo.fetchBlob(d.digest, {
      size: d.size,
      signal,
      // fetchBlob hashes the bytes and fails the stream on a mismatch: the one hash of the
      // blob; the ingest trusts it (commits only after the stream ended cleanly).
      onProgress: (n) => {
        downloading(n, n >= d.size)
        if (n >= d.size) sink({ status: 'Verifying Checksum', progressDetail: {}, id })
      },
    })
    verified = true
  }
  // The blob stream ends only once its digest and size matched.
  stream.once('end', () => sink({ status: 'Download complete', progressDetail: {}, id }))
  // The fetch's own failure (a digest mismatch, a registry gone) is the cause to report, not
  // the decompressor's or the unpacker's echo of it.
  let fetchError: unknown
  stream.once('error', (err) => (fetchError ??= err))
  let l: IngestedLayer
  try {
    l = await deps.ingest.writeLayer(
      {
        blob: stream,
        size: d.size,
        mediaType: d.mediaType,
        ...(verified ? { verified: d.digest } : { digest: d.digest }),
      },
      { diffID, signal },
    )
  } catch (err) {
    throw signal.aborted ? err : (fetchError ?? err)
  }
  if (l.blob !== d.digest) {
    throw new Internal(`filesystem layer verification failed for digest ${d.digest}`)
  }
  sink({ status: 'Extracting', progressDetail: { current: d.size, total: d.size }, id })
  deps.sources
    .seen(d.digest, { registry: repo.registry, repository: repo.path })
    .catch((err: unknown) =>
      deps.logger?.warn('pull: could not remember where a blob came from', {
        error: (err as Error).message,
      }),
    )
  return l
}

/**
 * A non-distributable layer from the URLs its descriptor names, tried in turn as Docker does;
 * undefined when none answers, so the registry is asked instead.
 */
async function openForeign(
  job: LayerJob,
  d: Descriptor,
  signal: AbortSignal,
): Promise<Readable | undefined> {
  const fetchUrl = job.deps.fetchUrl
  if (!fetchUrl) return undefined
  for (const url of d.urls ?? []) {
    if (!/^https?:\/\//i.test(url)) continue
    try {
      return await fetchUrl(url, signal)
    } catch (err) {
      if (signal.aborted) throw err
      job.deps.logger?.debug('pull: a foreign layer URL failed', {
        url,
        error: (err as Error).message,
      })
    }
  }
  return undefined
}
