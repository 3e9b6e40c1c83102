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

export interface BlobStore extends BlobReader {
  ingest(): Promise<BlobWriter>
  /** Writes a small blob from memory; returns its digest. */
  put(data: Uint8Array | string, expected?: Digest): Promise<BlobInfo>
  delete(d: Digest): Promise<void>
}
