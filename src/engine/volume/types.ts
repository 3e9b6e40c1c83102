// Volumes: directories under the data root that outlive containers (Docker's "local" driver).

/** The label Docker puts on volumes made without a name (`-v /ctr`, an image's VOLUME). */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous'

/** Docker's Volume as `GET /volumes/{name}` returns it. */
export interface Volume {
  Name: string
  Driver: string
  Mountpoint: string
  /** RFC 3339, seconds. */
  CreatedAt: string
  Labels: Record<string, string> | null
  Scope: 'local'
  Options: Record<string, string> | null
  /**
   * Driver-specific status, as Docker's Volume.Status. berth puts `Error` here when the volume's
   * meta.json cannot be read: its labels and options are unknown, so it is shown, never mounted
   * or pruned, until it is removed or its meta.json is mended.
   */
  Status?: Record<string, string>
  UsageData?: { Size: number; RefCount: number } | null
}

export interface VolumeCreateOptions {
  /** Empty or absent: an anonymous volume with a random 64-hex name. */
  name?: string
  /** "" or "local"; any other driver is not found. */
  driver?: string
  labels?: Record<string, string> | null
  /** The local driver's mount options: type, device, o (and size, which needs quotas). */
  options?: Record<string, string> | null
  /** A container that uses the volume from now on (reference counting). */
  ref?: string
}

export interface PruneReport {
  VolumesDeleted: string[]
  SpaceReclaimed: number
}

/** Filters as the API decodes them: a key to its set of values. */
export type VolumeFilters = Record<string, string[]>

export interface VolumeReader {
  /** NotFound `get NAME: no such volume`. With ref, the container is recorded as a user. */
  get(name: string, ref?: string): Promise<Volume>
  /** Filters: name, label, dangling, driver (InvalidArgument `invalid filter 'k'` otherwise). */
  list(filters?: VolumeFilters): Promise<Volume[]>
  /** The containers that use a volume. */
  refs(name: string): string[]
}

/** What the API layer may ask of volumes. */
export interface VolumeApi extends VolumeReader {
  /** Creates a volume, or returns the existing one of that name (Docker's create is idempotent). */
  create(opts: VolumeCreateOptions): Promise<Volume>
  /**
   * Removes a volume; Conflict `remove NAME: volume is in use - [IDS]` while containers use it.
   * With force, a missing volume is not an error.
   */
  remove(name: string, opts?: { force?: boolean }): Promise<void>
  /** Removes unused volumes without options: anonymous ones, or all with the filter all=true. */
  prune(filters?: VolumeFilters): Promise<PruneReport>
  /** Volumes with their sizes and reference counts (for `system df`). */
  usage(): Promise<Volume[]>
}

/** What containers need besides the API: references and the host path to mount. */
export interface VolumeStore extends VolumeApi {
  release(name: string, ref: string): void
  /** The host path to bind for a container, mounting the volume's device first when it has one. */
  mount(name: string, ref: string): Promise<string>
  unmount(name: string, ref: string): Promise<void>
}
