// Turns a layer blob (plain tar, gzip or zstd) into the uncompressed tar stream, choosing the
// format from the first bytes as Docker does. Everything is streamed with backpressure.
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { Decompress } from 'fzstd'
import { InvalidArgument } from './errors.ts'

export type Compression = 'none' | 'gzip' | 'zstd'

export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (
    head.length >= 4 &&
    head[0] === 0x28 &&
    head[1] === 0xb5 &&
    head[2] === 0x2f &&
    head[3] === 0xfd
  ) {
    return 'zstd'
  }
  return 'none'
}

/** The uncompressed bytes of `source`, whatever its compression. */
export async function* decompress(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]()
  let head = Buffer.alloc(0)
  let done = false
  try {
    while (head.length < 4) {
      const r = await it.next()
      if (r.done) {
        done = true
        break
      }
      head = Buffer.concat([head, r.value])
    }
    const rest = (async function* () {
      if (head.length > 0) yield head
      if (done) return
      for (;;) {
        const r = await it.next()
        if (r.done) return
        yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value)
      }
    })()
    switch (detectCompression(head)) {
      case 'gzip':
        yield* gunzip(rest)
        return
      case 'zstd':
        yield* unzstd(rest)
        return
      default:
        yield* rest
    }
  } finally {
    await it.return?.()
  }
}

async function* gunzip(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  // Bigger pieces than zlib's 16 KiB default mean far fewer trips through the file system.
  const gz = createGunzip({ chunkSize: 256 * 1024 })
  // One compressed piece read ahead (Readable.from's default is 16).
  const feeding = pipeline(Readable.from(src, { highWaterMark: 1 }), gz)
  // Errors surface through the iteration below as well; this only keeps them from going unhandled.
  feeding.catch(() => {})
  try {
    for await (const chunk of gz) yield chunk as Buffer
    await feeding
  } catch (err) {
    throw new InvalidArgument(`invalid layer: gzip: ${(err as Error).message}`, { cause: err })
  } finally {
    gz.destroy()
  }
}

/** zstd's default decoder limit (windowLog 27); larger windows need --long on both ends. */
const MAX_WINDOW = 1 << 27
const MAX_OUT_PENDING = 1 << 20

/**
 * fzstd decodes every complete block it is given in one synchronous call, so a small input can
 * expand enormously (RLE blocks: 4 bytes become 128 KiB). ZstdFramer cuts the compressed stream
 * at block boundaries, so each push yields at most one block and output is handed on (and waited
 * for) in small pieces; it also refuses windows larger than zstd's own default limit before
 * fzstd allocates them.
 */
async function* unzstd(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let out: Buffer[] = []
  let pending = 0
  const d = new Decompress((data) => {
    if (data.length === 0) return
    // fzstd reuses no output buffers, so a view is enough.
    out.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    pending += data.length
  })
  const framer = new ZstdFramer()
  try {
    for await (const chunk of src) {
      for (const seg of framer.cut(chunk)) {
        d.push(seg)
        if (pending >= MAX_OUT_PENDING) {
          const o = out
          out = []
          pending = 0
          yield* o
        }
      }
    }
    framer.end()
    d.push(new Uint8Array(0), true)
  } catch (err) {
    if (err instanceof InvalidArgument) throw err
    throw new InvalidArgument(`invalid layer: zstd: ${(err as Error).message}`, { cause: err })
  }
  yield* out
}

type FramerState = 'magic' | 'skipsize' | 'fhd' | 'fheader' | 'bheader' | 'body'

const HEADER_BYTES: Partial<Record<FramerState, number>> = {
  magic: 4,
  skipsize: 4,
  fhd: 1,
  bheader: 3,
}

/** Walks zstd frames (RFC 8878) just far enough to know where each block ends. */
export class ZstdFramer {
  private state: FramerState = 'magic'
  private need = 4
  private hdr: number[] = []
  private remaining = 0
  private next: FramerState = 'magic'
  private cutAfterBody = false
  private checksum = false

  /** Splits `chunk` into pieces, each holding the end of at most one block. */
  cut(chunk: Uint8Array): Uint8Array[] {
    const pieces: Uint8Array[] = []
    let start = 0
    let i = 0
    while (i < chunk.length) {
      let cut: boolean
      if (this.state === 'body') {
        const n = Math.min(this.remaining, chunk.length - i)
        i += n
        this.remaining -= n
        if (this.remaining > 0) continue
        cut = this.cutAfterBody
        this.go(this.next)
      } else {
        this.hdr.push(chunk[i++])
        if (this.hdr.length < this.need) continue
        cut = this.header()
      }
      if (cut) {
        pieces.push(chunk.subarray(start, i))
        start = i
      }
    }
    if (start < chunk.length) pieces.push(chunk.subarray(start))
    return pieces
  }

  /** Throws unless the stream stopped between frames. */
  end(): void {
    if (this.state !== 'magic' || this.hdr.length !== 0) {
      throw new InvalidArgument('invalid layer: zstd: unexpected end of data')
    }
  }

  private go(state: FramerState): void {
    this.state = state
    this.hdr = []
    this.need = HEADER_BYTES[state] ?? 0
  }

  private body(n: number, next: FramerState, cut: boolean): boolean {
    if (n === 0) {
      this.go(next)
      return cut
    }
    this.state = 'body'
    this.remaining = n
    this.next = next
    this.cutAfterBody = cut
    return false
  }

  /** Handles a complete header; true when a block ended with it. */
  private header(): boolean {
    const h = this.hdr
    switch (this.state) {
      case 'magic':
        if (h[0] === 0x28 && h[1] === 0xb5 && h[2] === 0x2f && h[3] === 0xfd) {
          this.go('fhd')
        } else if ((h[0] & 0xf0) === 0x50 && h[1] === 0x2a && h[2] === 0x4d && h[3] === 0x18) {
          this.go('skipsize')
        } else {
          throw new InvalidArgument('invalid layer: zstd: bad frame magic')
        }
        return false
      case 'skipsize':
        return this.body((h[0] | (h[1] << 8) | (h[2] << 16)) + h[3] * 0x1000000, 'magic', false)
      case 'fhd': {
        const fhd = h[0]
        if (fhd & 0x08) throw new InvalidArgument('invalid layer: zstd: reserved bit set')
        const single = (fhd >> 5) & 1
        const fcsFlag = fhd >> 6
        const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag
        this.checksum = ((fhd >> 2) & 1) === 1
        this.state = 'fheader'
        this.need = 1 + (single ? 0 : 1) + DICT_BYTES[fhd & 3] + fcsBytes
        if (this.need === 1) return this.frameHeader()
        return false
      }
      case 'fheader':
        return this.frameHeader()
      case 'bheader': {
        const v = h[0] | (h[1] << 8) | (h[2] << 16)
        const last = (v & 1) === 1
        const type = (v >> 1) & 3
        if (type === 3) throw new InvalidArgument('invalid layer: zstd: reserved block type')
        const content = type === 1 ? 1 : v >>> 3
        return this.body(
          content + (last && this.checksum ? 4 : 0),
          last ? 'magic' : 'bheader',
          true,
        )
      }
      default:
        return false
    }
  }

  private frameHeader(): boolean {
    const h = this.hdr
    const fhd = h[0]
    let window: number
    if (((fhd >> 5) & 1) === 0) {
      const base = 2 ** (10 + (h[1] >> 3))
      window = base + (base / 8) * (h[1] & 7)
    } else {
      // Single-segment frames have no window descriptor: the window is the content size.
      const fcsFlag = fhd >> 6
      const fcsBytes = fcsFlag === 0 ? 1 : 1 << fcsFlag
      const at = 1 + DICT_BYTES[fhd & 3]
      window = 0
      for (let k = fcsBytes - 1; k >= 0; k--) window = window * 256 + h[at + k]
      if (fcsFlag === 1) window += 256
    }
    if (window > MAX_WINDOW) {
      throw new InvalidArgument(
        `invalid layer: zstd: window of ${window} bytes is larger than the ${MAX_WINDOW} allowed`,
      )
    }
    this.go('bheader')
    return false
  }
}

const DICT_BYTES = [0, 1, 2, 4]
