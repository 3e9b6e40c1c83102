import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'
import type { LayerInfo } from '../layer/types.ts'

/** The runtime defaults an image carries (Docker's image config "config" object). */
export interface ImageRunConfig {
  User?: string
  Env?: string[]
  Cmd?: string[] | null
  Entrypoint?: string[] | null
  WorkingDir?: string
  ExposedPorts?: Record<string, object>
  Volumes?: Record<string, object>
  Labels?: Record<string, string>
  StopSignal?: string
  OnBuild?: string[] | null
  Shell?: string[]
  Healthcheck?: HealthConfig
}

/** Docker's HealthConfig; durations in nanoseconds. */
export interface HealthConfig {
  Test?: string[]
  Interval?: number
  Timeout?: number
  StartPeriod?: number
  StartInterval?: number
  Retries?: number
}

export interface HistoryEntry {
  created?: string
  created_by?: string
  author?: string
  comment?: string
  empty_layer?: boolean
}

/** The image config blob (Docker and OCI share this shape). */
export interface ImageConfig {
  architecture: string
  os: string
  variant?: string
  created?: string
  author?: string
  comment?: string
  docker_version?: string
  config?: ImageRunConfig
  container_config?: ImageRunConfig
  container?: string
  rootfs: { type: 'layers'; diff_ids: Digest[] }
  history?: HistoryEntry[]
}

/** One layer of an image: its uncompressed digest and the blob it came as. */
export interface LayerDescriptor {
  diffID: Digest
  blob: Digest
  mediaType: string
  /** Size of the blob in bytes. */
  blobSize: number
  /** Size of the uncompressed tar in bytes, when known (save needs it for its tar headers). */
  diffSize?: number
  /** Where a non-distributable (foreign) layer is fetched from, as its descriptor named them. */
  urls?: string[]
}

/**
 * A layer on its way in. Exactly one of three sources:
 * - `blob`: a layer blob as it travels (pull, load, import), compressed (gzip, zstd) or not,
 *   stored byte for byte; `digest` and `size`, when given, are checked while it streams.
 * - `tar`: an uncompressed layer tar made here (commit, a build step's diff or COPY), stored
 *   as `compression` says (default none, as Docker's own store keeps layers).
 * - `stored`: a blob already in the content store (load after spooling an archive; pull
 *   when the blob survived but its layer did not), unpacked only.
 * `mediaType` is recorded as given; by default it is OCI's layer type for the compression.
 */
export type LayerInput =
  | {
      blob: Readable
      /** The blob's digest, checked as it streams. */
      digest?: Digest
      /**
       * The blob's digest, already checked by the stream itself: it fails rather than ending
       * when its bytes do not have this digest (the registry client's fetchBlob). Not hashed
       * again; the blob is committed only once the stream has ended cleanly.
       */
      verified?: Digest
      size?: number
      mediaType?: string
    }
  | { tar: Readable; compression?: 'none' | 'gzip'; mediaType?: string }
  | { stored: Digest; mediaType?: string }

export interface WriteLayerOptions {
  /** The expected diffID (sha256 of the uncompressed tar); nothing is kept when it differs. */
  diffID?: Digest
  signal?: AbortSignal
  /** Called with the total input bytes read so far, for progress bars. */
  progress?: (bytesRead: number) => void
  /** Device nodes other than whiteouts (default true, as Docker allows for root). */
  allowDevices?: boolean
}

/** What writeLayer made: the layer's descriptor, every size known. */
export interface IngestedLayer extends LayerDescriptor {
  diffSize: number
  /** Bytes of file content once unpacked (LayerInfo.size). */
  size: number
}

/**
 * The one way layers enter berth: the blob is written to the content store and unpacked into
 * the layer store in the same pass (the input is read once, never held whole in memory), each
 * checked against the digests expected. Nothing is visible before both are whole; a layer or
 * blob that already exists counts as written. A failure or a kill at any point leaves at most
 * content no image records, which the start-up garbage collection removes.
 */
export interface LayerIngest {
  writeLayer(input: LayerInput, opts?: WriteLayerOptions): Promise<IngestedLayer>
}

/**
 * A layer whose files are already on disk (a build step's upper directory): its tar, read once,
 * and what makes the directory the layer once the tar's digest, the diffID, is known.
 */
export interface AdoptedLayerInput {
  /** The layer as an uncompressed tar, stored as it is: its digest is the diffID. */
  tar: Readable
  mediaType?: string
  /** Makes the layer store hold the layer `diffID` from the files (the layer module's adoption). */
  adopt: (diffID: Digest) => Promise<LayerInfo>
}

/**
 * Something besides the images that keeps layers and blobs: the build cache. The image store's
 * garbage collection and its removals (rmi, image prune) keep whatever a root holds, so a root
 * is asked each time; it is given to the store at wiring.
 */
export interface ContentRoot {
  /** The layers (by diffID) and blobs it holds now. */
  held(): Promise<{ layers: Set<Digest>; blobs: Set<Digest> }>
}

/** How a root gives back what it no longer holds (builder prune). */
export interface ContentCollector {
  /**
   * Deletes those of the given layers and blobs that no image and no root holds now, under the
   * store's lock; returns the bytes freed (the layers' unpacked sizes, as image removal counts).
   */
  release(candidates: { layers: Digest[]; blobs: Digest[] }): Promise<{ reclaimed: number }>
}

export interface Image {
  /** The config's digest, which is the image ID. */
  id: Digest
  config: ImageConfig
  layers: LayerDescriptor[]
  /** Familiar references, e.g. "busybox:latest", "example.com/a/b:1". */
  repoTags: string[]
  /** "name@sha256:..." for manifests the image was pulled or pushed by. */
  repoDigests: string[]
  /** Total unpacked size of its layers. */
  size: number
  /** When this store first saw the image (ISO 8601). */
  addedAt: string
  /** The image this one was built on, when known locally (commit, build). */
  parent?: Digest
}

export interface Progress {
  /** Docker's JSON progress message fields. */
  id?: string
  status?: string
  progress?: string
  progressDetail?: { current?: number; total?: number }
  stream?: string
}

export type ProgressSink = (p: Progress) => void

export interface ImageReader {
  /** Accepts name[:tag], name@digest, a full or unique short ID, sha256:ID. NotFound "No such image: REF". */
  resolve(ref: string): Promise<Image>
  list(): Promise<Image[]>
  get(id: Digest): Promise<Image | undefined>
}

/** Who uses an image, so that rmi can refuse; answered by the container store. */
export interface ImageUsage {
  /** IDs of containers created from the image, running ones first. */
  containersUsing(imageId: Digest): Promise<{ id: string; running: boolean }[]>
}

export interface DeleteResponseItem {
  Untagged?: string
  Deleted?: string
}

/** A new image from a config and layers already in the content and layer stores. */
export interface NewImageInput {
  config: ImageConfig
  layers: LayerDescriptor[]
  /** Familiar tagged references ("name:tag") to point at the image; moved from any other. */
  tags?: string[]
  parent?: Digest
  /** "name@sha256:..." of the manifest the image came by (pull). */
  repoDigests?: string[]
  /**
   * The digest of the config's exact bytes when they are already in the content store (pull,
   * load): the image ID must be the digest of the bytes the registry served, not of a
   * re-serialisation. When absent, `config` is serialised and stored.
   */
  configDigest?: Digest
}

/**
 * Content that no image records yet but that must stay: what a pull under way (or one cut
 * short, to be resumed) has gathered. Garbage collection and image removal leave it alone.
 */
export interface RetainedContent {
  blobs(): Iterable<Digest>
  layers(): Iterable<Digest>
}

/**
 * What flows that make images (load, import, commit; next pull and build) need of the store.
 * create emits no event: each flow reports itself as Docker does (see events.ts).
 */
export interface ImageCreator {
  /** Records the image (or merges into the one with the same ID) and moves its tags, atomically. */
  create(input: NewImageInput): Promise<Image>
}

export interface ImageStore extends ImageReader, ImageCreator {
  tag(source: string, target: string): Promise<void>
  remove(ref: string, opts: { force: boolean; noPrune: boolean }): Promise<DeleteResponseItem[]>
  prune(opts: {
    all: boolean
    filters: Record<string, string[]>
  }): Promise<{ deleted: DeleteResponseItem[]; spaceReclaimed: number }>
  /** Reads a docker-archive or OCI-layout tar (plain, gzip, zstd); returns the loaded images and tags. */
  load(
    archive: Readable,
    opts: { signal?: AbortSignal; progress?: ProgressSink },
  ): Promise<{ loaded: string[] }>
  /** Writes the images to one archive with both docker-archive and OCI-layout metadata, as Docker 25+ does. */
  save(refs: string[], opts: { signal?: AbortSignal }): Promise<Readable>
  /** Makes a one-layer image from a root filesystem tar (docker import). */
  importRootfs(
    tar: Readable,
    opts: {
      changes: string[]
      message?: string
      tag?: string
      platform?: string
      signal?: AbortSignal
    },
  ): Promise<Image>
}

/** The runtime's freeze, for the moment the diff is read. */
export interface Freezer {
  /**
   * False where the host has no freezer for containers (rootless on cgroups v1): a commit then
   * takes the diff of the running container, as `docker commit --pause=false` does.
   */
  readonly available?: boolean
  pause(id: string): Promise<void>
  resume(id: string): Promise<void>
}

export interface CommitRequest {
  container: {
    id: string
    /** The image the container was made from. */
    image: Digest
    /** The container's own config (the image's container_config; its Cmd goes in the history). */
    config: ImageRunConfig
    /** The attributes its events carry (labels, image, name), as the container side gives them. */
    eventAttributes: Record<string, string>
  }
  /** The new image's run config: the request's config and changes already applied. */
  config: ImageRunConfig
  /** The container's changes (its upper dir) as an uncompressed layer tar. */
  diff(): Promise<Readable>
  /** Freeze the container while its diff is read (only asked of a running one). */
  pause: boolean
  repo?: string
  tag?: string
  author?: string
  comment?: string
}

/** docker commit on the image side (image/commit.ts ImageCommitter), for the container side. */
export interface ImageCommit {
  /** `--change` Dockerfile instructions applied to a run config, in moby's words and rules. */
  applyChanges(base: ImageRunConfig, changes: string[]): ImageRunConfig
  /** Takes the container's diff as a layer and records the child image of its image. */
  commit(req: CommitRequest): Promise<Image>
}
