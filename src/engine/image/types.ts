import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'

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

export interface ImageStore extends ImageReader {
  /** Records a new image from a config and layers already in the content and layer stores. */
  create(input: {
    config: ImageConfig
    layers: LayerDescriptor[]
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
  }): Promise<Image>
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
