import type { ContainerApi, ExecApi } from './container/types.ts'
import type { ImageStore } from './image/types.ts'
import type { VolumeApi } from './volume/types.ts'
import type { ContainerFilesApi } from './container/files.ts'
import type { LifecycleApi } from './container/lifecycle.ts'
import type { EventsApi } from './events/types.ts'
import type { NetworkApi } from './network/types.ts'
import type { SystemApi } from './system/types.ts'

export interface EngineCounts {
  containers: number
  running: number
  paused: number
  stopped: number
  images: number
}

/** What the API layer is given: the engine's parts, each behind its interface. */
export interface Engine {
  readonly dataRoot: string
  readonly images: ImageStore
  readonly containers: ContainerApi
  /** exec and TTY resizing; absent in engines that run no processes (API tests). */
  readonly execs?: ExecApi
  /** cp, diff, export and commit; absent in engines without real root filesystems (API tests). */
  readonly files?: ContainerFilesApi
  /** Named and anonymous volumes (API tests: FakeVolumeStore). */
  readonly volumes: VolumeApi
  /** pause, restart, rename, prune, top, stats, update; absent in API tests' fake engines. */
  readonly lifecycle?: LifecycleApi
  /** The event bus behind GET /events (API tests: FakeEvents). */
  readonly events: EventsApi
  /** What the engine and its host really have (cgroups, storage, drivers), for `GET /info`. */
  readonly system: SystemApi
  /** Networks (GET/POST /networks); absent in engines without bridge networking. */
  readonly networks?: NetworkApi
  counts(): Promise<EngineCounts>
}
