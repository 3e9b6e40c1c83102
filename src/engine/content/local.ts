// A content store on plain files: blobs/sha256/<hex>, written through ingest/ and renamed into
// place only once the digest is checked, as containerd's local store does.
import { createHash, randomBytes, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import {
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  type FileHandle,
} from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { Writable } from 'node:stream'
import { hex, isDigest, type Digest } from '../digest.ts'
import { errnoCode, Internal, InvalidArgument, NotFound } from '../errors.ts'
import { fsyncDir } from '../fsutil.ts'
import type { BlobInfo, BlobStore, BlobWriter, TrustedDigest } from './types.ts'

export class LocalBlobStore implements BlobStore {
  readonly dir: string
  private readonly blobDir: string
  private readonly ingestDir: string

  constructor(dir: string) {
    this.dir = dir
    this.blobDir = join(dir, 'blobs', 'sha256')
    this.ingestDir = join(dir, 'ingest')
  }

  /** Creates the directories and sweeps ingests left by a crashed daemon. Call once before use. */
  async init(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true })
    await rm(this.ingestDir, { recursive: true, force: true })
    await mkdir(this.ingestDir, { recursive: true })
  }

  private path(d: Digest): string {
    if (!isDigest(d)) throw new InvalidArgument(`invalid digest: ${JSON.stringify(d)}`)
    return join(this.blobDir, hex(d))
  }

  async info(d: Digest): Promise<BlobInfo> {
    try {
      const st = await stat(this.path(d))
      return { digest: d, size: st.size }
    } catch (err) {
      throw notFound(err, d)
    }
  }

  async has(d: Digest): Promise<boolean> {
    try {
      await stat(this.path(d))
      return true
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false
      throw err
    }
  }

  async open(d: Digest): Promise<Readable> {
    let fh: FileHandle
    try {
      fh = await open(this.path(d), 'r')
    } catch (err) {
      throw notFound(err, d)
    }
    return createReadStream('', { fd: fh, highWaterMark: 256 * 1024 })
  }

  async readAll(d: Digest): Promise<Buffer> {
    try {
      return await readFile(this.path(d))
    } catch (err) {
      throw notFound(err, d)
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    let names: string[]
    try {
      names = await readdir(this.blobDir)
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return
      throw err
    }
    for (const name of names.sort()) {
      const d = `sha256:${name}`
      if (!isDigest(d)) continue
      try {
        const st = await stat(join(this.blobDir, name))
        yield { digest: d, size: st.size }
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err
      }
    }
  }

  async ingest(opts: { trusted?: TrustedDigest } = {}): Promise<BlobWriter> {
    const tmp = join(this.ingestDir, randomBytes(12).toString('hex'))
    let fh: FileHandle
    try {
      fh = await open(tmp, 'wx', 0o644)
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
      // init() was not called, or the dir was removed: recreate it rather than fail a pull.
      await mkdir(this.ingestDir, { recursive: true })
      await mkdir(this.blobDir, { recursive: true })
      fh = await open(tmp, 'wx', 0o644)
    }
    return new LocalBlobWriter(fh, tmp, this.blobDir, opts.trusted)
  }

  async put(data: Uint8Array | string, expected?: Digest): Promise<BlobInfo> {
    const w = await this.ingest()
    try {
      await new Promise<void>((resolve, reject) => {
        w.once('error', reject)
        w.end(typeof data === 'string' ? Buffer.from(data) : data, () => resolve())
      })
      return await w.commit(expected ? { digest: expected } : undefined)
    } catch (err) {
      await w.abort()
      throw err
    }
  }

  /** NotFound when the blob is absent. */
  async delete(d: Digest): Promise<void> {
    try {
      await unlink(this.path(d))
    } catch (err) {
      throw notFound(err, d)
    }
  }
}

function notFound(err: unknown, d: Digest): unknown {
  if (errnoCode(err) === 'ENOENT')
    return new NotFound(`content digest ${d}: not found`, { cause: err })
  return err
}

/** What is left of `chunks` once their first `skip` bytes are written (views, no copies). */
function after(chunks: Buffer[], skip: number): Buffer[] {
  const rest: Buffer[] = []
  for (const c of chunks) {
    if (skip >= c.length) {
      skip -= c.length
      continue
    }
    rest.push(skip > 0 ? c.subarray(skip) : c)
    skip = 0
  }
  return rest
}

class LocalBlobWriter extends Writable implements BlobWriter {
  /** None when the digest is trusted: the feeder verifies it (one hash of the stream, not two). */
  private readonly hash: Hash | undefined
  private size = 0
  private fh: FileHandle | undefined
  private done = false

  constructor(
    fh: FileHandle,
    private readonly tmp: string,
    private readonly blobDir: string,
    private readonly trusted?: TrustedDigest,
  ) {
    super({ highWaterMark: 256 * 1024 })
    this.fh = fh
    this.hash = trusted ? undefined : createHash('sha256')
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeChunk(chunk).then(() => cb(), cb)
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    // One writev of the queued chunks as they are: joining them first copied every byte of a
    // pulled layer once more.
    this.writeChunks(chunks.map((c) => c.chunk)).then(() => cb(), cb)
  }

  private async writeChunk(chunk: Buffer): Promise<void> {
    const fh = this.fh
    if (!fh) throw new Error('blob writer is closed')
    this.hash?.update(chunk)
    let off = 0
    while (off < chunk.length) {
      const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, this.size + off)
      off += bytesWritten
    }
    this.size += chunk.length
  }

  private async writeChunks(chunks: Buffer[]): Promise<void> {
    const fh = this.fh
    if (!fh) throw new Error('blob writer is closed')
    let total = 0
    for (const c of chunks) {
      this.hash?.update(c)
      total += c.length
    }
    let off = 0
    while (off < total) {
      const { bytesWritten } = await fh.writev(
        off === 0 ? chunks : after(chunks, off),
        this.size + off,
      )
      off += bytesWritten
    }
    this.size += total
  }

  override _final(cb: (err?: Error | null) => void): void {
    const fh = this.fh
    this.fh = undefined
    if (!fh) return cb()
    fh.sync()
      .then(() => fh.close())
      .then(
        () => cb(),
        (err: Error) =>
          fh.close().then(
            () => cb(err),
            () => cb(err),
          ),
      )
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const fh = this.fh
    this.fh = undefined
    if (!fh) return cb(err)
    fh.close().then(
      () => cb(err),
      () => cb(err),
    )
  }

  async commit(expected?: { digest?: Digest; size?: number }): Promise<BlobInfo> {
    if (this.done) throw new InvalidArgument('blob writer already committed or aborted')
    if (!this.writableFinished) {
      if (this.destroyed) throw new InvalidArgument('blob writer failed before commit')
      await new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => reject(e)
        this.once('error', onErr)
        this.end(() => {
          this.off('error', onErr)
          resolve()
        })
      })
    }
    this.done = true
    try {
      // A trusted digest is the feeder's word that it checked every byte written: asked now,
      // after the last byte, and refused when it has not (yet) said so.
      if (this.trusted && !this.trusted.verified()) {
        throw new Internal(`blob ${this.trusted.digest} was not verified before commit`)
      }
      const digest: Digest = this.trusted
        ? this.trusted.digest
        : `sha256:${this.hash!.digest('hex')}`
      if (expected?.size !== undefined && expected.size !== this.size) {
        throw new InvalidArgument(`unexpected commit size ${this.size}, expected ${expected.size}`)
      }
      if (expected?.digest !== undefined && expected.digest !== digest) {
        throw new InvalidArgument(`digest mismatch: expected ${expected.digest}, got ${digest}`)
      }
      const dest = join(this.blobDir, hex(digest))
      if (await exists(dest)) {
        await rm(this.tmp, { force: true })
      } else {
        await rename(this.tmp, dest)
        await fsyncDir(this.blobDir)
      }
      return { digest, size: this.size }
    } catch (err) {
      await rm(this.tmp, { force: true })
      throw err
    }
  }

  async abort(): Promise<void> {
    this.done = true
    if (!this.destroyed) {
      await new Promise<void>((resolve) => {
        this.once('close', () => resolve())
        this.destroy()
      })
    }
    await rm(this.tmp, { force: true })
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false
    throw err
  }
}
