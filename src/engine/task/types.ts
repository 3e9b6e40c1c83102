// The task runner: runs one process confined in a root filesystem of its own, through the
// runtime. A container's process is a task (the container module keeps its record, its state
// and its name); so is a build step, which has no record and no name, and which `ps -a` never
// shows. Both get the same confinement: Docker's defaults, and whatever a task asks beyond them.
import type { Mount } from '../layer/types.ts'
import type {
  ConsoleSize,
  DeviceEdits,
  DeviceNode,
  ExitStatus,
  LogFileOptions,
  OutputChunk,
  SpecInput,
} from '../runtime/types.ts'

/** The process a task runs. */
export interface TaskProcess {
  args: string[]
  env: string[]
  /**
   * The user as Docker's --user spells it (name or uid, optionally `:group`), looked up in the
   * task's own root filesystem; '' for root.
   */
  user: string
  /** The working directory; made (owned by root) when missing, as Docker does. */
  cwd: string
  terminal?: boolean
  /** The pty's size when the process starts (with a terminal). */
  consoleSize?: ConsoleSize
}

/** Confinement beyond Docker's defaults (each absent field keeps its default). */
export type Confinement = Partial<
  Pick<
    SpecInput,
    | 'readonlyRootfs'
    | 'security'
    | 'resources'
    | 'devices'
    | 'shmSize'
    | 'sysctls'
    | 'rlimits'
    | 'oomScoreAdj'
  >
>

/**
 * Where the task's network is (the network seam's PreparedNetwork): a new namespace with only
 * loopback when both fields are absent, and whose /etc files it sees (none when no etcDir).
 */
export interface TaskNetwork {
  hostNetwork?: boolean
  netnsPath?: string
  etcDir?: string
}

/** The monitor's side of the process's streams. */
export interface TaskIO {
  /** conmon's k8s-file log: everything the process writes, from its first byte. */
  logPath: string
  /** The log driver's settings; absent: one file, no limit. */
  log?: LogFileOptions
  tty: boolean
  openStdin: boolean
  /** Close the process's stdin when the first attached client closes it. */
  stdinOnce: boolean
}

/** What a task adds once its root filesystem is mounted (read or made there). */
export interface RootfsAdditions {
  /** Mounts whose mount points were made in the root filesystem (binds, volumes). */
  mounts?: Mount[]
  /** Supplementary groups (`--group-add`, looked up in the root filesystem's /etc/group). */
  additionalGids?: number[]
  devices?: DeviceNode[]
  /** Injected devices (GPUs) with their files, variables and hooks. */
  deviceEdits?: DeviceEdits
}

export interface TaskSpec {
  /** 64 hex, unique among the runtime's containers: the runtime's ID for the task. */
  id: string
  /** Where config.json is written (an existing directory). */
  bundle: string
  /**
   * The root filesystem: mounted in order, the first at the root (its destination), and
   * unmounted last-first when the task is finished.
   */
  rootfs: Mount[]
  hostname: string
  process: TaskProcess
  /** Over the root filesystem, in order; the /etc files give way to a mount of the same path. */
  mounts?: Mount[]
  network: TaskNetwork
  confinement?: Confinement
  /** The root mount's propagation, when a bind mount needs it (shared, rslave). */
  rootfsPropagation?: string
  io: TaskIO
  /** Called with the root filesystem mounted, before the spec is built. */
  inRootfs?(rootfs: string): Promise<RootfsAdditions>
  /** Called once the runtime made the process and before it runs: attach here, lose nothing. */
  onCreated?(): Promise<void>
}

export interface StartedTask {
  id: string
  /** The process's pid on the host. */
  pid: number
  /** Its monitor's pid (conmon). */
  monitorPid: number
}

/** A task as finish() needs it, also after a daemon restart. */
export interface TaskRef {
  id: string
  /** Its root filesystem's mount points (the destinations of TaskSpec.rootfs), in order. */
  rootfs: string[]
}

export interface RunOptions {
  /** Kills the process; run() then cleans up and rejects with the signal's reason. */
  signal?: AbortSignal
  /** Receives the process's output as it comes (also in the log), before the process runs. */
  output?: (chunk: OutputChunk) => void
  /**
   * After an exit, run() resolves once the root filesystem is unmounted, and deleting the
   * runtime's record (and forgetting the monitor's files) goes on after it: handed here, to be
   * awaited before the caller is done (it never rejects; failures are logged). Without it, run()
   * waits for all of it.
   */
  cleanup?: (done: Promise<void>) => void
}

export interface TaskRunner {
  /**
   * Mounts the root filesystem, builds and writes the spec, creates the process through the
   * runtime and starts it. On failure nothing is left: no runtime record, no mount.
   */
  start(t: TaskSpec): Promise<StartedTask>
  /** Resolves when the process has exited (no polling). */
  wait(id: string, signal?: AbortSignal): Promise<ExitStatus>
  /** After the exit: deletes the runtime's record and unmounts the root filesystem. */
  finish(ref: TaskRef): Promise<void>
  /** Removes what the monitor left (exit file, sockets, pid files); before an ID is reused. */
  forget(id: string): Promise<void>
  /** Kills whatever the runtime still runs for `id`, and forgets it. */
  discard(id: string): Promise<void>
  /**
   * All of it, for a process nobody else sees (a build step): start, wait for the exit,
   * finish and forget; resolves with the exit code.
   */
  run(t: TaskSpec, opts?: RunOptions): Promise<number>
}
