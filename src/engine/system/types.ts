// What the engine and its host really have, as `GET /info` reports it: facts read from the
// host (cgroup version, the data root's filesystem) and the drivers the engine is wired with;
// and the space its objects take, as `GET /system/df` reports it.
import type { CacheRecordInfo } from '../builder/types.ts'
import type { Container } from '../container/types.ts'
import type { Image } from '../image/types.ts'
import type { Volume } from '../volume/types.ts'

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
}

/** The engine's answer to `GET /info`'s questions about itself and its host. */
export interface SystemApi extends DiskUsageApi {
  info(): Promise<SystemInfo>
}

/** What `GET /system/df` can be asked for (its `type` parameter). */
export type DiskUsageKind = 'container' | 'image' | 'volume' | 'build-cache'

/** An image with what `system df` adds: how many containers use it, and the space it shares. */
export interface ImageDiskUsage {
  image: Image
  containers: number
  /** Bytes of its layers that other images use too. */
  sharedSize: number
}

export interface ContainerDiskUsage {
  container: Container
  sizeRw: number
  sizeRootFs: number
}

/** The space each kind of object takes; only the kinds asked for are there. */
export interface DiskUsage {
  /** Bytes of every layer images use, each counted once. */
  layersSize?: number
  images?: ImageDiskUsage[]
  containers?: ContainerDiskUsage[]
  volumes?: Volume[]
  buildCache?: CacheRecordInfo[]
}

/** The space berth's objects take: `GET /system/df`. */
export interface DiskUsageApi {
  df(kinds: ReadonlySet<DiskUsageKind>): Promise<DiskUsage>
}
