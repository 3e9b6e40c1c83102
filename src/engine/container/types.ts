import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'
import type { Health } from '../health/types.ts'
import type { HealthConfig } from '../image/types.ts'
import type { Change } from '../layer/types.ts'
import type { EndpointSettings, NetworkSettings } from '../network/types.ts'
import type { LogEntry, LogReadOptions, OutputChunk } from '../runtime/types.ts'

/** Docker's container config (the create request's body, less HostConfig and NetworkingConfig). */
export interface ContainerConfig {
  Hostname?: string
  Domainname?: string
  User?: string
  AttachStdin?: boolean
  AttachStdout?: boolean
  AttachStderr?: boolean
  ExposedPorts?: Record<string, object> | null
  Tty?: boolean
  OpenStdin?: boolean
  StdinOnce?: boolean
  Env?: string[] | null
  Cmd?: string[] | null
  Entrypoint?: string[] | null
  Image: string
  Volumes?: Record<string, object> | null
  WorkingDir?: string
  Labels?: Record<string, string> | null
  StopSignal?: string
  StopTimeout?: number
  /** The image's HEALTHCHECK with the request's fields over it (health/machine.ts). */
  Healthcheck?: HealthConfig | null
  /** The shell of a CMD-SHELL health check (default /bin/sh -c). */
  Shell?: string[] | null
}

export interface HostConfig {
  Binds?: string[] | null
  AutoRemove?: boolean
  NetworkMode?: string
  RestartPolicy?: { Name: string; MaximumRetryCount?: number }
  ReadonlyRootfs?: boolean
  Privileged?: boolean
  Init?: boolean | null
  [key: string]: unknown
}

export interface CreateRequest extends ContainerConfig {
  HostConfig?: HostConfig
  NetworkingConfig?: unknown
}

export type ContainerStatus =
  'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead'

export interface ContainerState {
  Status: ContainerStatus
  Running: boolean
  Paused: boolean
  Restarting: boolean
  OOMKilled: boolean
  Dead: boolean
  Pid: number
  ExitCode: number
  Error: string
  StartedAt: string
  FinishedAt: string
  /** Only for a container with a health check, once it has started (health/). */
  Health?: Health
}

/** One container as the engine knows it; the API writes it out in Docker's inspect shape. */
export interface Container {
  id: string
  name: string
  created: string
  path: string
  args: string[]
  config: ContainerConfig
  hostConfig: HostConfig
  image: Digest
  /** The reference the user asked for, as `docker ps` shows it. */
  imageRef: string
  state: ContainerState
  logPath: string
  restartCount: number
  /** Binds, volumes and tmpfs mounts, resolved at create (container/mounts.ts). */
  mountPoints?: MountPoint[]
  /** Docker's HasBeenManuallyStopped: a stop or kill by a user (unless-stopped stays down). */
  manuallyStopped?: boolean
  /** NetworkingConfig.EndpointsConfig from the create request, for the network seam. */
  endpoints?: Record<string, Partial<EndpointSettings>>
}

export interface ContainerReader {
  /** By full ID, unique ID prefix, or name (with or without a leading "/"). NotFound `No such container: REF`. */
  get(ref: string): Promise<Container>
  list(): Promise<Container[]>
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed'

export interface WaitResult {
  StatusCode: number
  Error: { Message: string } | null
}

/** A client attached to a container's streams. */
export interface AttachSession {
  /** The container's output; ends when the container's streams close. */
  output: AsyncIterable<OutputChunk>
  writeStdin(data: Uint8Array): Promise<void>
  closeStdin(): void
  close(): void
}

/** What the API layer may ask of containers. */
export interface ContainerApi extends ContainerReader {
  create(req: CreateRequest, name: string | undefined): Promise<{ Id: string; Warnings: string[] }>
  start(ref: string): Promise<void>
  wait(ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<WaitResult>
  attach(ref: string): Promise<AttachSession>
  logs(ref: string, opts: Omit<LogReadOptions, 'stopWhen'>): Promise<AsyncIterable<LogEntry>>
  kill(ref: string, signal?: string): Promise<void>
  stop(ref: string, timeoutSeconds?: number, signal?: string): Promise<void>
  remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void>
  sizes(ref: string): Promise<{ rw: number; rootfs: number }>
  /** inspect's NetworkSettings (and `ps`'s networks), from the container's network manager. */
  networkSettings(ref: string): Promise<NetworkSettings>
}

/** Docker's ExecConfig: the body of POST /containers/{id}/exec. */
export interface ExecCreateRequest {
  Cmd?: string[] | null
  Env?: string[] | null
  WorkingDir?: string
  User?: string
  Tty?: boolean
  AttachStdin?: boolean
  AttachStdout?: boolean
  AttachStderr?: boolean
  Privileged?: boolean
  DetachKeys?: string
  /** [height, width] */
  ConsoleSize?: [number, number] | null
}

export interface ExecStartOptions {
  /** Run without attaching; the call returns once the process has started. */
  detach: boolean
  /** [height, width] of the pty, overriding the one given at create. */
  consoleSize?: [number, number] | null
}

/** Docker's ExecInspect. */
export interface ExecInspect {
  ID: string
  Running: boolean
  ExitCode: number | null
  ProcessConfig: {
    tty: boolean
    entrypoint: string
    arguments: string[]
    privileged: boolean
    user?: string
  }
  OpenStdin: boolean
  OpenStderr: boolean
  OpenStdout: boolean
  CanRemove: boolean
  ContainerID: string
  /** base64 of the detach key bytes, as Go encodes a []byte. */
  DetachKeys: string
  Pid: number
}

/** A client attached to an exec'd process; its output ends when the process's streams close. */
export interface ExecSession extends AttachSession {
  tty: boolean
  /** The detach key bytes that end the session (with a TTY). */
  detachKeys: number[]
  /** Resolves once the process's exit code is recorded. */
  exited: Promise<number>
}

/** exec and resize: what the API layer may ask about processes run in containers. */
export interface ExecApi {
  createExec(ref: string, req: ExecCreateRequest): Promise<{ Id: string }>
  /** Starts the process; attached (a session) unless opts.detach. */
  startExec(id: string, opts: ExecStartOptions): Promise<ExecSession | undefined>
  inspectExec(id: string): Promise<ExecInspect>
  resizeExec(id: string, height: number, width: number): Promise<void>
  resizeContainer(ref: string, height: number, width: number): Promise<void>
}

/** One of a container's mounts: Docker's MountPoint (the upper-case fields, as inspect shows them). */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs'
  Name?: string
  Source: string
  Destination: string
  Driver?: string
  Mode: string
  RW: boolean
  Propagation: string
  /** Fill an empty volume from the image at create. */
  copyData?: boolean
  /** Made without a name for this container: `rm -v` removes it. */
  anonymous?: boolean
  /** A -v bind: the host directory is created at start when missing. */
  createSource?: boolean
  /** A non-recursive bind (bind-nonrecursive). */
  nonRecursive?: boolean
  /** tmpfs mount data (mode=, size=, ro). */
  tmpfsData?: string
}

/** Docker's ContainerPathStat; `mode` is a Go os.FileMode. */
export interface PathStat {
  name: string
  size: number
  mode: number
  mtime: string
  linkTarget: string
}

export interface CommitOptions {
  repo?: string
  tag?: string
  comment?: string
  author?: string
  pause: boolean
  changes: string[]
  /** The request body: container config overrides (Docker's rules); empty takes the container's. */
  config?: Partial<ContainerConfig>
}

export interface PutArchiveOptions {
  noOverwriteDirNonDir: boolean
  copyUIDGID: boolean
  signal?: AbortSignal
}

/** cp, diff, export and commit: what the API layer may ask about a container's files. */
export interface ContainerFilesApi {
  changes(ref: string): Promise<Change[]>
  exportRootfs(ref: string): Promise<Readable>
  statPath(ref: string, path: string): Promise<PathStat>
  getArchive(ref: string, path: string): Promise<{ stat: PathStat; tar: Readable }>
  putArchive(ref: string, path: string, body: Readable, opts: PutArchiveOptions): Promise<void>
  commit(ref: string, opts: CommitOptions): Promise<{ Id: string }>
  /** The overlay directories of the container's root filesystem (inspect's GraphDriver.Data). */
  layerDirs(ref: string): Promise<LayerDirs>
}

/** Where a container's root filesystem lives, as inspect's GraphDriver.Data shows it. */
export interface LayerDirs {
  /** The image's layers' own directories, top first. */
  lower: string[]
  upper: string
  work: string
  merged: string
}

/** `docker top`: ps's columns and a row per process. */
export interface TopResult {
  Processes: string[][]
  Titles: string[]
}

/** Docker's StatsJSON (`GET /containers/{id}/stats`, one sample). */
export interface StatsJson {
  read: string
  preread: string
  pids_stats: { current?: number; limit?: number }
  blkio_stats: {
    io_service_bytes_recursive: BlkioEntry[] | null
    io_serviced_recursive: BlkioEntry[] | null
    io_queue_recursive: BlkioEntry[] | null
    io_service_time_recursive: BlkioEntry[] | null
    io_wait_time_recursive: BlkioEntry[] | null
    io_merged_recursive: BlkioEntry[] | null
    io_time_recursive: BlkioEntry[] | null
    sectors_recursive: BlkioEntry[] | null
  }
  num_procs: number
  storage_stats: Record<string, never>
  cpu_stats: CpuStats
  precpu_stats: CpuStats
  memory_stats: {
    usage?: number
    max_usage?: number
    stats?: Record<string, number>
    failcnt?: number
    limit?: number
  }
  networks?: Record<string, NetworkStats>
  name: string
  id: string
}

export interface CpuStats {
  cpu_usage: {
    total_usage: number
    percpu_usage?: number[]
    usage_in_kernelmode: number
    usage_in_usermode: number
  }
  system_cpu_usage?: number
  online_cpus?: number
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number }
}

export interface BlkioEntry {
  major: number
  minor: number
  op: string
  value: number
}

export interface NetworkStats {
  rx_bytes: number
  rx_packets: number
  rx_errors: number
  rx_dropped: number
  tx_bytes: number
  tx_packets: number
  tx_errors: number
  tx_dropped: number
}

/** Docker's UpdateConfig: resources (0 or absent means unchanged) and the restart policy. */
export interface UpdateRequest {
  Memory?: number
  MemorySwap?: number
  MemoryReservation?: number
  NanoCpus?: number
  CpuPeriod?: number
  CpuQuota?: number
  CpuShares?: number
  CpusetCpus?: string
  CpusetMems?: string
  PidsLimit?: number | null
  RestartPolicy?: { Name: string; MaximumRetryCount?: number }
}

/** `POST /containers/prune`'s answer. */
export interface PruneReport {
  ContainersDeleted: string[] | null
  SpaceReclaimed: number
}

/** pause, unpause, restart, rename, prune, top, stats, update: what the API may ask. */
export interface LifecycleApi {
  pause(ref: string): Promise<void>
  unpause(ref: string): Promise<void>
  restart(ref: string, timeoutSeconds?: number, signal?: string): Promise<void>
  rename(ref: string, newName: string): Promise<void>
  /** Removes the stopped containers `match` accepts. */
  prune(match: (c: Container) => boolean): Promise<PruneReport>
  top(ref: string, psArgs: string): Promise<TopResult>
  /** One sample; all zero for a container that is not running. precpu_stats is left empty. */
  stats(ref: string): Promise<StatsJson>
  update(ref: string, req: UpdateRequest): Promise<{ Warnings: string[] | null }>
}

/** A place in a container's writable layer and the bytes under it. */
export interface UnsavedPath {
  Path: string
  Size: number
}

/**
 * What a container holds in its writable layer outside its volumes and binds, and whether a
 * commit holds it: what removing the container would lose. berth's own; Docker has no such
 * object, so it is served under /berth/ and never in Docker's JSON.
 */
export interface UnsavedChanges {
  Id: string
  Name: string
  /** True when there are changes and no image committed after the last of them holds them. */
  Unsaved: boolean
  /** Bytes of the files it wrote. */
  Size: number
  /** Files, symlinks and devices it made or changed (directories are not counted). */
  Files: number
  /** Files of its image it deleted. */
  Deleted: number
  /** When it last changed anything (RFC 3339); '' when never. */
  LastChange: string
  /** Where the bytes are, biggest first. */
  Top: UnsavedPath[]
  /** The image of a commit made after the last change ('' when none): the changes are in it. */
  SavedIn: string
  /** When the layer was measured (RFC 3339); '' when it has not been yet. */
  MeasuredAt: string
  /**
   * True when nothing can have changed since it was measured (the container is not running);
   * a running container's figures are those of the last look, taken in the background.
   */
  Current: boolean
}

/** A removed container kept in the trash (`berthd --keep-removed`). */
export interface TrashEntry {
  Id: string
  /** Its name when it was removed (without the leading slash). */
  Name: string
  Image: string
  ImageID: string
  Command: string
  /** RFC 3339. */
  RemovedAt: string
  ExpiresAt: string
  /** Bytes it keeps on disk: its writable layer's files and its record (logs included). */
  Size: number
  /** Its changes when it was removed (Current false until they are measured). */
  Changes: UnsavedChanges
}

export interface TrashList {
  /** How long a removed container is kept, in seconds (0: the trash is off). */
  KeepSeconds: number
  Entries: TrashEntry[]
}

export interface RestoreResult {
  Id: string
  Name: string
  Warnings: string[]
}

export interface TrashPurgeReport {
  Deleted: string[]
  SpaceReclaimed: number
}

/** berth's guard over work left in containers: unsaved changes and the trash of removed ones. */
export interface GuardApi {
  /** One container's changes, measured now when they may have changed since the last look. */
  unsaved(ref: string): Promise<UnsavedChanges>
  /**
   * Every container's changes as known now, without waiting for any measurement (those that
   * may be out of date are measured again in the background).
   */
  unsavedAll(): Promise<UnsavedChanges[]>
  /**
   * The changes of the containers `container prune` would remove with these filters (stopped,
   * and accepted by `match`), each measured now when it may have changed.
   */
  unsavedPrunable(match: (c: Container) => boolean): Promise<UnsavedChanges[]>
  trash(): Promise<TrashList>
  /** Brings a removed container back, stopped, under its name when free (or `name`). */
  restore(ref: string, name?: string): Promise<RestoreResult>
  /** Deletes the given entries (by ID, ID prefix or name), or all of them. */
  purge(refs?: string[]): Promise<TrashPurgeReport>
}
