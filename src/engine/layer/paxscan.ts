// PAX records read as bytes: tar-stream (and a plain UTF-8 reading) would mangle binary xattr
// values such as security.capability. tarread.ts keeps each entry's xattrs with these.

export type RawXattrs = Map<string, Buffer>

const SCHILY = 'SCHILY.xattr.'
const LIBARCHIVE = 'LIBARCHIVE.xattr.'

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

export function xattrsOf(pax: Map<string, Buffer>): RawXattrs {
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
