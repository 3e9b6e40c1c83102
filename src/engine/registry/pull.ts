// Pull: NAME[:TAG|@DIGEST] (or every tag) from a registry into the stores, with Docker's progress
// messages and words.
//
//   resolve   HEAD the tag (GET on a failure, for the registry's own words) → manifest digest D
//             up to date when an image here came by NAME@D and NAME:TAG points at it
//   manifest  GET by D (verified) → "Pulling from PATH"; an index → the platform's manifest
//   config    from the content store, or fetched (verified); its diff_ids name the layers
//   lease     the config, every layer blob and diffID held against GC and rmi (leases.ts)
//   layers    each: here ("Already exists"), its blob here (unpacked again), or fetched through
//             the download limiter ("Waiting") and unpacked while it streams (the one ingest
//             path): "Downloading" with bytes, "Verifying Checksum", "Download complete",
//             "Extracting", "Pull complete". A blob another pull is already fetching is awaited.
//   record    the image, its tag and NAME@D, in one write; the lease goes; "Digest: D"
//
// Nothing is visible until the record is written, so a pull cut short at any point leaves no
// half image; what it completed stays under its lease for the next pull to reuse.
import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'
import { Internal, InvalidArgument, isBerthError, NotFound, type BerthError } from '../errors.ts'
import type { EventSink } from '../events/types.ts'
import { faultPoint } from '../fault.ts'
// eslint-disable-next-line berth/boundaries -- the manifest code and image events seams-images made for pull and push to share (to move under image/types.ts or src/lib)
import { emitImageEvent } from '../image/events.ts'
import {
  candidateManifests,
  configPlatform,
  formatPlatform,
  isConfigMediaType,
  isLayerMediaType,
  isNonDistributable,
  MANIFEST_ACCEPT,
  parseManifest,
  parsePlatform,
  platformMatcher,
  type Descriptor,
  type ImageManifest,
  type Platform,
  type PlatformMatcher,
  // eslint-disable-next-line berth/boundaries -- the manifest code and image events seams-images made for pull and push to share (to move under image/types.ts or src/lib)
} from '../image/manifest.ts'
import type {
  Image,
  ImageConfig,
  ImageCreator,
  ImageReader,
  IngestedLayer,
  LayerDescriptor,
  LayerIngest,
} from '../image/types.ts'
import type { BlobStore } from '../content/types.ts'
import type { Logger } from '../logger.ts'
import {
  familiarName,
  parseNamed,
  tagNameOnly,
  withTag,
  type Reference,
} from '../reference/reference.ts'
import { registryResponseOf } from './errors.ts'
import { readLimited } from './http.ts'
import type { PullLeases } from './leases.ts'
import type { Limiter } from './limit.ts'
import { shortDigest, throttled } from './progress.ts'
import type { BlobSources } from './sources.ts'
import type {
  FetchedManifest,
  PulledImage,
  PullOptions,
  RegistryClient,
  Repository,
  TransferProgressSink,
} from './types.ts'

/** A config larger than this is refused (Docker reads at most 8 MiB of one). */
const MAX_CONFIG_BYTES = 8 << 20

export interface PullDeps {
  client: RegistryClient
  blobs: BlobStore
  layers: { has(diffID: Digest): Promise<boolean> }
  ingest: LayerIngest
  images: ImageReader & ImageCreator
  leases: PullLeases
  sources: BlobSources
  /** The platform chosen in an index when the pull names none. */
  platform: Platform
  downloads: Limiter
  /** Layers being fetched now, by blob digest, shared by concurrent pulls. */
  inflight: Map<Digest, Promise<IngestedLayer>>
  events?: EventSink
  logger?: Logger
  /** Fetches a non-distributable layer from one of its URLs. */
  fetchUrl?: (url: string, signal?: AbortSignal) => Promise<Readable>
}

/** Pulls a reference (or each of its repository's tags) and says what happened, as Docker does. */
export async function pull(
  deps: PullDeps,
  refString: string,
  opts: PullOptions = {},
): Promise<PulledImage[]> {
  const named = parseNamed(refString)
  if (opts.allTags && (named.tag !== undefined || named.digest !== undefined)) {
    throw new InvalidArgument("tag can't be used with --all-tags/-a")
  }
  const matcher = platformMatcher(opts.platform ? parsePlatform(opts.platform) : deps.platform)
  const explicitPlatform = opts.platform !== undefined && opts.platform !== ''
  const sink: TransferProgressSink = opts.progress ?? (() => undefined)
  const repo = deps.client.repository(named, {
    ...(opts.auth ? { auth: opts.auth } : {}),
    actions: ['pull'],
  })
  const job: Job = { deps, repo, sink, matcher, explicitPlatform, opts }

  if (opts.allTags) {
    let tags: string[]
    try {
      tags = await repo.listTags(signalOf(opts))
    } catch (err) {
      throw translatePullError(err, named)
    }
    const out: PulledImage[] = []
    for (const tag of tags) out.push(await pullOne(job, withTag(named, tag)))
    const name = familiarName(named)
    const updated = out.some((r) => r.updated)
    sink({
      status: `Status: ${updated ? 'Downloaded newer image for' : 'Image is up to date for'} ${name}`,
    })
    emitImageEvent(deps.events, 'pull', name, name)
    return out
  }
  const ref = tagNameOnly(named)
  const r = await pullOne(job, ref)
  sink({
    status: `Status: ${r.updated ? 'Downloaded newer image for' : 'Image is up to date for'} ${ref.familiar}`,
  })
  emitImageEvent(deps.events, 'pull', ref.familiar, ref.familiar, r.image)
  return [r]
}

interface Job {
  deps: PullDeps
  repo: Repository
  sink: TransferProgressSink
  matcher: PlatformMatcher
  explicitPlatform: boolean
  opts: PullOptions
}

function signalOf(opts: { signal?: AbortSignal }): { signal?: AbortSignal } {
  return opts.signal ? { signal: opts.signal } : {}
}

/** One tag or digest. */
async function pullOne(job: Job, ref: Reference): Promise<PulledImage> {
  try {
    return await pullResolved(job, ref)
  } catch (err) {
    throw translatePullError(err, ref, job.opts.signal)
  }
}

async function pullResolved(job: Job, ref: Reference): Promise<PulledImage> {
  const { deps, sink } = job
  const tagOrDigest = ref.digest ?? ref.tag!
  const name = familiarName(ref)
  const top = await resolve(job, tagOrDigest)

  // Up to date: an image here came by this digest, and the tag (if any) points at it.
  const here = await imageByRepoDigest(deps.images, `${name}@${top.digest}`)
  if (here && (!job.explicitPlatform || job.matcher.match(configPlatform(here.config)))) {
    const tagged = ref.tag === undefined || (await tagTarget(deps.images, ref.familiar)) === here.id
    if (tagged) {
      sink({ status: `Pulling from ${ref.path}`, id: tagOrDigest })
      sink({ status: `Digest: ${top.digest}` })
      return { ref: ref.familiar, digest: top.digest, image: here, updated: false }
    }
  }

  const parsed = parseManifest(top.bytes, top.mediaType)
  sink({ status: `Pulling from ${ref.path}`, id: tagOrDigest })
  let manifest: ImageManifest
  let config: { bytes: Buffer; value: ImageConfig }
  if (parsed.kind === 'index') {
    ;({ manifest, config } = await choosePlatform(job, parsed.index.manifests))
  } else {
    manifest = parsed.manifest
    config = await fetchConfig(job, manifest.config)
  }
  const diffIDs = config.value.rootfs.diff_ids
  for (const l of manifest.layers) {
    if (!isLayerMediaType(l.mediaType)) {
      throw new InvalidArgument(`unsupported layer media type ${l.mediaType} in ${ref.familiar}`)
    }
  }

  const configDigest = manifest.config.digest
  await deps.leases.hold(configDigest, {
    blobs: [configDigest, ...manifest.layers.map((l) => l.digest)],
    layers: diffIDs,
  })
  if (!(await deps.blobs.has(configDigest))) await deps.blobs.put(config.bytes, configDigest)

  const before = await deps.images.get(configDigest)
  const layers = await fetchLayers(job, manifest.layers, diffIDs)
  faultPoint('pull.before-record')

  const previousTag = ref.tag === undefined ? undefined : await tagTarget(deps.images, ref.familiar)
  const repoDigest = `${name}@${top.digest}`
  const image = await deps.images.create({
    config: config.value,
    configDigest,
    layers,
    tags: ref.tag === undefined ? [] : [ref.familiar],
    repoDigests: [repoDigest],
  })
  await deps.leases.release(configDigest)
  const updated =
    before === undefined ||
    (ref.tag === undefined ? !before.repoDigests.includes(repoDigest) : previousTag !== image.id)
  sink({ status: `Digest: ${top.digest}` })
  return { ref: ref.familiar, digest: top.digest, image, updated }
}

/**
 * The manifest (or index) a tag or digest names, verified: HEAD first (a tag's digest without
 * its body, as Docker asks), then GET by that digest. A HEAD that fails with an answer is
 * followed by a GET by the tag, whose body carries the registry's own words.
 */
async function resolve(job: Job, tagOrDigest: string): Promise<FetchedManifest> {
  const { repo, opts } = job
  let digest: Digest | undefined
  try {
    digest = (await repo.headManifest(tagOrDigest, MANIFEST_ACCEPT, signalOf(opts)))?.digest
  } catch (err) {
    if (!registryResponseOf(err)) throw err
  }
  return repo.getManifest(digest ?? tagOrDigest, MANIFEST_ACCEPT, signalOf(opts))
}

/** The index entry for the platform: by its declared platform, else by its config's. */
async function choosePlatform(
  job: Job,
  entries: Descriptor[],
): Promise<{ manifest: ImageManifest; config: { bytes: Buffer; value: ImageConfig } }> {
  const { repo, matcher, opts } = job
  const candidates = candidateManifests({ schemaVersion: 2, manifests: entries }, matcher)
  for (const d of candidates) {
    const m = await repo.getManifest(d.digest, MANIFEST_ACCEPT, signalOf(opts))
    const parsed = parseManifest(m.bytes, m.mediaType)
    // A nested index is no image for a platform: containerd and Docker skip it.
    if (parsed.kind !== 'manifest') continue
    const config = await fetchConfig(job, parsed.manifest.config)
    if (!d.platform && !matcher.match(configPlatform(config.value))) continue
    return { manifest: parsed.manifest, config }
  }
  throw new NotFound(
    `no matching manifest for ${formatPlatform(matcher.wanted)} in the manifest list entries`,
  )
}

/** The image config: from the content store when it is there, else fetched and verified. */
async function fetchConfig(
  job: Job,
  d: Descriptor,
): Promise<{ bytes: Buffer; value: ImageConfig }> {
  if (!isConfigMediaType(d.mediaType)) {
    throw new InvalidArgument(
      `unsupported media type ${d.mediaType} for the image config: this is no container image`,
    )
  }
  if (d.size > MAX_CONFIG_BYTES) {
    throw new InvalidArgument(`image config of ${d.size} bytes is larger than ${MAX_CONFIG_BYTES}`)
  }
  let bytes: Buffer
  if (await job.deps.blobs.has(d.digest)) bytes = await job.deps.blobs.readAll(d.digest)
  else {
    const stream = await job.repo.fetchBlob(d.digest, { size: d.size, ...signalOf(job.opts) })
    bytes = await readLimited(stream, MAX_CONFIG_BYTES, 'image config')
  }
  return { bytes, value: parseConfig(bytes) }
}

function parseConfig(bytes: Buffer): ImageConfig {
  let v: unknown
  try {
    v = JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    throw new InvalidArgument(`invalid image config: ${(err as Error).message}`, { cause: err })
  }
  const c = v as Partial<ImageConfig> | null
  const ids = c?.rootfs?.diff_ids
  if (
    typeof c !== 'object' ||
    c === null ||
    !Array.isArray(ids) ||
    ids.some((d) => typeof d !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d))
  ) {
    throw new InvalidArgument('invalid image config: rootfs.diff_ids must list sha256 digests')
  }
  return c as ImageConfig
}

/** Every layer of the manifest in the stores, in the manifest's order. */
async function fetchLayers(
  job: Job,
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
  job: Job,
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
  job: Job,
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
        ...(verified ? {} : { digest: d.digest }),
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
  job: Job,
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

async function imageByRepoDigest(
  images: ImageReader,
  repoDigest: string,
): Promise<Image | undefined> {
  try {
    return await images.resolve(repoDigest)
  } catch (err) {
    if (isBerthError(err) && err.status === 404) return undefined
    throw err
  }
}

async function tagTarget(images: ImageReader, familiar: string): Promise<Digest | undefined> {
  try {
    return (await images.resolve(familiar)).id
  } catch (err) {
    if (isBerthError(err) && err.status === 404) return undefined
    throw err
  }
}

/**
 * moby's translatePullError: a registry's "denied", "manifest unknown" and "name unknown" are a
 * 404 in Docker's words; anything else from the registry or the network is Docker's 500 with
 * the same message. The engine's own refusals (a bad reference, an invalid manifest) and an
 * abort keep what they are.
 */
export function translatePullError(err: unknown, ref: Reference, signal?: AbortSignal): unknown {
  if (signal?.aborted) return err
  const res = registryResponseOf(err)
  const first = res?.errors[0]
  if (res && first) {
    const cause = (err as Error).message
    switch (first.code) {
      case 'DENIED':
        return new NotFound(
          `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${cause}`,
          { cause: err },
        )
      case 'MANIFEST_UNKNOWN':
        return new NotFound(`manifest for ${ref.familiar} not found: ${cause}`, { cause: err })
      case 'NAME_UNKNOWN':
        return new NotFound(`repository ${familiarName(ref)} not found: ${cause}`, { cause: err })
    }
  }
  if (!isBerthError(err)) return err
  if (res || isUnauthorized(err)) return new Internal(err.message, { cause: err })
  return err
}

function isUnauthorized(err: BerthError): boolean {
  return err.status === 401 || err.status === 403
}
