import type { Digest } from '../digest.ts'

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
}

export interface ContainerReader {
  /** By full ID, unique ID prefix, or name (with or without a leading "/"). NotFound `No such container: REF`. */
  get(ref: string): Promise<Container>
  list(): Promise<Container[]>
}
