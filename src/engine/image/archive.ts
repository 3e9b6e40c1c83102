// docker save / load / import: docker-archive and OCI image layout tars, streamed.
import { createHash } from 'node:crypto'
import { posix } from 'node:path'
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as tarStream from 'tar-stream'
import { hex, isDigest, type Digest } from '../digest.ts'
import { InvalidArgument, isBerthError, NotFound } from '../errors.ts'
import type { BlobInfo } from '../content/types.ts'
import {
  familiarName,
  fullString,
  parseNamed,
  tagNameOnly,
  type Reference,
} from '../reference/reference.ts'
import { applyChanges } from './changes.ts'
import type { LocalImageStore, NewImage, StoredLayer } from './local.ts'
import {
  ANNOTATION,
  candidateManifests,
  descriptorOf,
  encodeManifest,
  configPlatform,
  MEDIA,
  noMatchingManifest,
  parseManifest,
  parsePlatform,
  platformMatcher,
  type Descriptor,
  type ImageManifest,
  type ParsedManifest,
  type Platform,
} from './manifest.ts'
import { countBytes, decompress, readSmall } from './streams.ts'
import type { ImageConfig, ProgressSink } from './types.ts'
import { faultPoint } from '../fault.ts'

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

function asLoadError(err: unknown): unknown {
  if (isBerthError(err)) return err
  const msg = err instanceof Error ? err.message : String(err)
  return new InvalidArgument(`invalid archive: ${msg}`, { cause: err })
}

/** Hashes what passes; fails at the end when the digest differs from `want`. */
class Verify extends Transform {
  private readonly h = createHash('sha256')
  constructor(private readonly want: Digest) {
    super()
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.h.update(chunk)
    cb(null, chunk)
  }
  override _flush(cb: TransformCallback): void {
    const got = `sha256:${this.h.digest('hex')}`
    cb(
      got === this.want
        ? null
        : new InvalidArgument(`digest mismatch: expected ${this.want}, got ${got}`),
    )
  }
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
  store: LocalImageStore,
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

    const items: NewImage[] = []
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
      const layers: StoredLayer[] = []
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
      items.push({ configDigest: c.configDigest, layers, tags: c.tags })
    }
    faultPoint('load.after-layers')
    const loaded = await store.recordLoaded(items, opts.progress)
    await collect(store, newBlobs, new Set())
    return { loaded }
  } catch (err) {
    await collect(store, newBlobs, newLayers)
    throw asLoadError(err)
  }
}

/** Deletes what this operation added that no recorded image uses. */
async function collect(
  store: LocalImageStore,
  blobs: Set<Digest>,
  layers: Set<Digest>,
): Promise<void> {
  const used = store.usedContent()
  for (const d of layers)
    if (!used.layers.has(d)) await store.layers.delete(d).catch(() => undefined)
  for (const d of blobs) if (!used.blobs.has(d)) await store.blobs.delete(d).catch(() => undefined)
}

/** Streams every member into the content store; keeps only the small metadata files in memory. */
async function spool(
  store: LocalImageStore,
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
  store: LocalImageStore,
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
  store: LocalImageStore,
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

// ---- save

export async function saveArchive(
  store: LocalImageStore,
  refs: string[],
  opts: { signal?: AbortSignal },
): Promise<Readable> {
  if (refs.length === 0) throw new InvalidArgument('no images specified')
  const items = await store.resolveForSave(refs)
  // Sizes of the uncompressed layer tars go in the tar headers, so learn them before writing.
  for (const it of items) {
    const sizes = new Map<Digest, number>()
    for (const l of it.record.layers) {
      if (!(await store.blobs.has(l.blob)))
        throw new NotFound(`layer blob ${l.blob} of image ${it.record.id} is missing`)
      if (l.diffSize !== undefined) continue
      const { stream, compression } = await decompress(await store.blobs.open(l.blob))
      sizes.set(l.diffID, compression === 'none' ? l.blobSize : await countBytes(stream))
      if (compression === 'none') stream.destroy()
    }
    if (sizes.size > 0) {
      await store.rememberDiffSizes(it.record.id, sizes)
      it.record = {
        ...it.record,
        layers: it.record.layers.map((l) => ({
          ...l,
          diffSize: l.diffSize ?? sizes.get(l.diffID),
        })),
      }
    }
  }
  const pack = tarStream.pack()
  const out = new PassThrough({ highWaterMark: 1024 * 1024 })
  pipeline(pack, out).catch(() => undefined)
  const abort = () => out.destroy(new Error('save aborted'))
  opts.signal?.addEventListener('abort', abort, { once: true })
  writeArchive(store, items, pack)
    .catch((err: unknown) => {
      pack.destroy(err as Error)
      out.destroy(err as Error)
    })
    .finally(() => opts.signal?.removeEventListener('abort', abort))
  return out
}

const EPOCH = new Date(0)

function addFile(pack: tarStream.Pack, name: string, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(
      { name, mode: 0o644, mtime: EPOCH },
      typeof data === 'string' ? Buffer.from(data) : data,
      (err) => (err ? reject(err) : resolve()),
    )
  })
}

async function writeArchive(
  store: LocalImageStore,
  items: Awaited<ReturnType<LocalImageStore['resolveForSave']>>,
  pack: tarStream.Pack,
): Promise<void> {
  const written = new Set<string>()
  const manifestJson: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = []
  const indexEntries: Descriptor[] = []
  const repositories: Record<string, Record<string, string>> = {}
  pack.entry({ name: 'blobs/', type: 'directory', mode: 0o755, mtime: EPOCH })
  pack.entry({ name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime: EPOCH })
  for (const it of items) {
    const id = it.record.id
    const configPath = `blobs/sha256/${hex(id)}`
    if (!written.has(configPath)) {
      await addFile(pack, configPath, it.configBytes)
      written.add(configPath)
    }
    const layerPaths: string[] = []
    const layerDescs: Descriptor[] = []
    for (const l of it.record.layers) {
      const path = `blobs/sha256/${hex(l.diffID)}`
      layerPaths.push(path)
      layerDescs.push({ mediaType: MEDIA.layer.none, digest: l.diffID, size: l.diffSize! })
      if (written.has(path)) continue
      written.add(path)
      const { stream } = await decompress(await store.blobs.open(l.blob))
      const entry = pack.entry({ name: path, size: l.diffSize, mode: 0o644, mtime: EPOCH })
      await pipeline(stream, new Verify(l.diffID), entry)
    }
    const manifest = encodeManifest({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: descriptorOf(MEDIA.ociConfig, it.configBytes),
      layers: layerDescs,
    })
    const desc = descriptorOf(MEDIA.ociManifest, manifest)
    const mpath = `blobs/sha256/${hex(desc.digest)}`
    if (!written.has(mpath)) {
      await addFile(pack, mpath, manifest)
      written.add(mpath)
    }
    if (it.tags.length === 0) indexEntries.push(desc)
    for (const t of it.tags) {
      indexEntries.push({
        ...desc,
        annotations: {
          [ANNOTATION.imageName]: fullString(t),
          [ANNOTATION.refName]: t.tag ?? 'latest',
        },
      })
      const fam = familiarName(t)
      repositories[fam] ??= {}
      repositories[fam][t.tag ?? 'latest'] = hex(it.record.layers.at(-1)?.diffID ?? id)
    }
    manifestJson.push({
      Config: configPath,
      RepoTags: it.tags.length > 0 ? it.tags.map((t) => t.familiar) : null,
      Layers: layerPaths,
    })
  }
  await addFile(
    pack,
    'index.json',
    encodeManifest({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: indexEntries }),
  )
  await addFile(pack, 'manifest.json', JSON.stringify(manifestJson))
  await addFile(pack, 'oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  if (Object.keys(repositories).length > 0)
    await addFile(pack, 'repositories', JSON.stringify(repositories))
  pack.finalize()
}

// ---- import

/** import's --platform: containerd's specifier; only Linux images run here. */
function importPlatform(s: string | undefined, def: Platform): Platform {
  if (!s) return def
  const p = parsePlatform(s)
  if (p.os !== 'linux') throw new InvalidArgument(`operating system is not supported: ${p.os}`)
  return { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) }
}

/** docker import: stores the tar as one layer blob and unpacks it in the same pass. */
export async function importRootfs(
  store: LocalImageStore,
  tar: Readable,
  opts: { changes: string[]; message?: string; platform?: string; signal?: AbortSignal },
): Promise<NewImage & { config: ImageConfig }> {
  const platform = importPlatform(opts.platform, store.platform)
  const runConfig = applyChanges({}, opts.changes)
  let layer: StoredLayer
  try {
    const { size: _size, ...l } = await store.ingest.writeLayer(
      { blob: tar },
      opts.signal ? { signal: opts.signal } : {},
    )
    layer = l
  } catch (err) {
    throw asLoadError(err)
  }
  faultPoint('import.after-layer')
  const created = new Date().toISOString()
  const comment = opts.message || 'Imported from -'
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created,
    comment,
    config: runConfig,
    rootfs: { type: 'layers', diff_ids: [layer.diffID] },
    history: [{ created, comment }],
  }
  const configInfo = await store.blobs.put(JSON.stringify(config))
  faultPoint('import.before-record')
  return { configDigest: configInfo.digest, layers: [layer], tags: [], config }
}
