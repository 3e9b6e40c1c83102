// The image store: images keyed by config digest, their config blobs in the content store, one
// metadata record per image and one references file, both written atomically.
import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { BlobStore } from '../content/types.ts'
import { hex, isDigest, shortId, type Digest } from '../digest.ts'
import { Conflict, InvalidArgument, isBerthError, NotFound } from '../errors.ts'
import { readJson, writeJsonAtomic } from '../fsutil.ts'
import { faultPoint } from '../fault.ts'
import { parsed } from '../grammar.ts'
import { timestampNanos } from '../../lib/timestamp.ts'
import type { LayerStore } from '../layer/types.ts'
import {
  familiarName,
  parseAnyReference,
  parseNamed,
  tagNameOnly,
  type Reference,
} from '../reference/reference.ts'
import { importRootfs, loadArchive, saveArchive } from './archive.ts'
import type {
  DeleteResponseItem,
  Image,
  ImageConfig,
  ImageStore,
  ImageUsage,
  LayerDescriptor,
  ProgressSink,
} from './types.ts'

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

export interface LocalImageStoreOptions {
  /** e.g. <dataRoot>/images */
  dir: string
  blobs: BlobStore
  layers: LayerStore
  usage: ImageUsage
  platform?: Platform
}

/** A layer as recorded: the descriptor plus the size of its uncompressed tar once known. */
export interface StoredLayer extends LayerDescriptor {
  diffSize?: number
}

export interface ImageRecord {
  id: Digest
  layers: StoredLayer[]
  parent?: Digest
  addedAt: string
  repoDigests: string[]
}

interface Entry {
  record: ImageRecord
  config: ImageConfig
}

/** An image made from an archive or import, before it is recorded. */
export interface NewImage {
  configDigest: Digest
  layers: StoredLayer[]
  tags: Reference[]
}

/** What save needs of one image. */
export interface SaveItem {
  record: ImageRecord
  configBytes: Buffer
  tags: Reference[]
}

const GOARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
}

export function hostPlatform(): Platform {
  const p: Platform = { os: 'linux', architecture: GOARCH[process.arch] ?? process.arch }
  if (process.arch === 'arm') p.variant = 'v7'
  return p
}

interface DeleteConflict {
  hard: boolean
  used: boolean
  message: string
}

const CONFLICT_CHILD = 1
const CONFLICT_RUNNING = 2
const CONFLICT_REFERENCE = 4
const CONFLICT_STOPPED = 8
const CONFLICT_HARD = CONFLICT_CHILD | CONFLICT_RUNNING
const CONFLICT_SOFT = CONFLICT_REFERENCE | CONFLICT_STOPPED

export class LocalImageStore implements ImageStore {
  readonly dir: string
  readonly blobs: BlobStore
  readonly layers: LayerStore
  readonly platform: Platform
  private readonly usage: ImageUsage
  private readonly recordDir: string
  private readonly refsFile: string
  private images = new Map<Digest, Entry>()
  /** familiar tagged reference ("busybox:latest") → image ID */
  private refs = new Map<string, Digest>()
  private layerSizes = new Map<Digest, number>()
  private queue: Promise<unknown> = Promise.resolve()

  constructor(opts: LocalImageStoreOptions) {
    this.dir = opts.dir
    this.blobs = opts.blobs
    this.layers = opts.layers
    this.usage = opts.usage
    this.platform = opts.platform ?? hostPlatform()
    this.recordDir = join(opts.dir, 'metadata')
    this.refsFile = join(opts.dir, 'references.json')
  }

  /** Reads the records and references from disk. Call once, after the blob store's init(). */
  async init(): Promise<void> {
    await mkdir(this.recordDir, { recursive: true })
    const images = new Map<Digest, Entry>()
    for (const name of await readdir(this.recordDir)) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) {
        // A temporary file left by a crash during writeJsonAtomic.
        if (name.startsWith('.tmp-')) await rm(join(this.recordDir, name), { force: true })
        continue
      }
      const record = await readJson<ImageRecord>(join(this.recordDir, name))
      if (!record || !isDigest(record.id)) continue
      let config: ImageConfig
      try {
        config = JSON.parse((await this.blobs.readAll(record.id)).toString('utf8')) as ImageConfig
      } catch {
        continue // its config blob is gone: the record is unusable
      }
      images.set(record.id, { record, config })
    }
    const stored = (await readJson<{ refs: Record<string, string> }>(this.refsFile))?.refs ?? {}
    const refs = new Map<string, Digest>()
    for (const [k, v] of Object.entries(stored)) {
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

  private async writeRecord(r: ImageRecord): Promise<void> {
    await writeJsonAtomic(join(this.recordDir, `${hex(r.id)}.json`), r)
  }

  private async writeRefs(): Promise<void> {
    const refs: Record<string, string> = {}
    for (const [k, v] of [...this.refs].sort(([a], [b]) => (a < b ? -1 : 1))) refs[k] = v
    await writeJsonAtomic(this.refsFile, { refs })
  }

  private static parseTag(s: string): Reference {
    const ref = parseNamed(s)
    if (ref.digest !== undefined)
      throw new InvalidArgument('refusing to create a tag with a digest reference')
    return tagNameOnly(ref)
  }

  async create(input: {
    config: ImageConfig
    layers: LayerDescriptor[]
    tags?: string[]
    parent?: Digest
    repoDigests?: string[]
    configDigest?: Digest
  }): Promise<Image> {
    const tags = (input.tags ?? []).map((t) => LocalImageStore.parseTag(t))
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
      await this.record(
        { configDigest: id, layers: input.layers, tags },
        config,
        input.parent,
        repoDigests,
      )
      return this.toImage(this.images.get(id)!)
    })
  }

  /** Records (or merges into) an image and moves its tags; caller holds the lock. */
  private async record(
    n: NewImage,
    config: ImageConfig,
    parent?: Digest,
    repoDigests: string[] = [],
    progress?: ProgressSink,
  ): Promise<void> {
    const old = this.images.get(n.configDigest)
    const record: ImageRecord = old
      ? { ...old.record, repoDigests: [...new Set([...old.record.repoDigests, ...repoDigests])] }
      : { id: n.configDigest, layers: n.layers, addedAt: new Date().toISOString(), repoDigests }
    if (!old && parent && this.images.has(parent)) record.parent = parent
    await this.writeRecord(record)
    this.images.set(record.id, { record, config })
    if (n.tags.length > 0) {
      for (const t of n.tags) {
        const prev = this.refs.get(t.familiar)
        if (prev !== undefined && prev !== record.id) {
          progress?.({
            stream: `The image ${t.familiar} already exists, renaming the old one with ID ${prev} to empty string\n`,
          })
        }
        this.refs.set(t.familiar, record.id)
      }
      await this.writeRefs()
    }
  }

  /** Records images built by load; emits Docker's load messages. */
  async recordLoaded(items: NewImage[], progress?: ProgressSink): Promise<string[]> {
    const configs: ImageConfig[] = []
    for (const n of items)
      configs.push(
        JSON.parse((await this.blobs.readAll(n.configDigest)).toString('utf8')) as ImageConfig,
      )
    return this.lock(async () => {
      const loaded: string[] = []
      for (const [i, n] of items.entries()) {
        await this.record(n, configs[i], undefined, [], progress)
        faultPoint('load.mid-record')
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
    })
  }

  async tag(source: string, target: string): Promise<void> {
    const e = this.resolveEntry(source)
    const t = LocalImageStore.parseTag(target)
    await this.lock(async () => {
      if (!this.images.has(e.record.id)) throw new NotFound(`No such image: ${source}`)
      this.refs.set(t.familiar, e.record.id)
      await this.writeRefs()
    })
  }

  // ---- removing

  /** Tag and digest references of an image, as parsed references. */
  private repoRefs(id: Digest): Reference[] {
    const out = this.tagsOf(id).map((t) => parseNamed(t))
    for (const d of this.images.get(id)?.record.repoDigests ?? []) out.push(parseNamed(d))
    return out
  }

  private async dropRef(id: Digest, ref: Reference): Promise<void> {
    if (ref.digest !== undefined) {
      const e = this.images.get(id)
      if (!e) return
      const s = `${familiarName(ref)}@${ref.digest}`
      e.record = { ...e.record, repoDigests: e.record.repoDigests.filter((d) => d !== s) }
      await this.writeRecord(e.record)
    } else {
      this.refs.delete(tagNameOnly(ref).familiar)
    }
  }

  private children(id: Digest): Digest[] {
    const out: Digest[] = []
    for (const e of this.images.values()) if (e.record.parent === id) out.push(e.record.id)
    return out
  }

  private isDangling(id: Digest): boolean {
    return this.repoRefs(id).length === 0 && this.children(id).length === 0
  }

  private async checkConflict(id: Digest, mask: number): Promise<DeleteConflict | undefined> {
    if (mask & CONFLICT_CHILD && this.children(id).length > 0) {
      return { hard: true, used: false, message: 'image has dependent child images' }
    }
    const ctrs =
      mask & (CONFLICT_RUNNING | CONFLICT_STOPPED) ? await this.usage.containersUsing(id) : []
    if (mask & CONFLICT_RUNNING) {
      const c = ctrs.find((c) => c.running)
      if (c)
        return {
          hard: true,
          used: true,
          message: `image is being used by running container ${shortId(c.id)}`,
        }
    }
    if (mask & CONFLICT_REFERENCE && this.repoRefs(id).length > 0) {
      return { hard: false, used: false, message: 'image is referenced in multiple repositories' }
    }
    if (mask & CONFLICT_STOPPED) {
      const c = ctrs.find((c) => !c.running)
      if (c)
        return {
          hard: false,
          used: true,
          message: `image is being used by stopped container ${shortId(c.id)}`,
        }
    }
    return undefined
  }

  private static conflictError(id: Digest, c: DeleteConflict): Conflict {
    const force = c.hard ? 'cannot be forced' : 'must be forced'
    return new Conflict(`conflict: unable to delete ${shortId(id)} (${force}) - ${c.message}`)
  }

  async remove(
    ref: string,
    opts: { force: boolean; noPrune: boolean },
  ): Promise<DeleteResponseItem[]> {
    return this.lock(async () => {
      const refsBefore = new Map(this.refs)
      try {
        return await this.removeLocked(ref, opts.force, !opts.noPrune, { reclaimed: 0 })
      } finally {
        if (!sameMap(refsBefore, this.refs)) await this.writeRefs()
      }
    })
  }

  /** moby's ImageDelete (daemon/images/image_delete.go); the caller holds the lock. */
  private async removeLocked(
    refStr: string,
    force: boolean,
    prune: boolean,
    acc: { reclaimed: number },
  ): Promise<DeleteResponseItem[]> {
    const id = this.resolveEntry(refStr).record.id
    const records: DeleteResponseItem[] = []
    let removedRepositoryRef = false
    if (!isImageIdPrefix(id, refStr)) {
      if (!force && isSingleReference(this.repoRefs(id))) {
        const ctrs = await this.usage.containersUsing(id)
        if (ctrs.length > 0) {
          throw new Conflict(
            `conflict: unable to remove repository reference "${refStr}" (must force) - container ${shortId(ctrs[0].id)} is using its referenced image ${shortId(id)}`,
          )
        }
      }
      let parsed = parseNamed(refStr)
      if (parsed.digest === undefined) parsed = tagNameOnly(parsed)
      await this.dropRef(id, parsed)
      records.push({ Untagged: parsed.familiar })
      let remaining = this.repoRefs(id)
      if (parsed.digest === undefined) {
        const sameNameTag = remaining.some((r) => r.digest === undefined && r.name === parsed.name)
        if (!sameNameTag) {
          const keep: Reference[] = []
          for (const r of remaining) {
            if (r.digest !== undefined && r.name === parsed.name) {
              await this.dropRef(id, r)
              records.push({ Untagged: r.familiar })
            } else keep.push(r)
          }
          remaining = keep
        }
      }
      if (remaining.length > 0) return records
      removedRepositoryRef = true
    } else {
      const refs = this.repoRefs(id)
      if (isSingleReference(refs)) {
        let mask = CONFLICT_HARD
        if (!force) mask |= CONFLICT_SOFT & ~CONFLICT_REFERENCE
        const c = await this.checkConflict(id, mask)
        if (c) throw LocalImageStore.conflictError(id, c)
        for (const r of refs) {
          await this.dropRef(id, r)
          records.push({ Untagged: r.familiar })
        }
      }
    }
    await this.deleteHelper(id, records, force, prune, removedRepositoryRef, acc)
    return records
  }

  private async deleteHelper(
    id: Digest,
    records: DeleteResponseItem[],
    force: boolean,
    prune: boolean,
    quiet: boolean,
    acc: { reclaimed: number },
  ): Promise<void> {
    let mask = CONFLICT_HARD
    if (!force) mask |= CONFLICT_SOFT
    const c = await this.checkConflict(id, mask)
    if (c) {
      if (quiet && (!this.isDangling(id) || c.used)) return
      throw LocalImageStore.conflictError(id, c)
    }
    const e = this.images.get(id)
    if (!e) return
    const parent = e.record.parent
    for (const r of this.repoRefs(id)) {
      await this.dropRef(id, r)
      records.push({ Untagged: r.familiar })
    }
    await this.deleteImage(e, acc)
    records.push({ Deleted: id })
    if (!prune || !parent || !this.images.has(parent)) return
    await this.deleteHelper(parent, records, false, true, true, acc)
  }

  /** Drops the record, then the layers and blobs no other image uses. */
  private async deleteImage(e: Entry, acc: { reclaimed: number }): Promise<void> {
    const id = e.record.id
    await rm(join(this.recordDir, `${hex(id)}.json`), { force: true })
    this.images.delete(id)
    for (const [k, v] of [...this.refs]) if (v === id) this.refs.delete(k)
    const usedLayers = new Set<Digest>()
    const usedBlobs = new Set<Digest>()
    for (const o of this.images.values()) {
      usedBlobs.add(o.record.id)
      for (const l of o.record.layers) {
        usedLayers.add(l.diffID)
        usedBlobs.add(l.blob)
      }
    }
    // A forced rmi can leave a stopped container on these layers: keep them for it.
    const inUse = (await this.usage.containersUsing(id)).length > 0
    for (const l of e.record.layers) {
      if (!inUse && !usedLayers.has(l.diffID)) {
        usedLayers.add(l.diffID)
        try {
          const size = await this.layerSize(l.diffID)
          await this.layers.delete(l.diffID)
          this.layerSizes.delete(l.diffID)
          acc.reclaimed += size
        } catch {
          // garbage left behind is better than a failed rmi after the record is gone
        }
      }
      if (!usedBlobs.has(l.blob)) {
        usedBlobs.add(l.blob)
        await this.blobs.delete(l.blob).catch(() => undefined)
      }
    }
    if (!usedBlobs.has(id)) await this.blobs.delete(id).catch(() => undefined)
  }

  async prune(opts: {
    all: boolean
    filters: Record<string, string[]>
  }): Promise<{ deleted: DeleteResponseItem[]; spaceReclaimed: number }> {
    let all = opts.all
    let until: number | undefined
    const labels: string[] = []
    const notLabels: string[] = []
    for (const [k, vals] of Object.entries(opts.filters)) {
      switch (k) {
        case 'dangling':
          for (const v of vals) {
            if (!['true', 'false', '1', '0'].includes(v.toLowerCase())) {
              throw new InvalidArgument(`invalid filter 'dangling=${v}'`)
            }
            if (['false', '0'].includes(v.toLowerCase())) all = true
          }
          break
        case 'until':
          for (const v of vals) until = parseUntil(v)
          break
        case 'label':
          labels.push(...vals)
          break
        case 'label!':
          notLabels.push(...vals)
          break
        default:
          throw new InvalidArgument(`invalid filter '${k}'`)
      }
    }
    return this.lock(async () => {
      const deleted: DeleteResponseItem[] = []
      const acc = { reclaimed: 0 }
      const candidates = [...this.images.values()].filter(
        (e) => all || this.children(e.record.id).length === 0,
      )
      for (const e of candidates) {
        const id = e.record.id
        if (!this.images.has(id)) continue
        if (until !== undefined) {
          const created = e.config.created ? Date.parse(e.config.created) : NaN
          if (!Number.isNaN(created) && created > until) continue
        }
        const lbls = e.config.config?.Labels ?? {}
        if (!labels.every((l) => matchLabel(lbls, l))) continue
        if (notLabels.some((l) => matchLabel(lbls, l))) continue
        if ((await this.usage.containersUsing(id)).length > 0) continue
        const refs = this.repoRefs(id)
        const targets: string[] = []
        if (refs.length > 0) {
          const hasTag = refs.some((r) => r.digest === undefined)
          if (all || !hasTag) for (const r of refs) targets.push(r.familiar)
        } else {
          targets.push(hex(id))
        }
        for (const t of targets) {
          try {
            deleted.push(...(await this.removeLocked(t, false, true, acc)))
          } catch (err) {
            if (isBerthError(err) && (err.status === 404 || err.status === 409)) continue
            throw err
          }
        }
      }
      await this.writeRefs()
      return { deleted, spaceReclaimed: acc.reclaimed }
    })
  }

  // ---- archives

  /** Images and the tags to write for `save`; NotFound before anything is written. */
  async resolveForSave(names: string[]): Promise<SaveItem[]> {
    const byId = new Map<Digest, Reference[]>()
    const add = (id: Digest, ref?: Reference) => {
      const list = byId.get(id) ?? []
      if (ref && !list.some((r) => r.familiar === ref.familiar)) list.push(ref)
      byId.set(id, list)
    }
    for (const name of names) {
      const any = parseAnyReference(name)
      if (any.kind === 'digest') {
        if (!this.images.has(any.digest)) throw new NotFound(`No such image: ${any.digest}`)
        add(any.digest)
        continue
      }
      const named = any.ref
      if (familiarName(named) === 'sha256' || named.digest !== undefined) {
        add(this.resolveEntry(name).record.id)
        continue
      }
      if (named.tag === undefined) {
        const tagged = [...this.refs]
          .filter(([k]) => familiarName(parseNamed(k)) === familiarName(named))
          .sort(([a], [b]) => (a < b ? -1 : 1))
        for (const [k, id] of tagged) add(id, parseNamed(k))
        if (tagged.length === 0) add(this.resolveEntry(name).record.id)
        continue
      }
      const id = this.refs.get(named.familiar)
      if (id) add(id, named)
      else add(this.resolveEntry(name).record.id)
    }
    const out: SaveItem[] = []
    for (const [id, tags] of byId) {
      const e = this.images.get(id)
      if (!e) throw new NotFound(`No such image: ${id}`)
      out.push({ record: e.record, configBytes: await this.blobs.readAll(id), tags })
    }
    return out
  }

  /** Remembers uncompressed layer sizes that save had to measure. */
  async rememberDiffSizes(id: Digest, sizes: Map<Digest, number>): Promise<void> {
    await this.lock(async () => {
      const e = this.images.get(id)
      if (!e) return
      e.record = {
        ...e.record,
        layers: e.record.layers.map((l) => ({ ...l, diffSize: l.diffSize ?? sizes.get(l.diffID) })),
      }
      await this.writeRecord(e.record)
    })
  }

  /**
   * Removes the blobs and layers that no image records: what an import, load or commit left
   * when a crash cut it short (nothing is recorded before its content is whole). Meant for
   * start-up, before any such operation can be under way. A layer that a container still
   * stands on (its image was removed with -f) is kept: the layer store refuses to delete it.
   */
  async collectGarbage(): Promise<{ blobs: number; layers: number }> {
    const used = this.usedContent()
    let layers = 0
    for (const l of await this.layers.list()) {
      if (used.layers.has(l.diffID)) continue
      try {
        await this.layers.delete(l.diffID)
        layers++
      } catch (err) {
        if (!(err instanceof Conflict)) throw err
      }
    }
    const orphans: Digest[] = []
    for await (const b of this.blobs.list()) if (!used.blobs.has(b.digest)) orphans.push(b.digest)
    for (const d of orphans) await this.blobs.delete(d)
    return { blobs: orphans.length, layers }
  }

  /** Blobs and layers any recorded image uses, for garbage collection after a failed load. */
  usedContent(): { blobs: Set<Digest>; layers: Set<Digest> } {
    const blobs = new Set<Digest>()
    const layers = new Set<Digest>()
    for (const e of this.images.values()) {
      blobs.add(e.record.id)
      for (const l of e.record.layers) {
        blobs.add(l.blob)
        layers.add(l.diffID)
      }
    }
    return { blobs, layers }
  }

  load(
    archive: Readable,
    opts: { signal?: AbortSignal; progress?: ProgressSink },
  ): Promise<{ loaded: string[] }> {
    return loadArchive(this, archive, opts)
  }

  save(refs: string[], opts: { signal?: AbortSignal }): Promise<Readable> {
    return saveArchive(this, refs, opts)
  }

  async importRootfs(
    tar: Readable,
    opts: {
      changes: string[]
      message?: string
      tag?: string
      platform?: string
      signal?: AbortSignal
    },
  ): Promise<Image> {
    const tag = opts.tag ? LocalImageStore.parseTag(opts.tag) : undefined
    const made = await importRootfs(this, tar, opts)
    await this.lock(() => this.record({ ...made, tags: tag ? [tag] : [] }, made.config))
    return this.toImage(this.images.get(made.configDigest)!)
  }
}

function sameMap(a: Map<string, Digest>, b: Map<string, Digest>): boolean {
  if (a.size !== b.size) return false
  for (const [k, v] of a) if (b.get(k) !== v) return false
  return true
}

/** moby's isImageIDPrefix: the reference names the image by (a prefix of) its ID. */
function isImageIdPrefix(id: Digest, s: string): boolean {
  return id.startsWith(s) || hex(id).startsWith(s)
}

/** moby's isSingleReference: one tag, alone or with digests of the same repository. */
function isSingleReference(refs: Reference[]): boolean {
  if (refs.length <= 1) return refs.length === 1
  let single: Reference | undefined
  const canonical = new Set<string>()
  for (const r of refs) {
    if (r.digest !== undefined) canonical.add(r.name)
    else if (single === undefined) single = r
    else return false
  }
  single ??= refs[0]
  return canonical.size === 1 && canonical.has(single.name)
}

function matchLabel(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=')
  if (eq < 0) return Object.hasOwn(labels, filter)
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1)
}

/** Docker's `until` filter value (a Go duration ago, a date, or unix seconds) in unix ms. */
function parseUntil(v: string): number {
  return Number(parsed(() => timestampNanos(v))) / 1e6
}
