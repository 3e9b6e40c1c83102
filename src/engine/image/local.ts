// The image store: images keyed by config digest, their config blobs in the content store, one
// metadata record per image and one references file, both written atomically (records.ts).
// Removal is delete.ts, garbage collection garbage.ts; save, load and import are save.ts,
// load.ts and import.ts, which reach the store only through its public interfaces.
import type { Readable } from 'node:stream'
import type { BlobStore } from '../content/types.ts'
import { hex, isDigest, type Digest } from '../digest.ts'
import { Conflict, InvalidArgument, isBerthError, NotFound } from '../errors.ts'
import type { EventSink } from '../events/types.ts'
import type { LayerStore } from '../layer/types.ts'
import {
  familiarName,
  parseAnyReference,
  parseNamed,
  tagNameOnly,
  type Reference,
} from '../reference/reference.ts'
import { pruneImages, removeImage, type RemovalState } from './delete.ts'
import { emitImageEvent, emitImagePrune } from './events.ts'
import { collectUnused, usedContent, type UsedContent } from './garbage.ts'
import { importRootfs } from './import.ts'
import { LayerIngester } from './ingest.ts'
import { loadArchive } from './load.ts'
import { hostPlatform, type Platform } from './manifest.ts'
import { FileImageMetadata, type ImageMetadataStore, type ImageRecord } from './records.ts'
import { saveArchive } from './save.ts'
import { parseTag } from './tags.ts'
import type {
  ContentCollector,
  ContentRoot,
  DeleteResponseItem,
  Image,
  ImageConfig,
  ImageStore,
  ImageUsage,
  LayerIngest,
  NewImageInput,
  ProgressSink,
  RetainedContent,
} from './types.ts'

export type { ImageRecord } from './records.ts'

interface StoreDeps {
  blobs: BlobStore
  layers: LayerStore
  usage: ImageUsage
  /** The platform images are chosen for (load of a multi-platform archive, import's default). */
  platform?: Platform
  /** How layers come in; by default one over `blobs` and `layers`. */
  ingest?: LayerIngest
  /** Where the image events go (tag, untag, delete, prune, load, save, import). */
  events?: EventSink
  /** Others that keep layers and blobs (the build cache): collection and removal spare them. */
  roots?: ContentRoot[]
  /** Content kept for pulls under way, which neither GC nor rmi may delete. */
  retained?: RetainedContent
}

/** Records on disk under `dir` (e.g. <dataRoot>/images), or wherever `metadata` keeps them. */
export type LocalImageStoreOptions = StoreDeps &
  ({ dir: string } | { metadata: ImageMetadataStore })

interface Entry {
  record: ImageRecord
  config: ImageConfig
}

export class LocalImageStore implements ImageStore, ContentCollector {
  readonly blobs: BlobStore
  readonly layers: LayerStore
  readonly platform: Platform
  readonly ingest: LayerIngest
  private readonly usage: ImageUsage
  private readonly events: EventSink | undefined
  private readonly roots: ContentRoot[]
  private readonly retained: RetainedContent | undefined
  private readonly meta: ImageMetadataStore
  private images = new Map<Digest, Entry>()
  /** familiar tagged reference ("busybox:latest") → image ID */
  private refs = new Map<string, Digest>()
  private layerSizes = new Map<Digest, number>()
  private queue: Promise<unknown> = Promise.resolve()

  constructor(opts: LocalImageStoreOptions) {
    this.blobs = opts.blobs
    this.layers = opts.layers
    this.usage = opts.usage
    this.events = opts.events
    this.roots = opts.roots ?? []
    this.retained = opts.retained
    this.platform = opts.platform ?? hostPlatform()
    this.ingest = opts.ingest ?? new LayerIngester({ blobs: opts.blobs, layers: opts.layers })
    this.meta = 'metadata' in opts ? opts.metadata : new FileImageMetadata(opts.dir)
  }

  /** Reads the records and references. Call once, after the blob store's init(). */
  async init(): Promise<void> {
    const stored = await this.meta.read()
    const images = new Map<Digest, Entry>()
    for (const record of stored.records) {
      let config: ImageConfig
      try {
        config = JSON.parse((await this.blobs.readAll(record.id)).toString('utf8')) as ImageConfig
      } catch {
        continue // its config blob is gone: the record is unusable
      }
      images.set(record.id, { record, config })
    }
    const refs = new Map<string, Digest>()
    for (const [k, v] of Object.entries(stored.refs)) {
      if (isDigest(v) && images.has(v)) refs.set(k, v)
    }
    this.images = images
    this.refs = refs
  }

  private lock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => undefined)
    return run
  }

  // ---- reading

  async get(id: Digest): Promise<Image | undefined> {
    const e = this.images.get(id)
    return e ? this.toImage(e) : undefined
  }

  async list(): Promise<Image[]> {
    return Promise.all([...this.images.values()].map((e) => this.toImage(e)))
  }

  async resolve(ref: string): Promise<Image> {
    return this.toImage(this.resolveEntry(ref))
  }

  /** moby's GetImage: a full ID, then a reference, then a unique ID prefix. */
  private resolveEntry(ref: string): Entry {
    const any = parseAnyReference(ref)
    if (any.kind === 'digest') {
      const e = this.images.get(any.digest)
      if (e) return e
      throw new NotFound(`No such image: ${any.digest}`)
    }
    const named = any.ref
    const byRef = this.lookupRef(named)
    if (byRef) return byRef
    const byPrefix = this.searchPrefix(ref)
    if (byPrefix) return byPrefix
    throw new NotFound(`No such image: ${tagNameOnly(named).familiar}`)
  }

  private lookupRef(named: Reference): Entry | undefined {
    if (named.digest !== undefined) {
      const want = `${familiarName(named)}@${named.digest}`
      for (const e of this.images.values()) if (e.record.repoDigests.includes(want)) return e
      return undefined
    }
    const id = this.refs.get(tagNameOnly(named).familiar)
    return id ? this.images.get(id) : undefined
  }

  private searchPrefix(s: string): Entry | undefined {
    const p = s.startsWith('sha256:') ? s.slice(7) : s
    if (!/^[a-f0-9]+$/.test(p)) return undefined
    let found: Entry | undefined
    for (const [id, e] of this.images) {
      if (hex(id).startsWith(p)) {
        if (found) return undefined // ambiguous
        found = e
      }
    }
    return found
  }

  private tagsOf(id: Digest): string[] {
    const out: string[] = []
    for (const [k, v] of this.refs) if (v === id) out.push(k)
    return out.sort()
  }

  private async layerSize(diffID: Digest): Promise<number> {
    const known = this.layerSizes.get(diffID)
    if (known !== undefined) return known
    try {
      const { size } = await this.layers.info(diffID)
      this.layerSizes.set(diffID, size)
      return size
    } catch (err) {
      if (isBerthError(err) && err.status === 404) return 0
      throw err
    }
  }

  private async toImage(e: Entry): Promise<Image> {
    let size = 0
    for (const l of e.record.layers) size += await this.layerSize(l.diffID)
    const img: Image = {
      id: e.record.id,
      config: e.config,
      layers: e.record.layers.map((l) => ({
        diffID: l.diffID,
        blob: l.blob,
        mediaType: l.mediaType,
        blobSize: l.blobSize,
        ...(l.diffSize !== undefined ? { diffSize: l.diffSize } : {}),
        ...(l.urls !== undefined ? { urls: [...l.urls] } : {}),
      })),
      repoTags: this.tagsOf(e.record.id),
      repoDigests: [...e.record.repoDigests],
      size,
      addedAt: e.record.addedAt,
    }
    if (e.record.parent) img.parent = e.record.parent
    return img
  }

  // ---- writing

  private async writeRefs(): Promise<void> {
    const refs: Record<string, string> = {}
    for (const [k, v] of [...this.refs].sort(([a], [b]) => (a < b ? -1 : 1))) refs[k] = v
    await this.meta.writeRefs(refs)
  }

  async create(input: NewImageInput): Promise<Image> {
    const tags = (input.tags ?? []).map((t) => parseTag(t))
    const repoDigests = (input.repoDigests ?? []).map((r) => {
      const ref = parseNamed(r)
      if (ref.digest === undefined) throw new InvalidArgument(`not a digest reference: ${r}`)
      return `${familiarName(ref)}@${ref.digest}`
    })
    let configDigest = input.configDigest
    if (configDigest === undefined) {
      configDigest = (await this.blobs.put(JSON.stringify(input.config))).digest
    } else if (!(await this.blobs.has(configDigest))) {
      throw new NotFound(`config blob ${configDigest} is not in the content store`)
    }
    const id = configDigest
    const config = JSON.parse((await this.blobs.readAll(id)).toString('utf8')) as ImageConfig
    const diffIDs = config.rootfs?.diff_ids ?? []
    if (
      diffIDs.length !== input.layers.length ||
      diffIDs.some((d, i) => d !== input.layers[i].diffID)
    ) {
      throw new InvalidArgument('image config rootfs.diff_ids does not match the layers given')
    }
    return this.lock(async () => {
      const old = this.images.get(id)
      const record: ImageRecord = old
        ? { ...old.record, repoDigests: [...new Set([...old.record.repoDigests, ...repoDigests])] }
        : {
            id,
            layers: input.layers.map((l) => ({ ...l })),
            addedAt: new Date().toISOString(),
            repoDigests,
          }
      if (!old && input.parent && this.images.has(input.parent)) record.parent = input.parent
      await this.meta.writeRecord(record)
      this.images.set(id, { record, config })
      if (tags.length > 0) {
        for (const t of tags) this.refs.set(t.familiar, id)
        await this.writeRefs()
      }
      return this.toImage(this.images.get(id)!)
    })
  }

  async tag(source: string, target: string): Promise<void> {
    const e = this.resolveEntry(source)
    const t = parseTag(target)
    await this.lock(async () => {
      if (!this.images.has(e.record.id)) throw new NotFound(`No such image: ${source}`)
      this.refs.set(t.familiar, e.record.id)
      await this.writeRefs()
    })
    emitImageEvent(this.events, 'tag', e.record.id, t.familiar, e)
  }

  // ---- removing

  /** The store's state as removal sees it; only used under the lock. */
  private removal(): RemovalState {
    return {
      resolveId: (ref) => this.resolveEntry(ref).record.id,
      has: (id) => this.images.has(id),
      repoRefs: (id) => this.repoRefs(id),
      dropRef: (id, ref) => this.dropRef(id, ref),
      children: (id) => this.children(id),
      parent: (id) => this.images.get(id)?.record.parent,
      containersUsing: (id) => this.usage.containersUsing(id),
      deleteImage: (id, acc) => this.deleteImage(id, acc),
      entries: () =>
        [...this.images.values()].map((e) => ({
          id: e.record.id,
          ...(e.config.created ? { created: e.config.created } : {}),
          labels: e.config.config?.Labels ?? {},
        })),
    }
  }

  /** Tag and digest references of an image, as parsed references. */
  private repoRefs(id: Digest): Reference[] {
    const out = this.tagsOf(id).map((t) => parseNamed(t))
    for (const d of this.images.get(id)?.record.repoDigests ?? []) out.push(parseNamed(d))
    return out
  }

  private async dropRef(id: Digest, ref: Reference): Promise<void> {
    const e = this.images.get(id)
    if (ref.digest !== undefined) {
      if (!e) return
      const s = `${familiarName(ref)}@${ref.digest}`
      e.record = { ...e.record, repoDigests: e.record.repoDigests.filter((d) => d !== s) }
      await this.meta.writeRecord(e.record)
    } else {
      this.refs.delete(tagNameOnly(ref).familiar)
    }
    emitImageEvent(this.events, 'untag', id, id, e)
  }

  private children(id: Digest): Digest[] {
    const out: Digest[] = []
    for (const e of this.images.values()) if (e.record.parent === id) out.push(e.record.id)
    return out
  }

  /** Drops the record, then the layers and blobs no other image uses. */
  private async deleteImage(id: Digest, acc: { reclaimed: number }): Promise<void> {
    const e = this.images.get(id)
    if (!e) return
    await this.meta.deleteRecord(id)
    this.images.delete(id)
    for (const [k, v] of [...this.refs]) if (v === id) this.refs.delete(k)
    const used = await this.usedContent()
    // A forced rmi can leave a stopped container on these layers: keep them for it.
    const inUse = (await this.usage.containersUsing(id)).length > 0
    for (const l of e.record.layers) {
      if (!inUse && !used.layers.has(l.diffID)) {
        used.layers.add(l.diffID)
        try {
          const size = await this.layerSize(l.diffID)
          await this.layers.delete(l.diffID)
          this.layerSizes.delete(l.diffID)
          acc.reclaimed += size
        } catch {
          // garbage left behind is better than a failed rmi after the record is gone
        }
      }
      if (!used.blobs.has(l.blob)) {
        used.blobs.add(l.blob)
        await this.blobs.delete(l.blob).catch(() => undefined)
      }
    }
    if (!used.blobs.has(id)) await this.blobs.delete(id).catch(() => undefined)
    emitImageEvent(this.events, 'delete', id, id)
  }

  async remove(
    ref: string,
    opts: { force: boolean; noPrune: boolean },
  ): Promise<DeleteResponseItem[]> {
    return this.lock(async () => {
      const refsBefore = new Map(this.refs)
      try {
        return await removeImage(this.removal(), ref, opts.force, !opts.noPrune, {
          reclaimed: 0,
        })
      } finally {
        if (!sameMap(refsBefore, this.refs)) await this.writeRefs()
      }
    })
  }

  async prune(opts: {
    all: boolean
    filters: Record<string, string[]>
  }): Promise<{ deleted: DeleteResponseItem[]; spaceReclaimed: number }> {
    const r = await this.lock(async () => {
      try {
        return await pruneImages(this.removal(), opts)
      } finally {
        await this.writeRefs()
      }
    })
    emitImagePrune(this.events, r.spaceReclaimed)
    return r
  }

  // ---- garbage

  /**
   * Removes the blobs and layers that no image records: what an import, load or commit left
   * when a crash cut it short (nothing is recorded before its content is whole). Meant for
   * start-up, before any such operation can be under way (garbage.ts).
   */
  async collectGarbage(): Promise<{ blobs: number; layers: number }> {
    return collectUnused(await this.usedContent(), this)
  }

  release(candidates: { layers: Digest[]; blobs: Digest[] }): Promise<{ reclaimed: number }> {
    return this.lock(async () => {
      const used = await this.usedContent()
      let reclaimed = 0
      for (const d of new Set(candidates.layers)) {
        if (used.layers.has(d) || !(await this.layers.has(d))) continue
        try {
          const size = await this.layerSize(d)
          await this.layers.delete(d)
          this.layerSizes.delete(d)
          reclaimed += size
        } catch (err) {
          // A layer a container's read-write layer still sits on stays.
          if (!(err instanceof Conflict)) throw err
        }
      }
      for (const d of new Set(candidates.blobs)) {
        if (!used.blobs.has(d)) await this.blobs.delete(d).catch(() => undefined)
      }
      return { reclaimed }
    })
  }

  /** Blobs and layers any recorded image or any root (the build cache) holds, and pulls retain. */
  private usedContent(): Promise<UsedContent> {
    return usedContent(this.images.values(), this.roots, this.retained)
  }

  // ---- archives

  private archiveDeps() {
    return {
      blobs: this.blobs,
      layers: this.layers,
      ingest: this.ingest,
      images: this as ImageStore,
      platform: this.platform,
      ...(this.events ? { events: this.events } : {}),
    }
  }

  load(
    archive: Readable,
    opts: { signal?: AbortSignal; progress?: ProgressSink },
  ): Promise<{ loaded: string[] }> {
    return loadArchive(this.archiveDeps(), archive, opts)
  }

  save(refs: string[], opts: { signal?: AbortSignal }): Promise<Readable> {
    return saveArchive(this.archiveDeps(), refs, opts)
  }

  importRootfs(
    tar: Readable,
    opts: {
      changes: string[]
      message?: string
      tag?: string
      platform?: string
      signal?: AbortSignal
    },
  ): Promise<Image> {
    return importRootfs(this.archiveDeps(), tar, opts)
  }
}

function sameMap(a: Map<string, Digest>, b: Map<string, Digest>): boolean {
  if (a.size !== b.size) return false
  for (const [k, v] of a) if (b.get(k) !== v) return false
  return true
}
