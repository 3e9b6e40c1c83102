// The content the image store must keep (its records' blobs and layers, the content roots such
// as the build cache, what pulls under way retain), and the collection of everything else.
import type { BlobStore } from '../content/types.ts'
import type { Digest } from '../digest.ts'
import { Conflict } from '../errors.ts'
import type { LayerStore } from '../layer/types.ts'
import type { ImageRecord } from './records.ts'
import type { ContentRoot, RetainedContent } from './types.ts'

export interface UsedContent {
  blobs: Set<Digest>
  layers: Set<Digest>
}

/** Blobs and layers any recorded image or any root (the build cache) holds, and pulls retain. */
export async function usedContent(
  entries: Iterable<{ record: ImageRecord }>,
  roots: readonly ContentRoot[],
  retained: RetainedContent | undefined,
): Promise<UsedContent> {
  const blobs = new Set<Digest>(retained?.blobs())
  const layers = new Set<Digest>(retained?.layers())
  for (const e of entries) {
    blobs.add(e.record.id)
    for (const l of e.record.layers) {
      blobs.add(l.blob)
      layers.add(l.diffID)
    }
  }
  for (const root of roots) {
    const held = await root.held()
    for (const d of held.layers) layers.add(d)
    for (const d of held.blobs) blobs.add(d)
  }
  return { blobs, layers }
}

/**
 * Removes the blobs and layers outside `used`. A layer that a container still stands on (its
 * image was removed with -f) is kept: the layer store refuses to delete it.
 */
export async function collectUnused(
  used: UsedContent,
  store: { layers: LayerStore; blobs: BlobStore },
): Promise<{ blobs: number; layers: number }> {
  let layers = 0
  for (const l of await store.layers.list()) {
    if (used.layers.has(l.diffID)) continue
    try {
      await store.layers.delete(l.diffID)
      layers++
    } catch (err) {
      if (!(err instanceof Conflict)) throw err
    }
  }
  const orphans: Digest[] = []
  for await (const b of store.blobs.list()) if (!used.blobs.has(b.digest)) orphans.push(b.digest)
  for (const d of orphans) await store.blobs.delete(d)
  return { blobs: orphans.length, layers }
}
