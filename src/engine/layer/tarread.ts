// A synchronous, incremental tar reader for the unpack thread: bytes go in as they come, and each
// entry's header, data pieces and end go out to a sink before push() returns, so the caller may
// reuse its buffer at once. It reads as tar-stream does (ustar, GNU and PAX long names and sizes,
// base-256 numbers, zero blocks skipped, the same refusals in the same words), and keeps PAX
// xattr values as bytes (file capabilities are binary; paxscan.ts).
import { parsePax, xattrsOf, type RawXattrs } from './paxscan.ts'

const BLOCK = 512
/** The largest PAX or GNU long-name record read (tar-stream's limit). */
const MAX_HEADER_SIZE = 4 * 1024 * 1024

export type TarType =
  | 'file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'contiguous-file'

export interface TarHeader {
  name: string
  /** null for a type flag tar-stream does not know either. */
  type: TarType | null
  mode: number | null
  uid: number | null
  gid: number | null
  /** Bytes of data that follow (after a PAX size). */
  size: number
  /** Seconds since the epoch. */
  mtime: number | null
  linkname: string | null
  devmajor: number | null
  devminor: number | null
  /** The entry's PAX records (a global header's merged under them), as text. */
  pax: Record<string, string> | null
  /** Its PAX xattrs with their values as bytes. */
  xattrs: RawXattrs | null
}

export interface TarSink {
  header(h: TarHeader): void
  /** A piece of the entry's data; valid only during the call. */
  data(chunk: Buffer): void
  end(): void
}

/** A refusal of the archive itself (tar-stream's words). */
export class TarFormatError extends Error {}

const TYPES: Record<
  number,
  TarType | 'pax-header' | 'pax-global-header' | 'gnu-long-path' | 'gnu-long-link-path'
> = {
  0: 'file',
  1: 'link',
  2: 'symlink',
  3: 'character-device',
  4: 'block-device',
  5: 'directory',
  6: 'fifo',
  7: 'contiguous-file',
  72: 'pax-header',
  55: 'pax-global-header',
  27: 'gnu-long-link-path',
  28: 'gnu-long-path',
  30: 'gnu-long-path',
}

type Long = 'pax-header' | 'pax-global-header' | 'gnu-long-path' | 'gnu-long-link-path'

export class TarReader {
  /** A header block being gathered across pushes. */
  private readonly head = Buffer.alloc(BLOCK)
  private headLen = 0
  /** Data bytes of the current entry still to come (then its padding). */
  private missing = 0
  private padding = 0
  private inEntry = false
  private long: { kind: Long; size: number; parts: Buffer[]; got: number } | null = null
  private pax: Map<string, Buffer> | null = null
  private paxGlobal: Map<string, Buffer> | null = null
  private gnuLongPath: string | null = null
  private gnuLongLinkPath: string | null = null

  constructor(private readonly sink: TarSink) {}

  push(chunk: Buffer): void {
    let i = 0
    const n = chunk.length
    while (i < n) {
      if (this.missing > 0) {
        const take = Math.min(this.missing, n - i)
        const piece = chunk.subarray(i, i + take)
        i += take
        this.missing -= take
        if (this.long !== null) {
          this.long.parts.push(Buffer.from(piece)) // kept past this call: copied
          this.long.got += take
          if (this.missing === 0) this.endLong()
        } else {
          this.sink.data(piece)
          if (this.missing === 0) this.endEntry()
        }
        continue
      }
      if (this.padding > 0) {
        const take = Math.min(this.padding, n - i)
        i += take
        this.padding -= take
        continue
      }
      if (this.headLen === 0 && n - i >= BLOCK) {
        this.header(chunk.subarray(i, i + BLOCK))
        i += BLOCK
        continue
      }
      const take = Math.min(BLOCK - this.headLen, n - i)
      chunk.copy(this.head, this.headLen, i, i + take)
      this.headLen += take
      i += take
      if (this.headLen === BLOCK) {
        this.headLen = 0
        this.header(this.head)
      }
    }
  }

  /** The input ended: it must have ended between entries. */
  finish(): void {
    if (this.missing > 0 || this.padding > 0 || this.headLen > 0 || this.inEntry) {
      throw new TarFormatError('Unexpected end of data')
    }
  }

  private endEntry(): void {
    this.inEntry = false
    this.sink.end()
  }

  private endLong(): void {
    const long = this.long!
    this.long = null
    const buf = Buffer.concat(long.parts)
    switch (long.kind) {
      case 'gnu-long-path':
        this.gnuLongPath = cString(buf, 0, buf.length)
        break
      case 'gnu-long-link-path':
        this.gnuLongLinkPath = cString(buf, 0, buf.length)
        break
      case 'pax-global-header':
        this.paxGlobal = parsePax(buf)
        break
      case 'pax-header':
        this.pax =
          this.paxGlobal === null ? parsePax(buf) : new Map([...this.paxGlobal, ...parsePax(buf)])
        break
    }
  }

  private header(buf: Buffer): void {
    const sum = checksum(buf)
    if (sum === 8 * 32) return // a zero block: read on past it
    if (sum !== decodeOct(buf, 148, 8)) {
      throw new TarFormatError(
        'Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?',
      )
    }
    const typeflag = buf[156] === 0 ? 0 : buf[156]! - 48
    let name = cString(buf, 0, 100)
    if (isUstar(buf)) {
      if (buf[345] !== 0) name = `${cString(buf, 345, 155)}/${name}`
    } else if (!isGnu(buf)) {
      throw new TarFormatError('Invalid tar header: unknown format.')
    }
    let type = TYPES[typeflag] ?? null
    let size = decodeOct(buf, 124, 12)
    const padAfter = (s: number): number => {
      const r = s & 511
      return r && BLOCK - r
    }

    if (
      type === 'pax-header' ||
      type === 'pax-global-header' ||
      type === 'gnu-long-path' ||
      type === 'gnu-long-link-path'
    ) {
      if (size === null || !(size >= 0) || size > MAX_HEADER_SIZE) {
        throw new TarFormatError('Header exceeds max size')
      }
      this.padding = padAfter(size)
      if (size === 0) return // an empty record says nothing
      this.long = { kind: type, size, parts: [], got: 0 }
      this.missing = size
      return
    }

    let linkname = buf[157] === 0 ? null : cString(buf, 157, 100)
    if (this.gnuLongPath !== null) {
      name = this.gnuLongPath
      this.gnuLongPath = null
    }
    if (this.gnuLongLinkPath !== null) {
      linkname = this.gnuLongLinkPath
      this.gnuLongLinkPath = null
    }
    let pax: Record<string, string> | null = null
    let xattrs: RawXattrs | null = null
    if (this.pax !== null) {
      const records = this.pax
      this.pax = null
      pax = {}
      for (const [k, v] of records) pax[k] = v.toString('utf8')
      if (pax.path) name = pax.path
      if (pax.linkpath) linkname = pax.linkpath
      if (pax.size) size = parseInt(pax.size, 10)
      const found = xattrsOf(records)
      if (found.size > 0) xattrs = found
    }
    if (size === null || !(size >= 0)) throw new TarFormatError('Invalid header')
    // An old (V7) archive marks a directory by a NUL type and a trailing slash, as Go's
    // archive/tar (Docker's reader) reads it: on the whole name, never on the first 100 bytes of
    // a long one, whose cut may end in a slash.
    if (buf[156] === 0 && name.endsWith('/')) type = 'directory'

    const h: TarHeader = {
      name,
      type: type as TarType | null,
      mode: decodeOct(buf, 100, 8),
      uid: decodeOct(buf, 108, 8),
      gid: decodeOct(buf, 116, 8),
      size,
      mtime: decodeOct(buf, 136, 12),
      linkname,
      devmajor: decodeOct(buf, 329, 8),
      devminor: decodeOct(buf, 337, 8),
      pax,
      xattrs,
    }
    this.inEntry = true
    this.sink.header(h)
    // As tar-stream: a directory's size is not skipped (what follows is read as headers).
    if (size === 0 || type === 'directory') {
      this.endEntry()
      return
    }
    this.missing = size
    this.padding = padAfter(size)
  }
}

function cString(buf: Buffer, offset: number, length: number): string {
  let end = offset
  const limit = Math.min(offset + length, buf.length)
  while (end < limit && buf[end] !== 0) end++
  return buf.toString('utf8', offset, end)
}

function checksum(h: Buffer): number {
  let sum = 8 * 32
  for (let j = 0; j < 148; j++) sum += h[j]!
  for (let j = 156; j < BLOCK; j++) sum += h[j]!
  return sum
}

// The magic (and, for GNU, the version) at offset 257.
function isUstar(h: Buffer): boolean {
  return h.toString('latin1', 257, 263) === 'ustar\0'
}

function isGnu(h: Buffer): boolean {
  return h.toString('latin1', 257, 265) === 'ustar  \0'
}

// tar-stream's reading of numeric fields: octal text (leading spaces and NULs skipped), or
// base-256 when the first byte has its high bit set.
function decodeOct(buf: Buffer, offset: number, length: number): number | null {
  if (buf[offset]! & 0x80) {
    let positive: boolean
    if (buf[offset] === 0x80) positive = true
    else if (buf[offset] === 0xff) positive = false
    else return null
    let sum = 0
    for (let k = offset + length - 1, m = 1; k > offset; k--, m *= 256) {
      sum += (positive ? buf[k]! : 0xff - buf[k]!) * m
    }
    return positive ? sum : -1 * sum
  }
  const endAll = offset + length
  let s = offset
  while (s < endAll && buf[s] === 32) s++
  let e = s
  while (e < endAll && buf[e] !== 32) e++
  while (s < e && buf[s] === 0) s++
  if (e === s) return 0
  return parseInt(buf.toString('latin1', s, e), 8)
}
