import type { BigIntStats } from 'node:fs'
import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'

export interface LayerInfo {
  /** sha256 of the uncompressed tar. */
  diffID: Digest
  /** Bytes of file content the layer holds once unpacked. */
  size: number
}

/** A place in a container's writable layer and the bytes under it. */
export interface UsagePath {
  /** The path inside the container (`/root/data`). */
  path: string
  bytes: number
}

/** What a container's writable layer holds of its own (rwUsage). */
export interface RWUsage {
  /** Bytes of the regular files it wrote (a file linked under several names once). */
  bytes: number
  /** Files, symlinks and devices it made or changed; directories are not counted. */
  files: number
  /** Files of the image it deleted (overlay whiteouts). */
  deleted: number
  /** When it last changed anything (ms since the epoch, the newest ctime); 0 when never. */
  lastChange: number
  /** Where the bytes are, biggest first (a few places). */
  top: UsagePath[]
}

/** The directories of an overlay mount (a read-write layer over its parents). */
export interface OverlayDirs {
  upper: string
  /** Lower directories, top first (as overlay's lowerdir lists them). */
  lowers: string[]
  /**
   * Mount points the runtime made for mounts beyond the /etc files (GPU driver files): each
   * is left out while it is an empty file or holds nothing of the container's, and so is a
   * directory that holds nothing but such mount points.
   */
  stubs?: readonly string[]
}

/** An OCI mount description; the runtime performs it. */
export interface Mount {
  type: string
  source: string
  destination: string
  options: string[]
}

export interface LayerStore {
  /**
   * Unpacks one layer (uncompressed, gzip or zstd, detected from its first bytes) into its
   * snapshot directory, safely: entries that would escape the root are refused. Whiteouts
   * become overlayfs whiteouts. The digest of the uncompressed stream is the diffID; when it
   * differs from `expectedDiffID` nothing is kept. When the layer already exists the stream is
   * still read and checked, and the existing layer is returned. Device nodes (other than
   * whiteouts) are refused when `allowDevices` is false; it defaults to true, as Docker allows
   * them for root. `uncompressed` says the stream is a plain tar (decompressed by the caller), so
   * its first bytes are not taken for a compression header.
   */
  unpack(
    stream: Readable,
    opts?: {
      expectedDiffID?: Digest
      signal?: AbortSignal
      allowDevices?: boolean
      uncompressed?: boolean
    },
  ): Promise<LayerInfo>
  has(diffID: Digest): Promise<boolean>
  info(diffID: Digest): Promise<LayerInfo>
  list(): Promise<LayerInfo[]>
  delete(diffID: Digest): Promise<void>

  /**
   * Makes an empty read-write layer for a container above `parents` (bottom first). `durable:
   * false` (default true): not synced, for a layer nothing needs after a crash (a build step's,
   * removed at start).
   */
  createRW(id: string, parents: Digest[], opts?: { durable?: boolean }): Promise<void>
  /** The overlay mount that makes the container's root filesystem, for the runtime to perform. */
  rootfsMount(id: string, target: string): Promise<Mount>
  /** Size of what the container changed (bytes in its upper directory). */
  rwSize(id: string): Promise<number>
  /**
   * What the container changed, less the runtime's mount point stubs and the paths in `skip`
   * (the mount points of its volumes, binds and tmpfs mounts, whose contents live elsewhere).
   * Walks the upper directory: it costs time in proportion to what changed.
   */
  rwUsage(id: string, skip: ReadonlySet<string>): Promise<RWUsage>
  removeRW(id: string): Promise<void>
  /** The IDs of the read-write layers there are (for reconciliation at start). */
  listRW(): Promise<string[]>
}

/** Docker's change kinds: 0 modified, 1 added, 2 deleted. */
export type ChangeKind = 0 | 1 | 2

/** One line of `docker diff`. */
export interface Change {
  Path: string
  Kind: ChangeKind
}

/**
 * A container's read-write layer against the layers below it (layer/diff.ts reads overlay's
 * upper directory): what `docker diff` lists and the layer `docker commit` stores.
 */
export interface LayerDiffer {
  changes(id: string): Promise<Change[]>
  /** The read-write layer `id` as an uncompressed layer tar, streamed as it is read. */
  diff(id: string): Promise<Readable>
  /** The read-write layer's overlay directories; the lowers as the layers' own paths. */
  overlayDirs(id: string): Promise<{ lower: string[]; upper: string; work: string }>
}

/**
 * One entry of a build step's upper directory, as the step's layer tar sees it (diff.ts
 * stepLayer) and adoption (adopt.ts) keeps it.
 */
export interface StepEntry {
  item: {
    /** The entry's path inside the layer, with a leading slash. */
    rel: string
    /** Its host path. */
    path: string
    st: BigIntStats
  }
  /** Written even with nothing kept below it (new, or its metadata differs from below). */
  own: boolean
  opaque: boolean
  whiteout: boolean
  /**
   * Its xattr names (overlay's own included) as the tar's read listed them, so the adoption need
   * not list them again (layer/adopt.ts); absent where the read did not list them.
   */
  xattrs?: string[]
}

/**
 * A file a build step wrote into its upper directory itself (by its path in the layer), as the
 * writer knows it, so the step's layer tar need not read it again (diff.ts stepLayer).
 */
export interface WrittenFile {
  /** Its bytes (taken only while the size still matches the walk's). */
  data: Buffer
  /**
   * Its xattr names, where the writer knows they are all it has (it set them on a new file that
   * got none of its own); absent: the tar's read lists them.
   */
  xattrs?: readonly string[]
}
