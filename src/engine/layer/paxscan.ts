// tar-stream decodes PAX records as UTF-8 text, which mangles binary xattr values such as
// security.capability. PaxXattrScanner follows the same byte stream tar-stream parses, walking
// headers exactly as it does, and keeps the raw xattr records of each entry, keyed by the offset
// of the entry's data (tar-stream's header.byteOffset), so they can be matched without doubt.

const BLOCK = 512
const PAX_MAX = 4 * 1024 * 1024

export type RawXattrs = Map<string, Buffer>

const SCHILY = 'SCHILY.xattr.'
const LIBARCHIVE = 'LIBARCHIVE.xattr.'

export class PaxXattrScanner {
  private offset = 0
  private head: Buffer[] = []
  private headLen = 0
  private skip = 0
  private collect: { kind: 'x' | 'g'; size: number; parts: Buffer[]; got: number } | null = null
  private collectPad = 0
  private local: Map<string, Buffer> | null = null
  private global: Map<string, Buffer> | null = null
  private stopped = false
  private readonly found = new Map<number, RawXattrs>()

  observe(chunk: Buffer): void {
    let i = 0
    while (i < chunk.length && !this.stopped) {
      if (this.collect) {
        const n = Math.min(this.collect.size - this.collect.got, chunk.length - i)
        this.collect.parts.push(chunk.subarray(i, i + n))
        this.collect.got += n
        i += n
        this.offset += n
        if (this.collect.got === this.collect.size) {
          const records = parsePax(Buffer.concat(this.collect.parts))
          if (this.collect.kind === 'g') this.global = records
          else this.local = this.global ? new Map([...this.global, ...records]) : records
          this.collect = null
          this.skip = this.collectPad
        }
        continue
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i)
        this.skip -= n
        i += n
        this.offset += n
        continue
      }
      const n = Math.min(BLOCK - this.headLen, chunk.length - i)
      this.head.push(chunk.subarray(i, i + n))
      this.headLen += n
      i += n
      this.offset += n
      if (this.headLen === BLOCK) {
        const h = Buffer.concat(this.head)
        this.head = []
        this.headLen = 0
        this.header(h)
      }
    }
  }

  /** The raw xattrs of the entry whose data starts at `byteOffset`, if it had any. */
  take(byteOffset: number): RawXattrs | undefined {
    const x = this.found.get(byteOffset)
    this.found.delete(byteOffset)
    return x
  }

  private header(h: Buffer): void {
    const sum = checksum(h)
    if (sum === 8 * 32) return // a zero block: tar-stream reads on past it
    if (sum !== decodeOct(h, 148, 8)) {
      this.stopped = true // tar-stream fails on this header too
      return
    }
    let typeflag = h[156] === 0 ? 0 : h[156] - 48
    let size = decodeOct(h, 124, 12) ?? NaN
    switch (typeflag) {
      case 27: // GNU long link name
      case 28: // GNU long name
      case 30:
        if (!(size >= 0) || size > PAX_MAX) {
          this.stopped = true
          return
        }
        this.skip = size + pad(size)
        return
      case 55: // 'g'
      case 72: // 'x'
        if (!(size >= 0) || size > PAX_MAX) {
          this.stopped = true
          return
        }
        this.collect = { kind: typeflag === 55 ? 'g' : 'x', size, parts: [], got: 0 }
        this.collectPad = pad(size)
        return
    }
    const nameEnd = h.subarray(0, 100).indexOf(0)
    const lastNameByte = h[(nameEnd === -1 ? 100 : nameEnd) - 1]
    if (typeflag === 0 && nameEnd !== 0 && lastNameByte === 0x2f) typeflag = 5
    const pax = this.local
    this.local = null
    if (pax) {
      const s = pax.get('size')
      if (s && s.length > 0) size = parseInt(s.toString(), 10)
      const xattrs = xattrsOf(pax)
      if (xattrs.size > 0) this.found.set(this.offset, xattrs)
    }
    if (!(size >= 0)) {
      this.stopped = true
      return
    }
    if (typeflag !== 5 && size > 0) this.skip = size + pad(size)
  }
}

function pad(size: number): number {
  const r = size & 511
  return r && BLOCK - r
}

function checksum(h: Buffer): number {
  let sum = 8 * 32
  for (let j = 0; j < 148; j++) sum += h[j]
  for (let j = 156; j < BLOCK; j++) sum += h[j]
  return sum
}

// tar-stream's reading of numeric fields, mirrored exactly: octal text, or base-256.
function decodeOct(buf: Buffer, offset: number, length: number): number | null {
  const val = buf.subarray(offset, offset + length)
  if (val[0] & 0x80) {
    let positive: boolean
    if (val[0] === 0x80) positive = true
    else if (val[0] === 0xff) positive = false
    else return null
    let sum = 0
    for (let k = val.length - 1, m = 1; k > 0; k--, m *= 256) {
      sum += (positive ? val[k] : 0xff - val[k]) * m
    }
    return positive ? sum : -1 * sum
  }
  let s = 0
  while (s < val.length && val[s] === 32) s++
  let e = s
  while (e < val.length && val[e] !== 32) e++
  while (s < e && val[s] === 0) s++
  if (e === s) return 0
  return parseInt(val.subarray(s, e).toString(), 8)
}

/** PAX records with their values left as bytes. */
export function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  while (buf.length > 0) {
    let i = 0
    while (i < buf.length && buf[i] !== 32) i++
    const len = parseInt(buf.subarray(0, i).toString(), 10)
    if (!len) return out
    const rec = buf.subarray(i + 1, len - 1)
    const eq = rec.indexOf(0x3d)
    if (eq === -1) return out
    out.set(rec.subarray(0, eq).toString(), Buffer.from(rec.subarray(eq + 1)))
    buf = buf.subarray(len)
  }
  return out
}

function xattrsOf(pax: Map<string, Buffer>): RawXattrs {
  const out: RawXattrs = new Map()
  for (const [k, v] of pax) {
    if (k.startsWith(SCHILY)) out.set(k.slice(SCHILY.length), v)
    else if (k.startsWith(LIBARCHIVE)) {
      // libarchive writes both the name (URL-encoded) and the value (base64).
      out.set(decodeURIComponent(k.slice(LIBARCHIVE.length)), Buffer.from(v.toString(), 'base64'))
    }
  }
  return out
}
