// The space berth's objects take, as `docker system df` shows it: images with the containers
// that use them and the layers they share, the layers' total counted once, containers' own
// layers, volumes, and the build cache (whose layers an image shares are marked so, and counted
// with the images).
import type { BuildApi } from '../builder/types.ts'
import type { ContainerApi } from '../container/types.ts'
import type { Digest } from '../digest.ts'
import type { ImageReader } from '../image/types.ts'
import type { VolumeApi } from '../volume/types.ts'
import type { DiskUsage, DiskUsageApi, DiskUsageKind } from './types.ts'

export interface DiskUsageDeps {
  images: Pick<ImageReader, 'list'>
  /** Unpacked bytes of a layer (0 when it is gone). */
  layerSize(diffID: Digest): Promise<number>
  containers: Pick<ContainerApi, 'list' | 'sizes'>
  volumes: Pick<VolumeApi, 'usage'>
  /** Absent in an engine without a builder. */
  builder?: Pick<BuildApi, 'cacheUsage'>
}

export class EngineDiskUsage implements DiskUsageApi {
  constructor(private readonly deps: DiskUsageDeps) {}

  async df(kinds: ReadonlySet<DiskUsageKind>): Promise<DiskUsage> {
    const { deps } = this
    const out: DiskUsage = {}
    const all = kinds.size === 0
    const containers =
      all || kinds.has('image') || kinds.has('container') ? await deps.containers.list() : []
    if (all || kinds.has('image')) {
      const images = await deps.images.list()
      const users = new Map<Digest, number>()
      for (const layer of images.flatMap((i) => i.layers.map((l) => l.diffID)))
        users.set(layer, (users.get(layer) ?? 0) + 1)
      const sizes = new Map<Digest, number>()
      for (const d of users.keys()) sizes.set(d, await deps.layerSize(d))
      out.layersSize = [...sizes.values()].reduce((a, b) => a + b, 0)
      out.images = images.map((image) => ({
        image,
        containers: containers.filter((c) => c.image === image.id).length,
        sharedSize: image.layers
          .filter((l) => (users.get(l.diffID) ?? 0) > 1)
          .reduce((n, l) => n + (sizes.get(l.diffID) ?? 0), 0),
      }))
    }
    if (all || kinds.has('container')) {
      out.containers = []
      for (const c of containers) {
        const s = await deps.containers.sizes(c.id)
        out.containers.push({ container: c, sizeRw: s.rw, sizeRootFs: s.rootfs })
      }
    }
    if (all || kinds.has('volume')) out.volumes = await deps.volumes.usage()
    if (all || kinds.has('build-cache')) out.buildCache = (await deps.builder?.cacheUsage()) ?? []
    return out
  }
}
