// What the engine and its host really have, as `GET /info` reports it: facts read from the
// host (cgroup version, the data root's filesystem) and the drivers the engine is wired with.
import type { Container } from '../container/types.ts'
import type { Image } from '../image/types.ts'
import type { Volume } from '../volume/types.ts'
import type { CacheRecordInfo } from '../builder/types.ts'
import type { GpuInventory } from '../gpu/types.ts'

export interface SystemInfo {
  /** "2" on a unified cgroup v2 host; "1" on a legacy or hybrid one (Docker's rule). */
  cgroupVersion: '1' | '2'
  /** Who manages the containers' cgroups: berth writes them itself (runc's cgroupfs driver). */
  cgroupDriver: 'cgroupfs' | 'systemd'
  /** The storage driver, and its status lines as `docker info` prints them. */
  storageDriver: string
  driverStatus: [string, string][]
  /** The drivers this engine has: Docker's Plugins section. */
  plugins: { volume: string[]; network: string[]; log: string[] }
  /** What serves --gpus and CDI names: the GPUs, who provides them, the CDI devices. */
  gpus?: GpuInventory
  /** berthd runs without root (a user's own, in a user namespace): Docker's name=rootless. */
  rootless?: boolean
  /** Whether memory, CPU and pids limits can be applied (false rootless on this kind of host). */
  resourceLimits?: boolean
}

/** The engine's answer to `GET /info`'s questions about itself and its host. */
export interface SystemApi {
  info(): Promise<SystemInfo>
}

/** What `GET /system/df?type=` may ask for. */
export type DiskUsageKind = 'image' | 'container' | 'volume' | 'build-cache'

/** moby's SystemDiskUsage, in the engine's terms; the API writes Docker's shape. */
export interface DiskUsage {
  /** Every layer's unpacked size, once. */
  layersSize?: number
  images?: { image: Image; containers: number; sharedSize: number }[]
  containers?: { container: Container; rw: number; rootfs: number }[]
  volumes?: Volume[]
  /** The builder's cache records (none when the engine has no builder). */
  buildCache?: CacheRecordInfo[]
}

/** `docker system df`: what the images, containers and volumes hold on disk. */
export interface DiskUsageApi {
  diskUsage(kinds?: ReadonlySet<DiskUsageKind>): Promise<DiskUsage>
}
