// The builder's interfaces and data: what a build is asked to do, what it reports while it runs,
// and the narrow executor seam it runs its steps through (a snapshot of layers to work in, a
// process runner, one ingest path for layers, and image access), so that the runtime, layer and
// image modules behind it can change without the builder changing.
import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'
import type { ImageConfig } from '../image/types.ts'
import type { WrittenFile } from '../layer/types.ts'
import type { AuthConfig } from '../registry/types.ts'

export type NetworkMode = 'default' | 'none' | 'host'

export interface BuildOptions {
  /** The Dockerfile's path inside the context ("Dockerfile" when empty). */
  dockerfile?: string
  /** References to tag the result with (`-t`, repeated). */
  tags: string[]
  /** `--build-arg`; a null value means the variable was named without a value (it is unset). */
  buildArgs: Record<string, string | null>
  /** `--label`, set on the result. */
  labels: Record<string, string>
  target?: string
  noCache: boolean
  /** Fetch FROM images even when they are here (needs the registry client). */
  pull: boolean
  /** The network RUN steps get unless they ask for another: default, none or host. */
  network: NetworkMode
  /** `--add-host` entries, `host:ip`. */
  extraHosts: string[]
  /** `--platform`; only this host's platform can be built. */
  platform?: string
  /**
   * Credentials for pulling FROM images, by registry (docker.io, localhost:5000): the classic
   * API's X-Registry-Config header. Never part of a cache key or an event.
   */
  registryAuth?: ReadonlyMap<string, AuthConfig>
  /**
   * berth's synced context (`berth build` on this machine): the context tar holds only what
   * changed since the kept copy under `key`; `listing` names every path the client has, with its
   * stat (see context-store.ts). With `unchanged` instead (the digest of the client's listing,
   * listingDigest), nothing was sent: the kept copy is used as it is when its listing has that
   * digest, else the build is refused with a 409 before it starts. A sync's `digest` is the one
   * the client will name this listing by (berth's CLI hashes its stat records as they are,
   * without making a listing); without it, listingDigest.
   */
  syncedContext?:
    | { key: string; listing: Record<string, string>; digest?: string }
    | { key: string; unchanged: string }
  /** `--secret` contents by id, for RUN --mount=type=secret. */
  secrets?: Map<string, Buffer>
  signal?: AbortSignal
}

/** A step of the build, in the order the Dockerfile gives them (reachable stages only). */
export interface StepInfo {
  /** Index in BuildPlanEvent.steps. */
  index: number
  /** The stage's index in the Dockerfile. */
  stage: number
  /** The stage's name, or "stage-N". */
  stageName: string
  /** The instruction as written, continuations joined (BuildKit's vertex name without prefix). */
  text: string
  /** Whether the step runs or copies something (its result may be cached). */
  heavy: boolean
}

export type BuildEvent =
  | { type: 'plan'; steps: StepInfo[] }
  | { type: 'start'; step: number }
  /** A step that needed no work: metadata only, or its result found in the cache. */
  | { type: 'done'; step: number; cached: boolean; durationMs: number; id?: string }
  | { type: 'running'; step: number; id: string }
  | { type: 'output'; step: number; stream: 'stdout' | 'stderr'; data: Buffer }
  /** A step failed; exitCode when it was a RUN whose process exited non-zero. */
  | { type: 'error'; step: number; message: string; exitCode?: number }
  | { type: 'warning'; message: string }
  /** A FROM image that is not here is being fetched. */
  | { type: 'pull'; ref: string; status: string }

export type BuildEventSink = (e: BuildEvent) => void

export interface BuildResult {
  imageId: Digest
  tags: string[]
  /** Build args given that no ARG declared. */
  unusedArgs: string[]
}

/** The engine's build entry point, as the API and tests see it. */
export interface BuildApi {
  /** Builds from a context tar (plain or gzip), read as a stream. */
  build(context: Readable, opts: BuildOptions, onEvent: BuildEventSink): Promise<BuildResult>
  /** The paths of a synced context whose content the daemon needs (new or changed stat). */
  contextNeeds(key: string, listing: Record<string, string>): Promise<string[]>
  /** Space the build cache holds, for `system df`. */
  cacheUsage(): Promise<CacheRecordInfo[]>
  /**
   * Removes cache records and cache mounts not used within `keepDuration` ms (all when absent);
   * without `all`, records whose layer an image shares stay. With `keepBytes`, only the oldest
   * until what is left fits. Frees the disk their layers took unless an image still uses them.
   */
  prune(opts: {
    all: boolean
    keepDuration?: number
    keepBytes?: number
  }): Promise<{ deleted: string[]; spaceReclaimed: number }>
}

/** One layer as the content store holds it: what ingest returns. */
export interface LayerRef {
  /** sha256 of the uncompressed tar. */
  diffID: Digest
  /** The blob it is stored as. */
  blob: Digest
  mediaType: string
  /** The blob's size in bytes. */
  size: number
}

/** An image the build starts from: its config and its layers. */
export interface BaseImage {
  id: Digest
  config: ImageConfig
  layers: LayerRef[]
}

/**
 * A writable root filesystem over a list of layers: the builder works in it (COPY, WORKDIR), or a
 * RUN step's process does, and its changes become at most one layer.
 */
export interface Snapshot {
  /** Mounts it (once) for the builder's own work and returns the host path of its root. */
  root(): Promise<string>
  /**
   * Runs a process in it with a container's confinement, never seen as a container; resolves
   * with its exit code. The process is killed, and everything made for it removed, when
   * `signal` aborts. The builder's own mount is given up for the process's life.
   */
  run(proc: StepProcess, output: OutputSink, signal: AbortSignal): Promise<number>
  /**
   * Its changes as one reproducible layer: entries in byte order, modification times clamped
   * to `epoch` (seconds since 1970), owners and modes kept, directories that did not change
   * left out unless something below them changed. undefined when nothing changed.
   */
  commit(opts: { epoch: number; signal?: AbortSignal }): Promise<LayerRef | undefined>
  /**
   * Gives up the builder's mount and returns the host path of the upper directory (what the
   * step changed), for placing files into it directly (COPY's hard links from the context,
   * which cannot cross the overlay mount). `root()` mounts the view again.
   */
  upper(): Promise<string>
  /**
   * True when commit takes the upper directory itself as the layer (no copy of its files is
   * made): what is placed in it must not share an inode with anything that may change.
   */
  readonly adopting?: boolean
  /**
   * With adoption: the bytes (and, where known, the xattr names) of files the builder wrote
   * straight into the upper directory (by their path in the layer, with a leading slash), which
   * commit's read of the layer takes instead of reading them again. Emptied whenever the snapshot
   * is mounted again or runs a process.
   */
  readonly written?: Map<string, WrittenFile>
  /** Unmounts and removes it; safe to call more than once. */
  release(): Promise<void>
}

export interface StepMount {
  type: 'bind' | 'tmpfs'
  /** Host path (bind) or '' (tmpfs). */
  source: string
  /** Absolute path inside the root. */
  destination: string
  readOnly: boolean
  /** tmpfs size in bytes; 0 for the default. */
  size?: number
}

/** What one RUN step's process needs. */
export interface StepProcess {
  /** 64 hex: the runtime's ID for the step (never a container's). */
  id: string
  args: string[]
  env: string[]
  cwd: string
  /** A Docker user spec (`name`, `uid:gid`, ...), resolved in the root; '' for root. */
  user: string
  mounts: StepMount[]
  network: NetworkMode
  /** Lines for /etc/hosts beyond localhost (`--add-host`). */
  extraHosts: { host: string; ip: string }[]
}

export type OutputSink = (stream: 'stdout' | 'stderr', data: Buffer) => void

/**
 * What the builder needs from the rest of the engine to work in layers and run steps: the layer
 * store's read-write layers, the task runner, the network seam and the one ingest path, behind
 * an adapter (executor.ts) so that those modules can change without the builder changing.
 */
export interface BuildExecutor {
  /** A snapshot over `layers` (bottom first; none for an empty root). */
  snapshot(layers: LayerRef[], signal?: AbortSignal): Promise<Snapshot>
  /** Whether a layer the cache refers to is still stored. */
  hasLayer(layer: LayerRef): Promise<boolean>
  /** A Docker user spec's ids as the root's /etc/passwd and /etc/group give them. */
  userIds(root: string, user: string): Promise<{ uid: number; gid: number }>
}

/**
 * Fetches a base image that is not here (FROM, or `--pull`): the hook the registry client
 * plugs into. It stores the image, then answers what FROM needs of it.
 */
export interface ImagePuller {
  pull(
    ref: string,
    platform: string,
    signal: AbortSignal,
    progress: (status: string) => void,
    /** The build's credentials by registry; the puller picks the one for ref's registry. */
    auth?: ReadonlyMap<string, AuthConfig>,
  ): Promise<BaseImage>
}

export interface BuildImages {
  /** A local image by reference or ID, or undefined when there is none. */
  find(ref: string): Promise<BaseImage | undefined>
  /** Records the result and moves its tags, all at once. */
  create(config: ImageConfig, layers: LayerRef[], tags: string[]): Promise<Digest>
}

/** A cached step result, for `system df` and `builder prune`. */
export interface CacheRecordInfo {
  id: string
  description: string
  /** Bytes of its layer (0 for a step without one). */
  size: number
  createdAt: string
  lastUsedAt: string
  usageCount: number
  /** Whether a running build uses it now. */
  inUse: boolean
  /** Whether an image uses its layer too (its space is the image's as well). */
  shared: boolean
  /**
   * What kind of record: a step result, a RUN --mount=type=cache directory, or a build context
   * the daemon keeps between builds (berth build's synced context).
   */
  type: 'regular' | 'exec.cachemount' | 'source.local'
}
