// Stream helpers for archives and layers: compression sniffing, decompression, a tee that
// honours backpressure on both sides, and a digest check that fails before a clean end.
import { createHash, type Hash } from 'node:crypto'
import { once } from 'node:events'
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream'
import type { Digest } from '../digest.ts'
import { InvalidArgument } from '../errors.ts'
import { decompress as decompressAll, detectCompression, type Compression } from '../compression.ts'

export { detectCompression, type Compression }

/** Reads at least n bytes (fewer at the end) and puts them back; the stream is left paused. */
export async function peek(src: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let len = 0
  while (len < n) {
    const c = src.read() as Buffer | null
    if (c !== null) {
      chunks.push(c)
      len += c.length
      continue
    }
    if (src.readableEnded || src.destroyed) break
    const ac = new AbortController()
    try {
      await Promise.race([
        once(src, 'readable', { signal: ac.signal }),
        once(src, 'end', { signal: ac.signal }),
        once(src, 'close', { signal: ac.signal }),
      ])
    } finally {
      ac.abort()
    }
    const err = src.errored
    if (err) throw err
  }
  const buf = Buffer.concat(chunks)
  if (buf.length > 0) src.unshift(buf)
  return buf
}

/** A decompressing stream for gzip and zstd; the input itself when uncompressed. */
export async function decompress(
  src: Readable,
): Promise<{ stream: Readable; compression: Compression }> {
  const head = await peek(src, 4)
  const compression = detectCompression(head)
  if (compression === 'none') return { stream: src, compression }
  // The layer store's decompressor bounds zstd's memory per block; one implementation serves both.
  return { stream: Readable.from(decompressAll(src)), compression }
}

/** Counts the bytes of a stream, consuming it. */
export async function countBytes(src: Readable): Promise<number> {
  let n = 0
  for await (const c of src) n += (c as Buffer).length
  return n
}

/**
 * Splits one stream into two with backpressure: the source is read only as fast as the slower
 * side drains. A failure anywhere (either side destroyed early, the source failing or closing
 * before its end) destroys the source and both sides with the same error.
 */
export function tee(src: Readable): [PassThrough, PassThrough] {
  const a = new PassThrough({ highWaterMark: 256 * 1024 })
  const b = new PassThrough({ highWaterMark: 256 * 1024 })
  let failed = false
  const fail = (err: Error) => {
    if (failed) return
    failed = true
    src.destroy(err)
    a.destroy(err)
    b.destroy(err)
  }
  for (const s of [a, b]) {
    s.on('error', fail)
    s.on('close', () => {
      if (!s.writableFinished) fail(new Error('stream closed early'))
    })
  }
  src.on('error', fail)
  src.on('close', () => {
    if (!src.readableEnded) fail(src.errored ?? new Error('premature close'))
  })
  // A source that failed before the tee was made has no more events to give.
  if (src.destroyed && !src.readableEnded) {
    const err = src.errored ?? new Error('premature close')
    process.nextTick(() => fail(err))
  }
  src.on('data', (chunk: Buffer) => {
    const okA = a.write(chunk)
    const okB = b.write(chunk)
    if (!okA || !okB) {
      src.pause()
      const waits: Promise<unknown>[] = []
      if (!okA) waits.push(once(a, 'drain'))
      if (!okB) waits.push(once(b, 'drain'))
      Promise.all(waits).then(
        () => src.resume(),
        () => undefined,
      )
    }
  })
  src.on('end', () => {
    a.end()
    b.end()
  })
  return [a, b]
}

/**
 * Counts what passes, and hashes it when a digest is expected. With an expected size it fails
 * as soon as more arrives (a hostile server cannot stream forever); at the end it fails on a
 * short stream or another digest, so that whatever reads the output never sees a clean end of
 * unverified data. `failure` tells its own refusal apart from errors that reach it from others.
 */
export class DigestCheck extends Transform {
  private readonly h: Hash | undefined
  private n = 0
  failure: InvalidArgument | undefined

  constructor(
    private readonly want: { digest?: Digest; size?: number; what?: string } = {},
    private readonly onBytes?: (total: number) => void,
  ) {
    super({ highWaterMark: 256 * 1024 })
    if (want.digest !== undefined) this.h = createHash('sha256')
  }

  private refuse(msg: string): InvalidArgument {
    this.failure = new InvalidArgument(this.want.what ? `${this.want.what}: ${msg}` : msg)
    return this.failure
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.n += chunk.length
    if (this.want.size !== undefined && this.n > this.want.size) {
      cb(this.refuse(`size mismatch: more than the expected ${this.want.size} bytes`))
      return
    }
    this.h?.update(chunk)
    this.onBytes?.(this.n)
    cb(null, chunk)
  }

  override _flush(cb: TransformCallback): void {
    if (this.want.size !== undefined && this.n !== this.want.size) {
      cb(this.refuse(`size mismatch: expected ${this.want.size} bytes, got ${this.n}`))
      return
    }
    const got: Digest | undefined = this.h ? `sha256:${this.h.digest('hex')}` : undefined
    if (got !== undefined && got !== this.want.digest) {
      cb(this.refuse(`digest mismatch: expected ${this.want.digest}, got ${got}`))
      return
    }
    cb()
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.n
  }
}

/** Yields the chunks of `src`, telling `count` each one's length. */
export async function* counted(
  src: AsyncIterable<Buffer>,
  count: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  for await (const c of src) {
    count(c.length)
    yield c
  }
}

/** Reads a whole small stream into memory, refusing more than `limit` bytes. */
export async function readSmall(
  src: AsyncIterable<Buffer>,
  limit: number,
  what: string,
): Promise<Buffer> {
  const chunks: Buffer[] = []
  let n = 0
  for await (const c of src) {
    n += c.length
    if (n > limit) throw new RangeError(`${what} is larger than ${limit} bytes`)
    chunks.push(c)
  }
  return Buffer.concat(chunks)
}
