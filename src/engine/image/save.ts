// docker save: one tar with both docker-archive metadata (manifest.json, repositories) and an
// OCI image layout (oci-layout, index.json, blobs/sha256/...), as Docker 25+ writes it. Layers
// are written uncompressed (their blob digest is the diffID), each checked as it streams out.
import { PassThrough, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as tarStream from 'tar-stream'
import type { BlobStore } from '../content/types.ts'
import { hex, type Digest } from '../digest.ts'
import { InvalidArgument, NotFound } from '../errors.ts'
import type { EventSink } from '../events/types.ts'
import {
  familiarName,
  fullString,
  parseAnyReference,
  parseNamed,
  type Reference,
} from '../reference/reference.ts'
import { emitImageEvent } from './events.ts'
import { ANNOTATION, descriptorOf, encodeManifest, MEDIA, type Descriptor } from './manifest.ts'
import { countBytes, decompress, DigestCheck } from './streams.ts'
import type { Image, ImageReader } from './types.ts'

export interface SaveDeps {
  blobs: Pick<BlobStore, 'has' | 'open' | 'readAll'>
  images: ImageReader
  events?: EventSink
}

/** One image to write, with the tags it goes under. */
interface SaveItem {
  image: Image
  configBytes: Buffer
  tags: Reference[]
}

/**
 * Images and the tags to write for `save`, as Docker picks them: a bare repository name takes
 * every tag of it, a name:tag that one, an ID or digest the image untagged. NotFound before
 * anything is written.
 */
async function resolveForSave(store: SaveDeps, names: string[]): Promise<SaveItem[]> {
  const all = new Map((await store.images.list()).map((img) => [img.id, img]))
  const tagged = new Map<string, Digest>()
  for (const img of all.values()) for (const t of img.repoTags) tagged.set(t, img.id)
  const byId = new Map<Digest, Reference[]>()
  const add = (id: Digest, ref?: Reference) => {
    const list = byId.get(id) ?? []
    if (ref && !list.some((r) => r.familiar === ref.familiar)) list.push(ref)
    byId.set(id, list)
  }
  const resolved = async (name: string) => (await store.images.resolve(name)).id
  for (const name of names) {
    const any = parseAnyReference(name)
    if (any.kind === 'digest') {
      if (!all.has(any.digest)) throw new NotFound(`No such image: ${any.digest}`)
      add(any.digest)
      continue
    }
    const named = any.ref
    if (familiarName(named) === 'sha256' || named.digest !== undefined) {
      add(await resolved(name))
      continue
    }
    if (named.tag === undefined) {
      const tags = [...tagged]
        .filter(([k]) => familiarName(parseNamed(k)) === familiarName(named))
        .sort(([a], [b]) => (a < b ? -1 : 1))
      for (const [k, id] of tags) add(id, parseNamed(k))
      if (tags.length === 0) add(await resolved(name))
      continue
    }
    const id = tagged.get(named.familiar)
    if (id) add(id, named)
    else add(await resolved(name))
  }
  const out: SaveItem[] = []
  for (const [id, tags] of byId) {
    const image = all.get(id) ?? (await store.images.get(id))
    if (!image) throw new NotFound(`No such image: ${id}`)
    out.push({ image, configBytes: await store.blobs.readAll(id), tags })
  }
  return out
}

export async function saveArchive(
  store: SaveDeps,
  refs: string[],
  opts: { signal?: AbortSignal },
): Promise<Readable> {
  if (refs.length === 0) throw new InvalidArgument('no images specified')
  const items = await resolveForSave(store, refs)
  // Sizes of the uncompressed layer tars go in the tar headers, so learn them before writing.
  // Ingest records them; only layers recorded before it did are measured here.
  for (const it of items) {
    const layers = []
    for (const l of it.image.layers) {
      if (!(await store.blobs.has(l.blob)))
        throw new NotFound(`layer blob ${l.blob} of image ${it.image.id} is missing`)
      if (l.diffSize !== undefined) {
        layers.push(l)
        continue
      }
      const { stream, compression } = await decompress(await store.blobs.open(l.blob))
      const diffSize = compression === 'none' ? l.blobSize : await countBytes(stream)
      if (compression === 'none') stream.destroy()
      layers.push({ ...l, diffSize })
    }
    it.image = { ...it.image, layers }
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
  store: SaveDeps,
  items: SaveItem[],
  pack: tarStream.Pack,
): Promise<void> {
  const written = new Set<string>()
  const manifestJson: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = []
  const indexEntries: Descriptor[] = []
  const repositories: Record<string, Record<string, string>> = {}
  pack.entry({ name: 'blobs/', type: 'directory', mode: 0o755, mtime: EPOCH })
  pack.entry({ name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime: EPOCH })
  for (const it of items) {
    const id = it.image.id
    const configPath = `blobs/sha256/${hex(id)}`
    if (!written.has(configPath)) {
      await addFile(pack, configPath, it.configBytes)
      written.add(configPath)
    }
    const layerPaths: string[] = []
    const layerDescs: Descriptor[] = []
    for (const l of it.image.layers) {
      const path = `blobs/sha256/${hex(l.diffID)}`
      layerPaths.push(path)
      layerDescs.push({ mediaType: MEDIA.layer.none, digest: l.diffID, size: l.diffSize! })
      if (written.has(path)) continue
      written.add(path)
      const { stream } = await decompress(await store.blobs.open(l.blob))
      const entry = pack.entry({ name: path, size: l.diffSize, mode: 0o644, mtime: EPOCH })
      await pipeline(stream, new DigestCheck({ digest: l.diffID }), entry)
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
      repositories[fam][t.tag ?? 'latest'] = hex(it.image.layers.at(-1)?.diffID ?? id)
    }
    manifestJson.push({
      Config: configPath,
      RepoTags: it.tags.length > 0 ? it.tags.map((t) => t.familiar) : null,
      Layers: layerPaths,
    })
    emitImageEvent(store.events, 'save', id, id, it.image)
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
