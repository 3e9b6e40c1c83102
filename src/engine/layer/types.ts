import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'

export interface LayerInfo {
  /** sha256 of the uncompressed tar. */
  diffID: Digest
  /** Bytes of file content the layer holds once unpacked. */
  size: number
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

  /** Makes an empty read-write layer for a container above `parents` (bottom first). */
  createRW(id: string, parents: Digest[]): Promise<void>
  /** The overlay mount that makes the container's root filesystem, for the runtime to perform. */
  rootfsMount(id: string, target: string): Promise<Mount>
  /** Size of what the container changed (bytes in its upper directory). */
  rwSize(id: string): Promise<number>
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
