// Stream helpers for archives and layers: compression sniffing, decompression, a tee that
// honours backpressure on both sides.
import { once } from 'node:events'
import { PassThrough, Readable } from 'node:stream'
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
 * side drains. Destroying either side destroys the source and the other side.
 */
export function tee(src: Readable): [PassThrough, PassThrough] {
  const a = new PassThrough({ highWaterMark: 256 * 1024 })
  const b = new PassThrough({ highWaterMark: 256 * 1024 })
  const fail = (err: Error) => {
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
