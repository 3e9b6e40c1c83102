import type { Readable, Writable } from 'node:stream'
import type { Digest } from '../digest.ts'

export interface BlobInfo {
  digest: Digest
  size: number
}

export interface BlobReader {
  /** NotFound when absent. */
  info(d: Digest): Promise<BlobInfo>
  has(d: Digest): Promise<boolean>
  open(d: Digest): Promise<Readable>
  readAll(d: Digest): Promise<Buffer> // for small blobs only: configs, manifests
  list(): AsyncIterable<BlobInfo>
}

/** A blob being written. Nothing is visible to readers before commit(). */
export interface BlobWriter extends Writable {
  /** Checks size and digest (when expected), fsyncs and renames into place. "Already exists" is success. */
  commit(expected?: { digest?: Digest; size?: number }): Promise<BlobInfo>
  /** Drops the partial blob. Safe to call after a failure. */
  abort(): Promise<void>
}

/**
 * A digest the writer need not compute: whoever feeds the writer checks the bytes against it
 * before commit (the layer ingest, over a stream verified as it arrives), and says so through
 * `verified()`. commit() names the blob by it, and refuses while `verified()` is false.
 */
export interface TrustedDigest {
  digest: Digest
  verified(): boolean
}

export interface BlobStore extends BlobReader {
  /** A writer for a new blob; with `trusted`, the bytes are not hashed again (see TrustedDigest). */
  ingest(opts?: { trusted?: TrustedDigest }): Promise<BlobWriter>
  /** Writes a small blob from memory; returns its digest. */
  put(data: Uint8Array | string, expected?: Digest): Promise<BlobInfo>
  delete(d: Digest): Promise<void>
}
