// docker load: docker-archive and OCI image layout tars (plain, gzip or zstd), streamed. Every
// member is spooled into the content store (checked against its name when it is a
// blobs/sha256/<hex> member); then the manifests are read, each layer goes through the ingest
// path, and the images are recorded one by one. What a failed load added is removed again.
import { createHash } from 'node:crypto'
import { posix } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as tarStream from 'tar-stream'
import type { BlobInfo, BlobStore } from '../content/types.ts'
import { isDigest, type Digest } from '../digest.ts'
import { InvalidArgument, isBerthError } from '../errors.ts'
import type { EventSink } from '../events/types.ts'
import { faultPoint } from '../fault.ts'
import type { LayerStore } from '../layer/types.ts'
import { parseNamed, tagNameOnly, type Reference } from '../reference/reference.ts'
import { emitImageEvent } from './events.ts'
import {
  ANNOTATION,
  candidateManifests,
  configPlatform,
  MEDIA,
  noMatchingManifest,
  parseManifest,
  platformMatcher,
  type Descriptor,
  type ImageManifest,
  type ParsedManifest,
  type Platform,
} from './manifest.ts'
import { decompress, readSmall } from './streams.ts'
import type {
  ImageConfig,
  ImageCreator,
  ImageReader,
  LayerDescriptor,
  LayerIngest,
  ProgressSink,
} from './types.ts'

/** What load needs: the stores, the ingest path, and the image store's public face. */
export interface LoadDeps {
  blobs: BlobStore
  layers: Pick<LayerStore, 'has' | 'delete'>
  ingest: LayerIngest
  images: ImageReader & ImageCreator
  /** Which image of a multi-platform archive to take. */
  platform: Platform
  events?: EventSink
}

interface LoadedImage {
  configDigest: Digest
  config: ImageConfig
  layers: LayerDescriptor[]
  tags: Reference[]
}

const META_FILES = new Set(['manifest.json', 'index.json', 'oci-layout', 'repositories'])
const META_LIMIT = 16 * 1024 * 1024

/** An archive member name, cleaned; names that climb out of the archive are refused. */
function cleanName(name: string): string {
  const n = posix.normalize(name.replace(/^(\.\/)+/, ''))
  if (n.startsWith('/') || n === '..' || n.startsWith('../')) {
    throw new InvalidArgument(
      `invalid archive: entry ${JSON.stringify(name)} is outside the archive root`,
    )
  }
  return n.replace(/\/+$/, '')
}

function parseJson<T>(buf: Buffer, what: string): T {
  try {
    return JSON.parse(buf.toString('utf8')) as T
  } catch (err) {
    throw new InvalidArgument(
      `invalid archive: ${what} is not valid JSON: ${(err as Error).message}`,
    )
  }
}

export function asLoadError(err: unknown): unknown {
  if (isBerthError(err)) return err
  const msg = err instanceof Error ? err.message : String(err)
  return new InvalidArgument(`invalid archive: ${msg}`, { cause: err })
}

interface ArchiveFile {
  digest: Digest
  size: number
}

interface Candidate {
  configDigest: Digest
  layers: { blob: ArchiveFile; mediaType?: string }[]
  tags: Reference[]
}

export async function loadArchive(
  store: LoadDeps,
  archive: Readable,
  opts: { signal?: AbortSignal; progress?: ProgressSink },
): Promise<{ loaded: string[] }> {
  const newBlobs = new Set<Digest>()
  const newLayers = new Set<Digest>()
  try {
    const { files, links, meta } = await spool(store, archive, newBlobs, opts.signal)
    const resolvePath = (p: unknown, what: string): ArchiveFile => {
      if (typeof p !== 'string') throw new InvalidArgument(`invalid archive: ${what} is not a path`)
      let n = cleanName(p)
      for (let i = 0; i < 32 && links.has(n); i++) n = links.get(n)!
      const f = files.get(n)
      if (!f)
        throw new InvalidArgument(
          `invalid archive: ${what} ${JSON.stringify(p)} is not in the archive`,
        )
      return f
    }
    let candidates: Candidate[]
    const manifest = meta.get('manifest.json')
    const index = meta.get('index.json')
    if (manifest) candidates = fromDockerManifest(manifest, resolvePath)
    else if (index) candidates = await fromOciIndex(store, index, files)
    else if (meta.has('repositories')) {
      throw new InvalidArgument(
        'invalid archive: legacy v1 image archives (repositories without manifest.json) are not supported',
      )
    } else throw new InvalidArgument('invalid archive: neither manifest.json nor index.json found')

    const items: LoadedImage[] = []
    for (const c of mergeCandidates(candidates)) {
      const config = parseJson<ImageConfig>(
        await store.blobs.readAll(c.configDigest),
        `config ${c.configDigest}`,
      )
      const diffIDs = config?.rootfs?.diff_ids
      if (!Array.isArray(diffIDs) || diffIDs.some((d) => typeof d !== 'string' || !isDigest(d))) {
        throw new InvalidArgument(
          `invalid archive: config ${c.configDigest} has no valid rootfs.diff_ids`,
        )
      }
      if (diffIDs.length !== c.layers.length) {
        throw new InvalidArgument(
          `invalid manifest, layers length mismatch: expected ${diffIDs.length}, got ${c.layers.length}`,
        )
      }
      const layers: LayerDescriptor[] = []
      for (const [i, l] of c.layers.entries()) {
        const diffID = diffIDs[i]
        const existed = await store.layers.has(diffID)
        const { size: _size, ...sl } = await store.ingest.writeLayer(
          { stored: l.blob.digest, ...(l.mediaType ? { mediaType: l.mediaType } : {}) },
          { diffID, ...(opts.signal ? { signal: opts.signal } : {}) },
        )
        if (!existed) newLayers.add(diffID)
        layers.push(sl)
      }
      items.push({ configDigest: c.configDigest, config, layers, tags: c.tags })
    }
    faultPoint('load.after-layers')
    const loaded = await record(store, items, opts.progress)
    await collect(store, newBlobs, new Set())
    return { loaded }
  } catch (err) {
    await collect(store, newBlobs, newLayers)
    throw asLoadError(err)
  }
}

/**
 * Records the images, one by one as Docker does, with Docker's messages: a tag taken from
 * another image is announced, then each image by its tags (or its ID when it has none).
 */
async function record(
  store: LoadDeps,
  items: LoadedImage[],
  progress?: ProgressSink,
): Promise<string[]> {
  const loaded: string[] = []
  for (const n of items) {
    for (const t of n.tags) {
      const prev = await store.images.resolve(t.familiar).then(
        (img) => img.id,
        () => undefined,
      )
      if (prev !== undefined && prev !== n.configDigest) {
        progress?.({
          stream: `The image ${t.familiar} already exists, renaming the old one with ID ${prev} to empty string\n`,
        })
      }
    }
    const img = await store.images.create({
      config: n.config,
      configDigest: n.configDigest,
      layers: n.layers,
      tags: n.tags.map((t) => t.familiar),
    })
    faultPoint('load.mid-record')
    emitImageEvent(store.events, 'load', img.id, img.id, img)
    if (n.tags.length === 0) {
      progress?.({ stream: `Loaded image ID: ${n.configDigest}\n` })
      loaded.push(n.configDigest)
    }
    for (const t of n.tags) {
      progress?.({ stream: `Loaded image: ${t.familiar}\n` })
      loaded.push(t.familiar)
    }
  }
  return loaded
}

/** Deletes what this operation added that no recorded image uses. */
async function collect(store: LoadDeps, blobs: Set<Digest>, layers: Set<Digest>): Promise<void> {
  const used = { blobs: new Set<Digest>(), layers: new Set<Digest>() }
  for (const img of await store.images.list()) {
    used.blobs.add(img.id)
    for (const l of img.layers) {
      used.blobs.add(l.blob)
      used.layers.add(l.diffID)
    }
  }
  for (const d of layers)
    if (!used.layers.has(d)) await store.layers.delete(d).catch(() => undefined)
  for (const d of blobs) if (!used.blobs.has(d)) await store.blobs.delete(d).catch(() => undefined)
}

/** Streams every member into the content store; keeps only the small metadata files in memory. */
async function spool(
  store: LoadDeps,
  archive: Readable,
  newBlobs: Set<Digest>,
  signal?: AbortSignal,
): Promise<{
  files: Map<string, ArchiveFile>
  links: Map<string, string>
  meta: Map<string, Buffer>
}> {
  const files = new Map<string, ArchiveFile>()
  const links = new Map<string, string>()
  const meta = new Map<string, Buffer>()
  const { stream } = await decompress(archive)
  const extract = tarStream.extract()
  const feeding = pipeline(stream, extract, { signal })
  feeding.catch(() => undefined) // surfaced through the iterator below, or awaited at the end
  try {
    for await (const entry of extract) {
      const h = entry.header
      const body = entry as AsyncIterable<Buffer>
      const name = cleanName(h.name)
      if (h.type === 'file' || h.type === 'contiguous-file') {
        if (META_FILES.has(name)) {
          meta.set(name, await readSmall(body, META_LIMIT, name))
        } else if (!name.startsWith('blobs/') && /(^|\/)(json|VERSION)$/.test(name)) {
          for await (const _ of body) void _ // legacy v1 metadata docker load does not need
        } else {
          files.set(name, await ingestEntry(store, body, name, h.size ?? 0, newBlobs))
        }
      } else if (h.type === 'symlink' || h.type === 'link') {
        const target = h.linkname ?? ''
        links.set(
          name,
          h.type === 'symlink'
            ? cleanName(posix.join(posix.dirname(name), target))
            : cleanName(target),
        )
        entry.resume()
      } else {
        entry.resume()
      }
    }
  } catch (err) {
    extract.destroy()
    stream.destroy()
    await feeding.catch(() => undefined)
    throw err
  }
  await feeding
  return { files, links, meta }
}

async function ingestEntry(
  store: LoadDeps,
  entry: AsyncIterable<Buffer>,
  name: string,
  size: number,
  newBlobs: Set<Digest>,
): Promise<ArchiveFile> {
  const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name)
  const expected: Digest | undefined = m ? `sha256:${m[1]}` : undefined
  const hash = createHash('sha256')
  const w = await store.blobs.ingest()
  let info: BlobInfo
  try {
    await pipeline(
      entry,
      new Transform({
        transform(chunk: Buffer, _e, cb) {
          hash.update(chunk)
          cb(null, chunk)
        },
      }),
      w,
    )
    const digest: Digest = `sha256:${hash.digest('hex')}`
    if (expected && expected !== digest) {
      throw new InvalidArgument(
        `invalid archive: ${name}: digest mismatch: expected ${expected}, got ${digest}`,
      )
    }
    const existed = await store.blobs.has(digest)
    info = await w.commit({ digest, size })
    if (!existed) newBlobs.add(digest)
  } catch (err) {
    await w.abort()
    throw err
  }
  return info
}

interface DockerManifestEntry {
  Config?: unknown
  RepoTags?: unknown
  Layers?: unknown
}

function parseTags(tags: unknown): Reference[] {
  if (tags === null || tags === undefined) return []
  if (!Array.isArray(tags)) throw new InvalidArgument('invalid archive: RepoTags is not a list')
  return tags.map((t) => {
    if (typeof t !== 'string')
      throw new InvalidArgument('invalid archive: RepoTags holds a non-string')
    const ref = parseNamed(t)
    if (ref.digest !== undefined)
      throw new InvalidArgument(`invalid tag ${JSON.stringify(t)}: tags cannot contain digests`)
    return tagNameOnly(ref)
  })
}

function fromDockerManifest(
  buf: Buffer,
  resolvePath: (p: unknown, what: string) => ArchiveFile,
): Candidate[] {
  const m = parseJson<unknown>(buf, 'manifest.json')
  if (!Array.isArray(m)) throw new InvalidArgument('invalid archive: manifest.json is not a list')
  return (m as DockerManifestEntry[]).map((e) => {
    if (typeof e !== 'object' || e === null)
      throw new InvalidArgument('invalid archive: bad manifest.json entry')
    const config = resolvePath(e.Config, 'config')
    if (!Array.isArray(e.Layers))
      throw new InvalidArgument('invalid archive: manifest.json entry has no Layers')
    const layers = (e.Layers as unknown[]).map((p) => ({ blob: resolvePath(p, 'layer') }))
    return { configDigest: config.digest, layers, tags: parseTags(e.RepoTags) }
  })
}

async function fromOciIndex(
  store: LoadDeps,
  buf: Buffer,
  files: Map<string, ArchiveFile>,
): Promise<Candidate[]> {
  const inArchive = new Set([...files.values()].map((f) => f.digest))
  const readBlob = async (d: Descriptor, what: string): Promise<Buffer> => {
    if (!inArchive.has(d.digest))
      throw new InvalidArgument(`invalid archive: ${what} ${d.digest} is not in the archive`)
    return store.blobs.readAll(d.digest)
  }
  const parse = (bytes: Buffer, what: string, mediaType?: string): ParsedManifest => {
    try {
      return parseManifest(bytes, mediaType)
    } catch (err) {
      throw new InvalidArgument(`invalid archive: ${what}: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }
  const matcher = platformMatcher(store.platform)
  /** The image manifest a descriptor leads to on this platform; indexes are walked. */
  const imageOf = async (d: Descriptor, depth: number): Promise<ImageManifest | undefined> => {
    const parsed = parse(await readBlob(d, 'manifest'), `manifest ${d.digest}`, d.mediaType)
    if (parsed.kind === 'manifest') return parsed.manifest
    if (depth >= 4) throw new InvalidArgument('invalid archive: image indexes nested too deep')
    for (const c of candidateManifests(parsed.index, matcher)) {
      const m = await imageOf(c, depth + 1)
      if (!m) continue
      // An entry that names no platform is taken when its config is for this one.
      if (c.platform) return m
      const config = parseJson<ImageConfig>(await readBlob(m.config, 'config'), 'config')
      if (matcher.match(configPlatform(config))) return m
    }
    throw noMatchingManifest(d.digest, matcher)
  }
  const index = parse(buf, 'index.json', MEDIA.ociIndex)
  if (index.kind !== 'index') throw new InvalidArgument('invalid archive: index.json is no index')
  const out: Candidate[] = []
  for (const top of index.index.manifests) {
    const mf = await imageOf(top, 0)
    if (!mf) continue
    await readBlob(mf.config, 'config') // presence check; the bytes are read again when building
    const layers: Candidate['layers'] = []
    for (const l of mf.layers) {
      if (!inArchive.has(l.digest)) {
        throw new InvalidArgument(`invalid archive: layer ${l.digest} is not in the archive`)
      }
      const info = await store.blobs.info(l.digest)
      layers.push({ blob: info, mediaType: l.mediaType })
    }
    out.push({ configDigest: mf.config.digest, layers, tags: nameFromAnnotations(top.annotations) })
  }
  return out
}

/** The name an OCI layout gives an image: containerd's full name, or a full reference in ref.name. */
function nameFromAnnotations(a?: Record<string, string>): Reference[] {
  const full = a?.[ANNOTATION.imageName]
  const refName = a?.[ANNOTATION.refName]
  for (const n of [full, refName]) {
    if (!n) continue
    try {
      const ref = parseNamed(n)
      if (n === refName && !n.includes(':') && !n.includes('/')) continue // a bare tag, no name
      if (ref.tag !== undefined) return [tagNameOnly(ref)]
    } catch {
      // not a reference: a tag alone, which names nothing by itself
    }
  }
  return []
}

function mergeCandidates(cs: Candidate[]): Candidate[] {
  const by = new Map<Digest, Candidate>()
  for (const c of cs) {
    const prev = by.get(c.configDigest)
    if (!prev) by.set(c.configDigest, { ...c, tags: [...c.tags] })
    else
      for (const t of c.tags)
        if (!prev.tags.some((x) => x.familiar === t.familiar)) prev.tags.push(t)
  }
  return [...by.values()]
}
