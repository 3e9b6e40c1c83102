// The image store as the builder sees it: base images by reference, and the result recorded with
// its tags at once. Pull is added where the registry client is wired (BuildImages.pull).
import { NotFound } from '../errors.ts'
import type { Image, ImageCreator, ImageReader, LayerDescriptor } from '../image/types.ts'
import type { BaseImage, BuildImages, LayerRef } from './types.ts'

function toRef(l: LayerDescriptor): LayerRef {
  return { diffID: l.diffID, blob: l.blob, mediaType: l.mediaType, size: l.blobSize }
}

export function buildImagesOver(
  images: ImageReader & ImageCreator,
  /** Announces each tag the result takes (Docker's image `tag` event). */
  opts: { onTag?: (image: Image, tag: string) => void } = {},
): BuildImages {
  return {
    async find(ref: string): Promise<BaseImage | undefined> {
      try {
        const img = await images.resolve(ref)
        return { id: img.id, config: img.config, layers: img.layers.map(toRef) }
      } catch (err) {
        if (err instanceof NotFound) return undefined
        throw err
      }
    },
    async create(config, layers, tags) {
      const img = await images.create({
        config,
        layers: layers.map((l) => ({
          diffID: l.diffID,
          blob: l.blob,
          mediaType: l.mediaType,
          blobSize: l.size,
        })),
        tags,
      })
      for (const t of tags) opts.onTag?.(img, t)
      return img.id
    },
  }
}
