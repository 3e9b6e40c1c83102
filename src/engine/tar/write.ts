// A streaming tar writer for files on disk: ustar headers with PAX records where ustar cannot say
// it (long or non-ASCII names, xattrs with binary values). Written here rather than with
// tar-stream's pack because PAX values there are strings, which would corrupt binary xattrs such
// as security.capability. File bodies are read in chunks; nothing holds a whole file in memory.
import { constants, readlinkSync, type BigIntStats } from 'node:fs'
import { open } from 'node:fs/promises'
import { devMajorMinor, lgetxattr } from '../sys/libc.ts'
import { llistxattr } from '../sys/fsat.ts'

const BLOCK = 512
const CHUNK = 256 * 1024
const S_IFMT = 0o170000n
const S_IFREG = 0o100000n
const S_IFDIR = 0o040000n
const S_IFLNK = 0o120000n
const S_IFCHR = 0o020000n
const S_IFBLK = 0o060000n
const S_IFIFO = 0o010000n

export interface TarHeader {
  name: string
  type: '0' | '1' | '2' | '3' | '4' | '5' | '6'
  mode: number
  uid: number
  gid: number
  size: number
  mtime: number
  linkname?: string
  devmajor?: number
  devminor?: number
  xattrs?: Map<string, Buffer>
}

function numField(buf: Buffer, off: number, len: number, v: number): void {
  const oct = Math.max(0, Math.floor(v)).toString(8)
  if (oct.length <= len - 1) {
    buf.write(oct.padStart(len - 1, '0'), off, 'latin1')
    buf[off + len - 1] = 0
    return
  }
  // GNU base-256 for what octal cannot hold (sizes over 8 GiB, large ids).
  let n = BigInt(Math.floor(v))
  for (let i = off + len - 1; i > off; i--) {
    buf[i] = Number(n & 0xffn)
    n >>= 8n
  }
  buf[off] = 0x80
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')])
  let len = body.length + 1
  while (String(len).length + body.length !== len) len = String(len).length + body.length
  return Buffer.concat([Buffer.from(String(len)), body])
}

function isPlainAscii(s: string, max: number): boolean {
  return Buffer.byteLength(s) === s.length && s.length <= max && !s.includes('\0')
}

function splitUstar(name: string): { prefix: string; name: string } | undefined {
  if (!isPlainAscii(name, 256)) return undefined
  if (name.length <= 100) return { prefix: '', name }
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue
    const prefix = name.slice(0, i)
    const rest = name.slice(i + 1)
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return { prefix, name: rest }
    if (prefix.length <= 155) break
  }
  return undefined
}

function rawHeader(h: TarHeader, name: { prefix: string; name: string }, linkname: string): Buffer {
  const b = Buffer.alloc(BLOCK)
  b.write(name.name, 0, 100, 'utf8')
  numField(b, 100, 8, h.mode & 0o7777)
  numField(b, 108, 8, h.uid)
  numField(b, 116, 8, h.gid)
  numField(b, 124, 12, h.size)
  numField(b, 136, 12, h.mtime)
  b.write(h.type, 156, 'latin1')
  b.write(linkname, 157, 100, 'utf8')
  b.write('ustar\x0000', 257, 'latin1')
  numField(b, 329, 8, h.devmajor ?? 0)
  numField(b, 337, 8, h.devminor ?? 0)
  b.write(name.prefix, 345, 155, 'utf8')
  b.write('        ', 148, 'latin1')
  let sum = 0
  for (const x of b) sum += x
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1')
  return b
}

/** The header block(s) for one entry: a PAX extended header first when one is needed. */
export function encodeHeader(h: TarHeader): Buffer {
  const records: Buffer[] = []
  let name = splitUstar(h.name)
  if (!name) {
    records.push(paxRecord('path', Buffer.from(h.name)))
    name = { prefix: '', name: Buffer.from(h.name).subarray(0, 100).toString('latin1') }
  }
  let linkname = h.linkname ?? ''
  if (linkname !== '' && !isPlainAscii(linkname, 100)) {
    records.push(paxRecord('linkpath', Buffer.from(linkname)))
    linkname = ''
  }
  for (const [k, v] of h.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${k}`, v))
  if (records.length === 0) return rawHeader(h, name, linkname)
  const body = Buffer.concat(records)
  const base = h.name.replace(/\/$/, '').split('/').pop() ?? 'x'
  const paxName = `PaxHeaders.0/${base}`.slice(0, 100)
  const pax = rawHeader(
    { name: '', type: '0', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: h.mtime },
    { prefix: '', name: isPlainAscii(paxName, 100) ? paxName : 'PaxHeaders.0/x' },
    '',
  )
  pax.write('x', 156, 'latin1')
  // Recompute the checksum after changing the type flag.
  pax.write('        ', 148, 'latin1')
  let sum = 0
  for (const x of pax) sum += x
  pax.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1')
  return Buffer.concat([pax, body, padding(body.length), rawHeader(h, name, linkname)])
}

export function padding(size: number): Buffer {
  const rem = size % BLOCK
  return Buffer.alloc(rem === 0 ? 0 : BLOCK - rem)
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK)

/**
 * A file's xattrs worth keeping in an archive (overlayfs' own are its bookkeeping, not content).
 * `listed`: the file's xattr names, when the caller has listed them already.
 */
export function readXattrs(path: string, listed?: string[]): Map<string, Buffer> | undefined {
  let names: string[]
  try {
    names = listed ?? llistxattr(path)
  } catch {
    return undefined
  }
  if (names.length === 0) return undefined
  const out = new Map<string, Buffer>()
  for (const n of [...names].sort()) {
    if (n.startsWith('trusted.overlay.')) continue
    try {
      const v = lgetxattr(path, n)
      if (v !== undefined) out.set(n, Buffer.from(v))
    } catch {
      // Gone or unreadable since it was listed: leave it out.
    }
  }
  return out.size > 0 ? out : undefined
}

/**
 * Turns files into tar entries; remembers inodes so a second name of a file becomes a hardlink.
 * Sockets are skipped as Docker does.
 */
export class TarEntries {
  private readonly inodes = new Map<string, string>()

  /**
   * Yields the blocks for `name` (no leading slash; a directory gets a trailing one) from the file
   * at `path` with the lstat `st`. `path` must not be a symlink that could be swapped: callers
   * pass /proc/self/fd/N/NAME paths or paths in directories nobody else writes.
   */
  async *entry(
    path: string,
    name: string,
    st: BigIntStats,
    /** A regular file's bytes, already read (read ahead by a caller that knows it is still). */
    content?: Buffer,
    /** The entry's xattr names, already listed by the caller. */
    xattrNames?: string[],
  ): AsyncGenerator<Buffer> {
    const now = this.blocksNow(path, name, st, content, xattrNames)
    if (Array.isArray(now)) yield* now
    else yield* this.fileBlocks(path, now)
  }

  /**
   * `entry`'s blocks, at once, where they need no read of the file's bytes (every entry but a
   * regular file whose content is not given: for that one, its header's fields, which
   * `fileBlocks` streams the file under). For a caller that gathers many small entries into one
   * chunk without a turn of an async generator for each block.
   */
  blocksNow(
    path: string,
    name: string,
    st: BigIntStats,
    content?: Buffer,
    xattrNames?: string[],
    /** The entry's time in seconds, where not the lstat's (a layer's clamped one). */
    mtime?: number,
  ): Buffer[] | TarHeader {
    const fmt = st.mode & S_IFMT
    const base: TarHeader = {
      name,
      type: '0',
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: 0,
      mtime: mtime ?? Number(st.mtimeMs / 1000n),
      xattrs: fmt === S_IFLNK ? undefined : readXattrs(path, xattrNames),
    }
    if (fmt === S_IFDIR) {
      return [encodeHeader({ ...base, name: name.endsWith('/') ? name : `${name}/`, type: '5' })]
    }
    if (fmt === S_IFLNK) return [encodeHeader({ ...base, type: '2', linkname: readlinkSync(path) })]
    if (fmt === S_IFCHR || fmt === S_IFBLK || fmt === S_IFIFO) {
      return [
        encodeHeader({
          ...base,
          type: fmt === S_IFCHR ? '3' : fmt === S_IFBLK ? '4' : '6',
          devmajor: fmt === S_IFIFO ? 0 : devMajorMinor(st.rdev).major,
          devminor: fmt === S_IFIFO ? 0 : devMajorMinor(st.rdev).minor,
        }),
      ]
    }
    if (fmt !== S_IFREG) return []
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`
      const first = this.inodes.get(key)
      if (first !== undefined) return [encodeHeader({ ...base, type: '1', linkname: first })]
      this.inodes.set(key, name)
    }
    if (!content) return base
    return [encodeHeader({ ...base, size: content.length }), content, padding(content.length)]
  }

  /** A regular file's blocks, its bytes read in chunks, under the header `blocksNow` gave. */
  async *fileBlocks(path: string, base: TarHeader): AsyncGenerator<Buffer> {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
    try {
      // The size is taken from the open file; a file that changes while it is read (a container
      // that was not paused) is cut or padded to it so the archive stays well formed.
      const size = Number((await fh.stat({ bigint: true })).size)
      yield encodeHeader({ ...base, type: '0', size })
      let left = size
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, left))
        const { bytesRead } = await fh.read(buf, 0, buf.length, size - left)
        if (bytesRead === 0) {
          yield Buffer.alloc(left)
          left = 0
          break
        }
        left -= bytesRead
        yield buf.subarray(0, bytesRead)
      }
      yield padding(size)
    } finally {
      await fh.close()
    }
  }
}
