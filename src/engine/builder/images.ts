// The image store as the builder sees it: base images by reference, and the result recorded with
// its tags at once; and FROM of an image that is not here, pulled through the registry client.
import { createHash } from 'node:crypto'
import type { Digest } from '../digest.ts'
import { NotFound } from '../errors.ts'
import type { Image, ImageCreator, ImageReader, LayerDescriptor } from '../image/types.ts'
import { parseNamed } from '../reference/reference.ts'
import type { AuthConfig, RegistryApi } from '../registry/types.ts'
import type { BaseImage, BuildImages, ImagePuller, LayerRef } from './types.ts'

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
      // An unchanged rebuild makes the image it made before: nothing to write (no blob, no
      // record, no references file and their syncs) when every tag already names it.
      const id = `sha256:${createHash('sha256').update(JSON.stringify(config)).digest('hex')}`
      const same = await images.get(id as Digest)
      if (same && (await allTagged(images, id, tags))) {
        for (const t of tags) opts.onTag?.(same, t)
        return same.id
      }
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

/** Whether every tag already names the image `id`. */
async function allTagged(images: ImageReader, id: string, tags: string[]): Promise<boolean> {
  for (const t of tags) {
    // With its tag spelled out, a name is never taken for a short image ID.
    const ref = /:[^/]*$/.test(t) ? t : `${t}:latest`
    const img = await images.resolve(ref).catch((err: unknown) => {
      if (err instanceof NotFound) return undefined
      throw err
    })
    if (img?.id !== id) return false
  }
  return true
}

/**
 * The builder's puller over the registry client: FROM of a missing image (or `--pull`) pulls
 * it as `docker pull` would, with the credentials the client sent for its registry (the
 * classic API's X-Registry-Config), and reports each layer's progress as a build line.
 */
export function pullerOver(registry: Pick<RegistryApi, 'pull'>): ImagePuller {
  return {
    async pull(ref, platform, signal, progress, auths) {
      const auth = auths && authFor(auths, ref)
      const [pulled] = await registry.pull(ref, {
        platform,
        signal,
        ...(auth ? { auth } : {}),
        progress: (p) => {
          // Only the lines docker's build output keeps (not each byte count).
          if (p.status && !p.progressDetail?.current) {
            progress(p.id ? `${p.id}: ${p.status}` : p.status)
          }
        },
      })
      if (!pulled) throw new NotFound(`pull access denied for ${ref}`)
      const img = pulled.image
      return { id: img.id, config: img.config, layers: img.layers.map(toRef) }
    },
  }
}

/** The credentials for a reference's registry; Docker Hub is filed as docker.io. */
function authFor(auths: ReadonlyMap<string, AuthConfig>, ref: string): AuthConfig | undefined {
  let domain: string
  try {
    domain = parseNamed(ref).domain
  } catch {
    return undefined
  }
  return auths.get(domain === 'index.docker.io' ? 'docker.io' : domain)
}
