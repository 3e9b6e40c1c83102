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
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  MANIFEST_ACCEPT,
  MEDIA,
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
  LayerIngest,
} from '../image/types.ts'
import type { BlobStore } from '../content/types.ts'
import type { Logger } from '../logger.ts'
import {
  familiarName,
  fullString,
  parseNamed,
  tagNameOnly,
  withTag,
  type Reference,
} from '../reference/reference.ts'
import { fetchLayers } from './download.ts'
import { registryResponseOf } from './errors.ts'
import { readLimited } from './http.ts'
import type { PullLeases } from './leases.ts'
import type { Limiter } from './limit.ts'
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
  const access = { ...(opts.auth ? { auth: opts.auth } : {}), actions: ['pull'] as const }
  const upstream = deps.client.repository(named, access)
  const mirrors = (await deps.client.mirrorsFor?.(named, access)) ?? []
  // moby's pull loop over endpoints: a mirror that fails for any reason hands the pull on to
  // the next mirror, and the last to the registry itself.
  for (const mirror of mirrors) {
    try {
      return await pullFrom(deps, named, mirror, opts)
    } catch (err) {
      if (opts.signal?.aborted) throw err
      deps.logger?.info('Attempting next endpoint for pull after error', {
        mirror: mirror.registry,
        error: (err as Error).message,
      })
    }
  }
  return pullFrom(deps, named, upstream, opts)
}

async function pullFrom(
  deps: PullDeps,
  named: Reference,
  repo: Repository,
  opts: PullOptions,
): Promise<PulledImage[]> {
  const matcher = platformMatcher(opts.platform ? parsePlatform(opts.platform) : deps.platform)
  const explicitPlatform = opts.platform !== undefined && opts.platform !== ''
  const sink: TransferProgressSink = opts.progress ?? (() => undefined)
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

  sink({ status: `Pulling from ${ref.path}`, id: tagOrDigest })
  if (isSchema1(top)) throw schema1Removed(ref)
  const parsed = parseManifest(top.bytes, top.mediaType)
  let manifest: ImageManifest
  let config: { bytes: Buffer; value: ImageConfig }
  if (parsed.kind === 'index') {
    ;({ manifest, config } = await choosePlatform(job, parsed.index.manifests, ref))
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
  ref: Reference,
): Promise<{ manifest: ImageManifest; config: { bytes: Buffer; value: ImageConfig } }> {
  const { repo, matcher, opts } = job
  const candidates = candidateManifests({ schemaVersion: 2, manifests: entries }, matcher)
  for (const d of candidates) {
    const m = await repo.getManifest(d.digest, MANIFEST_ACCEPT, signalOf(opts))
    if (isSchema1(m)) throw schema1Removed(ref)
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

/**
 * A Docker schema 1 manifest (signed or not): by its Content-Type, else by its schemaVersion.
 */
function isIndexOrManifestType(t: string): boolean {
  return isIndexMediaType(t) || isManifestMediaType(t)
}

function isSchema1(m: FetchedManifest): boolean {
  const type = m.mediaType.split(';')[0]!.trim().toLowerCase()
  if (type === MEDIA.dockerSchema1 || type === MEDIA.dockerSchema1Signed) return true
  if (isIndexOrManifestType(type)) return false
  try {
    return (JSON.parse(m.bytes.toString('utf8')) as { schemaVersion?: unknown }).schemaVersion === 1
  } catch {
    return false
  }
}

/**
 * Docker 28 (moby v28.2+) pulls no schema 1 image: distribution's DeprecatedSchema1ImageError,
 * an invalid-parameter error (400), with the full reference.
 */
function schema1Removed(ref: Reference): InvalidArgument {
  return new InvalidArgument(
    'Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed.' +
      ` Suggest the author of ${fullString(ref)} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2.` +
      ' More information at https://docs.docker.com/go/deprecated-image-specs/',
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
