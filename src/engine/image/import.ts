// docker import: a root filesystem tar (plain, gzip or zstd) becomes a one-layer image. The tar
// goes through the ingest path as a blob (stored as it came, unpacked in the same pass).
import type { Readable } from 'node:stream'
import type { BlobStore } from '../content/types.ts'
import { InvalidArgument } from '../errors.ts'
import type { EventSink } from '../events/types.ts'
import { faultPoint } from '../fault.ts'
import { applyChanges } from './changes.ts'
import { emitImageEvent } from './events.ts'
import { asLoadError } from './load.ts'
import { parsePlatform, type Platform } from './manifest.ts'
import { parseTag } from './tags.ts'
import type { Image, ImageConfig, ImageCreator, LayerDescriptor, LayerIngest } from './types.ts'

export interface ImportDeps {
  blobs: Pick<BlobStore, 'put'>
  ingest: LayerIngest
  images: ImageCreator
  /** The platform the image is for when the request names none. */
  platform: Platform
  events?: EventSink
}

/** import's --platform: containerd's specifier; only Linux images run here. */
function importPlatform(s: string | undefined, def: Platform): Platform {
  if (!s) return def
  const p = parsePlatform(s)
  if (p.os !== 'linux') throw new InvalidArgument(`operating system is not supported: ${p.os}`)
  return { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) }
}

export async function importRootfs(
  store: ImportDeps,
  tar: Readable,
  opts: {
    changes: string[]
    message?: string
    tag?: string
    platform?: string
    signal?: AbortSignal
  },
): Promise<Image> {
  // Everything the request says is checked before the tar is read.
  const tag = opts.tag ? parseTag(opts.tag) : undefined
  const platform = importPlatform(opts.platform, store.platform)
  const runConfig = applyChanges({}, opts.changes)
  let layer: LayerDescriptor
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
  const image = await store.images.create({
    config,
    configDigest: configInfo.digest,
    layers: [layer],
    tags: tag ? [tag.familiar] : [],
  })
  // Docker tags the new image, then reports the import.
  if (tag) emitImageEvent(store.events, 'tag', image.id, tag.familiar, image)
  emitImageEvent(store.events, 'import', image.id, image.id, image)
  return image
}
