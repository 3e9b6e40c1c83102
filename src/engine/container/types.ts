import type { Digest } from '../digest.ts'
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
  /** Docker's HasBeenManuallyStopped: a stop or kill by a user (unless-stopped stays down). */
  manuallyStopped?: boolean
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
}
