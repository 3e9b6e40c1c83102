// An in-memory content store for tests (the API's fake engine among them). It keeps the real
// store's contract, which test/conformance/blob-store.ts checks on both: digests verified on
// commit, nothing visible before it, "already exists" is success, Docker's words for absence.
import { createHash, type Hash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { isDigest, sha256, type Digest } from '../digest.ts'
import { InvalidArgument, NotFound } from '../errors.ts'
import type { BlobInfo, BlobStore, BlobWriter } from './types.ts'

export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<Digest, Buffer>()

  private get(d: Digest): Buffer {
    if (!isDigest(d)) throw new InvalidArgument(`invalid digest: ${JSON.stringify(d)}`)
    const b = this.blobs.get(d)
    if (!b) throw new NotFound(`content digest ${d}: not found`)
    return b
  }

  async info(d: Digest): Promise<BlobInfo> {
    return { digest: d, size: this.get(d).length }
  }

  async has(d: Digest): Promise<boolean> {
    if (!isDigest(d)) throw new InvalidArgument(`invalid digest: ${JSON.stringify(d)}`)
    return this.blobs.has(d)
  }

  async open(d: Digest): Promise<Readable> {
    const b = this.get(d)
    // In pieces, as a file would come, so readers meet chunk boundaries.
    const pieces: Buffer[] = []
    for (let i = 0; i < b.length; i += 64 * 1024) pieces.push(b.subarray(i, i + 64 * 1024))
    return Readable.from(pieces, { objectMode: false })
  }

  async readAll(d: Digest): Promise<Buffer> {
    return Buffer.from(this.get(d))
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const d of [...this.blobs.keys()].sort()) {
      const b = this.blobs.get(d)
      if (b) yield { digest: d, size: b.length }
    }
  }

  async ingest(): Promise<BlobWriter> {
    return new MemoryBlobWriter((d, data) => {
      if (!this.blobs.has(d)) this.blobs.set(d, data)
    })
  }

  async put(data: Uint8Array | string, expected?: Digest): Promise<BlobInfo> {
    const buf = Buffer.from(typeof data === 'string' ? Buffer.from(data) : data)
    const digest = sha256(buf)
    if (expected !== undefined && expected !== digest) {
      throw new InvalidArgument(`digest mismatch: expected ${expected}, got ${digest}`)
    }
    if (!this.blobs.has(digest)) this.blobs.set(digest, buf)
    return { digest, size: buf.length }
  }

  async delete(d: Digest): Promise<void> {
    this.get(d)
    this.blobs.delete(d)
  }
}

class MemoryBlobWriter extends Writable implements BlobWriter {
  private readonly hash: Hash = createHash('sha256')
  private chunks: Buffer[] = []
  private size = 0
  private done = false

  constructor(private readonly store: (d: Digest, data: Buffer) => void) {
    super()
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.hash.update(chunk)
    this.chunks.push(Buffer.from(chunk))
    this.size += chunk.length
    cb()
  }

  async commit(expected?: { digest?: Digest; size?: number }): Promise<BlobInfo> {
    if (this.done) throw new InvalidArgument('blob writer already committed or aborted')
    if (!this.writableFinished) {
      if (this.destroyed) throw new InvalidArgument('blob writer failed before commit')
      await new Promise<void>((resolve, reject) => {
        this.once('error', reject)
        this.end(() => resolve())
      })
    }
    this.done = true
    const digest: Digest = `sha256:${this.hash.digest('hex')}`
    const data = Buffer.concat(this.chunks)
    this.chunks = []
    if (expected?.size !== undefined && expected.size !== this.size) {
      throw new InvalidArgument(`unexpected commit size ${this.size}, expected ${expected.size}`)
    }
    if (expected?.digest !== undefined && expected.digest !== digest) {
      throw new InvalidArgument(`digest mismatch: expected ${expected.digest}, got ${digest}`)
    }
    this.store(digest, data)
    return { digest, size: this.size }
  }

  async abort(): Promise<void> {
    this.done = true
    this.chunks = []
    if (!this.destroyed) this.destroy()
  }
}
