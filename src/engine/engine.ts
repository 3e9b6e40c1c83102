import type {
  ContainerApi,
  ContainerFilesApi,
  ExecApi,
  GuardApi,
  LifecycleApi,
} from './container/types.ts'
import type { ImageStore } from './image/types.ts'
import type { VolumeApi } from './volume/types.ts'
import type { EventsApi } from './events/types.ts'
import type { BuildApi } from './builder/types.ts'
import type { DiskUsageApi, SystemApi } from './system/types.ts'
import type { RegistryApi } from './registry/types.ts'
import type { NetworkApi } from './network/types.ts'

export interface EngineCounts {
  containers: number
  running: number
  paused: number
  stopped: number
  images: number
}

/**
 * What the API layer is given: the engine's parts, each behind its interface. Every member is
 * there in every engine: src/daemon/wire.ts wires the real parts, src/api/testing.ts fakes of
 * each, and test/conformance/ holds each fake to the real part's behaviour.
 */
export interface Engine {
  readonly dataRoot: string
  readonly images: ImageStore
  /** The container lifecycle (API tests: FakeContainers). */
  readonly containers: ContainerApi
  /**
   * berth's guard over work left in containers (unsaved changes, the trash of removed ones),
   * served under /berth/; absent in the API tests' fake engines.
   */
  readonly guard?: GuardApi
  /** exec and TTY resizing (API tests: FakeExecs). */
  readonly execs: ExecApi
  /** cp, diff, export and commit (API tests: FakeFiles). */
  readonly files: ContainerFilesApi
  /** Named and anonymous volumes (API tests: FakeVolumeStore). */
  readonly volumes: VolumeApi
  /** pause, restart, rename, prune, top, stats, update (API tests: FakeLifecycle). */
  readonly lifecycle: LifecycleApi
  /** The event bus behind GET /events (API tests: FakeEvents). */
  readonly events: EventsApi
  /** What the engine and its host really have (cgroups, storage, drivers), for `GET /info`. */
  readonly system: SystemApi
  /** `GET /system/df`; absent in the API tests' fake engines. */
  readonly diskUsage?: DiskUsageApi
  /** Dockerfile builds and the build cache; absent in API tests' fake engines. */
  readonly builder?: BuildApi
  /** pull, push and login; absent in engines that reach no registry (API tests). */
  readonly registry?: RegistryApi
  /** Networks (GET/POST /networks); absent in engines without bridge networking. */
  readonly networks?: NetworkApi
  counts(): Promise<EngineCounts>
}
