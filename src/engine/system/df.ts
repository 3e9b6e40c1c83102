// `docker system df`'s facts, as moby's SystemDiskUsage gathers them: the images with the
// containers using each and the bytes they share with other images, the size of every layer
// once, the containers with the sizes of their writable layers, the volumes with theirs, and
// the build cache's records.
import type { CacheRecordInfo } from '../builder/types.ts'
import type { Container } from '../container/types.ts'
import type { Digest } from '../digest.ts'
import type { Image } from '../image/types.ts'
import type { Volume } from '../volume/types.ts'
import type { DiskUsage, DiskUsageApi, DiskUsageKind } from './types.ts'

export interface DiskUsageDeps {
  images: { list(): Promise<Image[]> }
  /** The unpacked size of one layer. */
  layerSize(diffID: Digest): Promise<number>
  containers: {
    list(): Promise<Container[]>
    sizes(ref: string): Promise<{ rw: number; rootfs: number }>
  }
  volumes: { usage(): Promise<Volume[]> }
  /** The builder's cache (absent in an engine without a builder). */
  builder?: { cacheUsage(): Promise<CacheRecordInfo[]> }
}

export class DiskUsageReport implements DiskUsageApi {
  constructor(private readonly deps: DiskUsageDeps) {}

  async diskUsage(kinds?: ReadonlySet<DiskUsageKind>): Promise<DiskUsage> {
    const want = (k: DiskUsageKind): boolean => kinds === undefined || kinds.has(k)
    const out: DiskUsage = {}
    const containers = await this.deps.containers.list()
    if (want('image')) {
      // Newest first, as dockerd lists them.
      const images = (await this.deps.images.list()).sort(
        (a, b) => createdMs(b.config.created) - createdMs(a.config.created),
      )
      const sizes = new Map<Digest, number>()
      const users = new Map<Digest, number>()
      for (const img of images) {
        for (const l of img.layers) {
          if (!sizes.has(l.diffID)) sizes.set(l.diffID, await this.deps.layerSize(l.diffID))
          users.set(l.diffID, (users.get(l.diffID) ?? 0) + 1)
        }
      }
      let layersSize = 0
      for (const s of sizes.values()) layersSize += s
      out.layersSize = layersSize
      out.images = images.map((image) => {
        let shared = 0
        for (const l of new Set(image.layers.map((x) => x.diffID))) {
          if ((users.get(l) ?? 0) > 1) shared += sizes.get(l) ?? 0
        }
        return {
          image,
          containers: containers.filter((c) => c.image === image.id).length,
          sharedSize: shared,
        }
      })
    }
    if (want('container')) {
      out.containers = []
      const newest = [...containers].sort((a, b) => createdMs(b.created) - createdMs(a.created))
      for (const c of newest) {
        const size = await this.deps.containers.sizes(c.id).catch(() => ({ rw: 0, rootfs: 0 }))
        out.containers.push({ container: c, ...size })
      }
    }
    if (want('volume')) out.volumes = await this.deps.volumes.usage()
    if (want('build-cache')) out.buildCache = (await this.deps.builder?.cacheUsage()) ?? []
    return out
  }
}

function createdMs(iso: string | undefined): number {
  const t = Date.parse(iso ?? '')
  return Number.isNaN(t) ? 0 : t
}
