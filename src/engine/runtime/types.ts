import type { Mount } from '../layer/types.ts'

export interface User {
  uid: number
  gid: number
  additionalGids: number[]
}

export interface ContainerProcess {
  args: string[]
  env: string[]
  cwd: string
  user: User
  terminal: boolean
  /** The pty's size when the process starts (with a terminal). */
  consoleSize?: ConsoleSize
}

export interface ConsoleSize {
  height: number
  width: number
}

/** One range of a user namespace's ID mapping (the OCI spec's LinuxIDMapping). */
export interface IdMapping {
  containerID: number
  hostID: number
  size: number
}

/** What the OCI spec of one container is made from; ociSpec() turns it into config.json. */
export interface SpecInput {
  id: string
  /** Absolute path of the mounted root filesystem. */
  rootfs: string
  readonlyRootfs: boolean
  hostname: string
  process: ContainerProcess
  /** Extra mounts (binds, volumes, tmpfs), in order. */
  mounts: Mount[]
  /** Path of an existing network namespace to join; a new one when absent. */
  netnsPath?: string
  /** Share the host's network namespace (`--network host`). */
  hostNetwork?: boolean
  /** Bind the host's /sys instead of mounting sysfs (rootless under the host's network). */
  bindHostSys?: boolean
  /** The container's cgroup (cgroupfs driver); `/berth/<id>` when absent. */
  cgroupsPath?: string
  /** Confinement (Docker's HostConfig); Docker's defaults where absent. */
  security?: SpecSecurity
  resources?: SpecResources
  /** Device nodes to create (--device, or the host's under --privileged). */
  devices?: DeviceNode[]
  /** Size of /dev/shm in bytes (64 MiB when absent). */
  shmSize?: number
  sysctls?: Record<string, string>
  rlimits?: { type: string; soft: number; hard: number }[]
  oomScoreAdj?: number
  /** The propagation of the root mount (shared, rslave...) when a bind mount needs one. */
  rootfsPropagation?: string
  /**
   * The host's values for Docker's sysctls of a container's own network namespace, where they
   * differ (rootless: ping_group_range may name only the groups mapped in its namespace).
   */
  ownNetworkSysctls?: Record<string, string>
  /** A user namespace with these mappings (rootless); the host's IDs when absent. */
  idMappings?: { uid: IdMapping[]; gid: IdMapping[] }
  /** Devices injected with what they need (GPUs by discovery or a CDI spec), applied last. */
  deviceEdits?: DeviceEdits
}

/**
 * What injecting devices changes in a spec (the container edits of a CDI spec, or what GPU
 * discovery found): nodes, mounts, variables, hooks and groups. Applied as one spec edit.
 */
export interface DeviceEdits {
  /**
   * Nodes made in the container, each allowed in the device cgroup with its access (an empty
   * access adds no rule); a node without uid or gid belongs to the process's user (CDI's rule).
   * A node replaces one already at its path.
   */
  devices: DeviceNode[]
  /** Mounts after the container's own, in order; each replaces one at its destination. */
  mounts: Mount[]
  /** KEY=VALUE; each replaces the key in the process's environment, or is added. */
  env: string[]
  hooks: StagedHook[]
  /** Supplementary groups of the process. */
  additionalGids: number[]
}

/** The points where the runtime runs hooks (the runtime spec's names). */
export type HookStage = keyof SpecHooks

/** A hook and the point where it runs. */
export interface StagedHook extends SpecHook {
  stage: HookStage
}

export interface SpecSecurity {
  /** All devices, no masked or read-only paths, writable /sys, no seccomp unless one is named. */
  privileged?: boolean
  /** The process's capabilities (bounding, effective, permitted). */
  capabilities?: string[]
  noNewPrivileges?: boolean
  /** 'unconfined', Docker's default profile when absent, or a Docker profile's JSON text. */
  seccomp?: string
}

export interface SpecResources {
  memory?: { limit?: number; reservation?: number; swap?: number }
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string }
  pids?: { limit: number }
}

/**
 * A device node in the container, allowed in its device cgroup with `access` (e.g. "rwm"; an
 * empty access adds no rule).
 */
export interface DeviceNode {
  path: string
  type: 'b' | 'c' | 'u' | 'p'
  major: number
  minor: number
  fileMode?: number
  uid?: number
  gid?: number
  access: string
}

/**
 * Builds a task's config.json from its input, for this host's architecture and kernel (the
 * runtime's ociSpec, runtime/spec.ts, given to the task runner at wiring).
 */
export type SpecBuilder = (input: SpecInput, host: { arch?: string; kernel?: string }) => Spec

/** Docker's HostConfig.ShmSize default: 64 MiB. */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024

/** The host's device nodes, as runc lists them (runtime/host.ts reads them). */
export interface HostDevices {
  /** Every device node under /dev (for --privileged). */
  all(): Promise<DeviceNode[]>
  /**
   * `--device HOST[:CONTAINER][:PERMS]` (moby's DevicesFromPath): one device, or every device
   * under a directory. NotFound or InvalidArgument in Docker's words.
   */
  fromPath(hostPath: string, containerPath: string, perms: string): Promise<DeviceNode[]>
}

export interface CreateOptions {
  id: string
  /** Directory holding config.json (rootfs may live elsewhere). */
  bundle: string
  /** conmon's k8s-file log. */
  logPath: string
  /** The log driver's settings (logdriver.ts); absent: one file, no limit. */
  log?: LogFileOptions
  tty: boolean
  openStdin: boolean
  /** Close the container's stdin when the first attached client closes it (Docker's StdinOnce). */
  stdinOnce: boolean
}

export type RuntimeStatus = 'created' | 'running' | 'paused' | 'stopped'

export interface ExitStatus {
  exitCode: number
  /** ISO 8601 with nanoseconds when known. */
  finishedAt: string
  /** Why the exit code is not known (its record could not be read): 255 then, as Docker's. */
  error?: string
}

export type StdStream = 'stdin' | 'stdout' | 'stderr'

export interface OutputChunk {
  stream: 'stdout' | 'stderr'
  data: Buffer
}

/** A connection to a container's attach socket (conmon's). */
export interface AttachConnection {
  /** The container's output as it comes, in order, ending when the container's streams close. */
  output: AsyncIterable<OutputChunk>
  writeStdin(data: Uint8Array): Promise<void>
  /** Half-closes stdin: the container sees EOF. */
  closeStdin(): void
  close(): void
}

export interface LogEntry {
  stream: 'stdout' | 'stderr'
  /** RFC 3339 with nanoseconds, as conmon wrote it. */
  time: string
  /** One line with its newline, or a partial line without. */
  data: Buffer
}

export interface LogReadOptions {
  follow: boolean
  /** Only entries after / before these times (seconds since the epoch, fractional). */
  since?: number
  until?: number
  /** Only the last N lines; undefined for all. */
  tail?: number
  signal?: AbortSignal
  /** Resolves when following should stop (the container exited and the log is drained). */
  stopWhen?: Promise<unknown>
}

export interface Runtime {
  /**
   * Spawns conmon, which runs `runc create`; resolves once the container exists (conmon's sync
   * pipe), with the container's pid. Rejects with the runtime's own words when create fails,
   * e.g. an executable that cannot be found (exit code 127) or not run (126).
   */
  create(opts: CreateOptions): Promise<{ pid: number; monitorPid: number }>
  start(id: string): Promise<void>
  attach(id: string): Promise<AttachConnection>
  kill(id: string, signal: string): Promise<void>
  /** Removes the runtime's record; with force, kills first. Missing is success. */
  delete(id: string, force: boolean): Promise<void>
  status(id: string): Promise<RuntimeStatus | undefined>
  /** The exit status conmon recorded, or undefined while the container has not exited. */
  exitStatus(id: string): Promise<ExitStatus | undefined>
  /** Resolves when conmon records the exit (no polling: watches the exit directory). */
  waitExit(id: string, signal?: AbortSignal): Promise<ExitStatus>
  /** Removes conmon's per-container files (exit file, sockets). */
  cleanup(id: string): Promise<void>
  /** Whether the container's monitor still runs (no runtime call: pid file and /proc). */
  monitorAlive(id: string): Promise<boolean>
  /** IDs the runtime holds any state for (runtime records, monitor files), to find strays. */
  knownIds(): Promise<string[]>
  /** Freezes every process of the container (the cgroup freezer): `runc pause`. */
  pause(id: string): Promise<void>
  /** Thaws a paused container: `runc resume`. */
  resume(id: string): Promise<void>
  /** Applies new resource limits to a running container: `runc update`. */
  update(id: string, resources: SpecResources): Promise<void>
}

/** One process to run in a running container (`exec`). */
export interface ExecSpawnOptions {
  containerId: string
  /** 64 hex; names the session's files and attach socket. */
  execId: string
  /** The OCI process (runc exec --process). */
  process: SpecProcess
  tty: boolean
  stdin: boolean
  /** Connect to the process's streams before it runs, so no output is lost. */
  attach: boolean
}

export interface ExecHandle {
  pid: number
  /** The process's streams, when attach was asked for; ends when the process's streams close. */
  connection?: AttachConnection
  /** The process's exit code, once it has exited. */
  exit: Promise<number>
  resize(height: number, width: number): Promise<void>
}

export interface ExecRuntime {
  /** Starts the process; rejects with the runtime's words (126/127 as for a start). */
  exec(opts: ExecSpawnOptions): Promise<ExecHandle>
  /** Resizes the pty of the container whose monitor's bundle is bundleDir. */
  resizeConsole(bundleDir: string, height: number, width: number): Promise<void>
}

// ---- The OCI runtime spec (1.0.2), as far as berth writes it: config.json in a bundle.

export interface Spec {
  ociVersion: string
  process: SpecProcess
  root: { path: string; readonly?: boolean }
  hostname?: string
  mounts: Mount[]
  hooks?: SpecHooks
  annotations?: Record<string, string>
  linux: SpecLinux
}

/** A transformation of a spec (a feature's contribution to it); pure, it returns a new spec. */
export type SpecEdit = (s: Spec) => Spec

export interface SpecProcess {
  terminal?: boolean
  consoleSize?: ConsoleSize
  user: { uid: number; gid: number; additionalGids?: number[] }
  args: string[]
  env: string[]
  cwd: string
  capabilities: SpecCapabilities
  rlimits?: { type: string; hard: number; soft: number }[]
  noNewPrivileges?: boolean
  oomScoreAdj?: number
}

export interface SpecCapabilities {
  bounding: string[]
  effective: string[]
  permitted: string[]
  inheritable?: string[]
  ambient?: string[]
}

export interface SpecHook {
  path: string
  args?: string[]
  env?: string[]
  timeout?: number
}

/** The points where the runtime runs hooks (CDI specs add some). */
export interface SpecHooks {
  prestart?: SpecHook[]
  createRuntime?: SpecHook[]
  createContainer?: SpecHook[]
  startContainer?: SpecHook[]
  poststart?: SpecHook[]
  poststop?: SpecHook[]
}

export type NamespaceType = 'mount' | 'network' | 'uts' | 'pid' | 'ipc' | 'cgroup' | 'user'

export interface SpecNamespace {
  type: NamespaceType
  path?: string
}

export interface SpecLinux {
  uidMappings?: IdMapping[]
  gidMappings?: IdMapping[]
  sysctl?: Record<string, string>
  resources: SpecLinuxResources
  cgroupsPath: string
  namespaces: SpecNamespace[]
  devices?: SpecDevice[]
  seccomp?: SpecSeccomp
  rootfsPropagation?: string
  maskedPaths: string[]
  readonlyPaths: string[]
}

export interface SpecLinuxResources {
  devices: SpecDeviceRule[]
  memory?: { limit?: number; reservation?: number; swap?: number }
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string }
  pids?: { limit: number }
}

export interface SpecDeviceRule {
  allow: boolean
  type?: 'a' | 'b' | 'c'
  major?: number
  minor?: number
  access: string
}

export interface SpecDevice {
  path: string
  type: 'b' | 'c' | 'u' | 'p'
  major: number
  minor: number
  fileMode?: number
  uid?: number
  gid?: number
}

export interface SpecSeccomp {
  defaultAction: string
  defaultErrnoRet?: number
  architectures?: string[]
  flags?: string[]
  syscalls?: {
    names: string[]
    action: string
    errnoRet?: number
    args?: { index: number; value: number; valueTwo?: number; op: string }[]
  }[]
}

/** Docker's HostConfig.LogConfig, as checked (logdriver.ts). */
export interface LogConfig {
  Type: string
  Config: Record<string, string>
}

/** What conmon is asked to do with a container's output (logdriver.ts makes it). */
export interface LogFileOptions {
  /** false for the none driver: no log file, and `logs` is refused. */
  enabled: boolean
  /** Bytes one file may hold before conmon starts the next one; absent: no limit. */
  maxSize?: number
  /** How many files to keep, the one being written included (1: the next replaces it). */
  maxFiles: number
  /** gzip the files rotated out (log-opt compress); only with maxSize and maxFiles > 1. */
  compress?: boolean
}
