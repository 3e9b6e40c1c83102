// What the container service needs from the other modules, passed in by the daemon's wiring.
import type { EventSink } from '../events/types.ts'
import type { Gpus } from '../gpu/types.ts'
import type { HostProfile } from '../host/types.ts'
import type { ImageReader } from '../image/types.ts'
import type { LayerStore, Mount } from '../layer/types.ts'
import type { Logger } from '../logger.ts'
import type { NetworkManager } from '../network/types.ts'
import type { HostDevices, LogEntry, LogReadOptions, Runtime } from '../runtime/types.ts'
import type { TaskRunner } from '../task/types.ts'
import type { VolumeStore } from '../volume/types.ts'

/** What the container service needs from the other modules, passed in by the daemon's wiring. */
export interface ContainerDeps {
  dir: string
  images: ImageReader
  layers: LayerStore
  /** Signals, attach, pause and resume of running processes; monitor files at reconcile. */
  runtime: Runtime
  /** Runs each container's process. */
  tasks: TaskRunner
  network: NetworkManager
  host: HostProfile
  /** GPUs: checked at create, their edits made at each start. */
  gpus: Gpus
  /** The host's device nodes, for --device and --privileged. */
  devices: HostDevices
  readLog(path: string, opts: LogReadOptions): AsyncIterable<LogEntry>
  /** Mounts a root filesystem outside a start (to fill volumes at create). */
  mount(m: Mount): Promise<void>
  unmount(target: string): Promise<void>
  logger: Logger
  /** Named and anonymous volumes; without it, only binds and tmpfs mounts work. */
  volumes?: VolumeStore
  /** Where lifecycle events go (GET /events); none when absent. */
  events?: EventSink
  /**
   * How long a removed container's record and writable layer are kept in the trash, in ms
   * (`berthd --keep-removed`); 0 or absent: removed at once, as Docker does.
   */
  keepRemovedMs?: number
  /** Where the trash is (default: `trash` beside `dir`). */
  trashDir?: string
}
