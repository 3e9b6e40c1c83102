// Writes one layer tar into a directory, treating the archive as hostile. No kernel call ever
// sees a `..` or walks through a symlink the archive made: every name is cleaned lexically, each
// parent directory is lstat'ed (or known to have been made by us) and files are created with
// O_EXCL|O_NOFOLLOW. Nothing but this unpack writes into the directory while it runs, so a check
// once made stays true until an entry of this same archive changes that path, and then we forget it.
//
// Every call is synchronous: this runs on the unpack thread (unpack-worker.ts), never on the
// daemon's event loop, and a layer's ~20,000 small files cost one thread-pool hand-off less per
// system call (open, write, chown, utimes, close each were one).
import { createHash } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs'
import type { Digest } from '../digest.ts'
import { BerthError, Internal, InvalidArgument, errnoCode } from '../errors.ts'
import { S_IFBLK, S_IFCHR, S_IFIFO, SysError, lsetxattr, mknod } from '../sys/libc.ts'
import { cleanName } from '../tar/names.ts'
import { inUserNamespace } from '../../lib/userns.ts'
import { TarFormatError, TarReader, type TarHeader, type TarSink } from './tarread.ts'

export interface UnpackResult {
  diffID: Digest
  /** Bytes of regular file content. */
  size: number
}

const WH_PREFIX = '.wh.'
const WH_META_PREFIX = '.wh..wh.'
const WH_OPAQUE = '.wh..wh..opq'
const OPAQUE_XATTR = 'trusted.overlay.opaque'

const HOST_FAULTS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'ENOMEM', 'EROFS', 'EMFILE', 'ENFILE'])

const q = (s: string): string => JSON.stringify(s)

function invalid(msg: string): InvalidArgument {
  return new InvalidArgument(`invalid layer: ${msg}`)
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** One layer's unpack: tar bytes in (push), the diffID and size out (finish). */
export class LayerUnpack {
  private readonly hash = createHash('sha256')
  private readonly writer: LayerWriter
  private readonly reader: TarReader

  constructor(root: string, allowDevices: boolean) {
    this.writer = new LayerWriter(root, allowDevices)
    this.reader = new TarReader(this.writer)
  }

  /** Unpacks what `chunk` completes; the chunk is not kept. */
  push(chunk: Buffer): void {
    this.hash.update(chunk)
    this.guard(() => this.reader.push(chunk))
  }

  finish(): UnpackResult {
    this.guard(() => this.reader.finish())
    this.writer.finish()
    return { diffID: `sha256:${this.hash.digest('hex')}`, size: this.writer.size }
  }

  /** Closes what is open after a failure or an abort. */
  close(): void {
    this.writer.close()
  }

  private guard(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      if (err instanceof TarFormatError) throw invalid(err.message)
      throw err
    }
  }
}

interface Times {
  atime: number
  mtime: number
}

let userNamespace: boolean | undefined

function inUserNs(): boolean {
  userNamespace ??= inUserNamespace()
  return userNamespace
}

/** The regular file being written. */
interface OpenFile {
  fd: number
  abs: string
  rel: string
  h: TarHeader
  made: { mode: boolean; owner: boolean }
}

class LayerWriter implements TarSink {
  size = 0
  /** Paths (relative, '' is the root) known to be real directories made or checked by us. */
  private readonly dirs = new Set<string>([''])
  /** Directories' times, set once all their children are written. */
  private readonly dirTimes = new Map<string, Times>()
  /** Directories (of this.dirs) whose new files take the directory's group (set-group-ID). */
  private readonly sgidDirs = new Set<string>()
  /** Permission bits open(2) leaves off a new file. */
  private readonly umask = process.umask()
  /** Who owns a file we create, unless its directory is set-group-ID. */
  private readonly creator = { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1 }
  private file: OpenFile | undefined

  constructor(
    private readonly root: string,
    private readonly allowDevices: boolean,
  ) {
    // Learns whether the root hands its group down, as parents() learns it of what it makes.
    if ((lstatSync(root).mode & 0o2000) !== 0) this.sgidDirs.add('')
  }

  header(h: TarHeader): void {
    this.wrap(h, () => this.begin(h))
  }

  data(chunk: Buffer): void {
    const f = this.file
    if (f === undefined) return // entries other than files carry no data we keep
    this.size += chunk.length
    this.wrap(f.h, () => writeAll(f.fd, chunk))
  }

  end(): void {
    const f = this.file
    if (f === undefined) return
    this.file = undefined
    this.wrap(f.h, () => {
      try {
        this.metadata(f.abs, f.rel, f.h, 'file', f.fd, f.made)
      } finally {
        closeSync(f.fd)
      }
    })
  }

  finish(): void {
    for (const [rel, t] of this.dirTimes) lutimesSync(this.abs(rel), t.atime, t.mtime)
  }

  close(): void {
    const f = this.file
    this.file = undefined
    if (f !== undefined) closeSync(f.fd)
  }

  /** A failure of a system call in Docker's terms: the host's fault (500) or the layer's (400). */
  private wrap(h: TarHeader, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      if (err instanceof BerthError) throw err
      const name = h.name
      const code = errnoCode(err)
      if (code !== undefined && HOST_FAULTS.has(code)) {
        throw new Internal(`unpacking layer entry ${q(name)}: ${messageOf(err)}`, { cause: err })
      }
      throw new InvalidArgument(`invalid layer: entry ${q(name)}: ${messageOf(err)}`, {
        cause: err,
      })
    }
  }

  private begin(h: TarHeader): void {
    const name = h.name
    const comps = cleanName(name)
    const rel = comps.join('/')
    const base = comps[comps.length - 1] ?? ''

    // AUFS bookkeeping at the top (.wh..wh.plnk, .wh..wh.aufs) is not content.
    if (comps.length > 0 && comps[0]!.startsWith(WH_META_PREFIX) && rel !== WH_OPAQUE) return
    if (base === WH_OPAQUE) {
      this.parents(comps, name)
      lsetxattr(this.abs(comps.slice(0, -1).join('/')), OPAQUE_XATTR, Buffer.from('y'))
      return
    }
    if (base.startsWith(WH_PREFIX)) {
      const hidden = base.slice(WH_PREFIX.length)
      if (hidden === '' || hidden === '.' || hidden === '..') {
        throw invalid(`entry ${q(name)} is not a valid whiteout`)
      }
      const target = [...comps.slice(0, -1), hidden]
      this.parents(target, name)
      const abs = this.abs(target.join('/'))
      this.create(target.join('/'), false, () => mknod(abs, S_IFCHR, 0, 0))
      lchownSync(abs, h.uid ?? 0, h.gid ?? 0)
      return
    }

    if (comps.length === 0) {
      if (h.type !== 'directory') throw invalid(`entry ${q(name)} would replace the layer root`)
      this.metadata(this.root, '', h, 'dir')
      return
    }

    this.parents(comps, name)
    const abs = this.abs(rel)
    switch (h.type) {
      case 'directory':
        this.create(rel, true, () => mkdirSync(abs, 0o700))
        this.dirs.add(rel)
        this.metadata(abs, rel, h, 'dir')
        if (((h.mode ?? 0o755) & 0o2000) !== 0) this.sgidDirs.add(rel)
        else this.sgidDirs.delete(rel)
        return
      case 'file':
      case 'contiguous-file': {
        const flags =
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
        // Most files can be created with their final mode and owner, which saves two calls per
        // file (fchmod, fchown); the others get 0600 until metadata() sets them.
        const mode = (h.mode ?? 0o644) & 0o7777
        const exact = (mode & 0o7000) === 0 && (mode & this.umask) === 0
        let fd = -1
        this.create(rel, false, () => {
          fd = openSync(abs, flags, exact ? mode : 0o600)
        })
        const made = { mode: exact, owner: exact && this.ownsNew(comps) }
        if (h.size > 0) {
          this.file = { fd, abs, rel, h, made }
          return
        }
        try {
          this.metadata(abs, rel, h, 'file', fd, made)
        } finally {
          closeSync(fd)
        }
        return
      }
      case 'symlink': {
        const target = h.linkname ?? ''
        if (target === '' || target.includes('\0')) {
          throw invalid(`symlink ${q(name)} has an invalid target`)
        }
        // The link is stored, never followed here: later entries may not write through it.
        this.create(rel, false, () => symlinkSync(target, abs))
        this.metadata(abs, rel, h, 'symlink')
        return
      }
      case 'link': {
        const linkname = h.linkname ?? ''
        const tcomps = cleanName(linkname, `hardlink ${q(name)} ->`)
        if (tcomps.length === 0)
          throw invalid(`hardlink ${q(name)} -> ${q(linkname)} is a directory`)
        this.create(rel, false, () => linkSync(this.existing(tcomps, name, linkname), abs))
        return
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        if (h.type !== 'fifo' && !this.allowDevices) {
          throw invalid(`entry ${q(name)} is a device node, which is not allowed here`)
        }
        const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR
        const mode = kind | ((h.mode ?? 0) & 0o7777)
        try {
          this.create(rel, false, () => mknod(abs, mode, h.devmajor ?? 0, h.devminor ?? 0))
        } catch (err) {
          // In a user namespace (berth without root) the kernel refuses device nodes: they are
          // left out, as Docker and Podman leave them out there (runc gives a container the
          // /dev nodes it needs itself).
          if (h.type === 'fifo' || errnoCode(err) !== 'EPERM' || !inUserNs()) throw err
          return
        }
        this.metadata(abs, rel, h, 'other')
        return
      }
      default:
        throw invalid(`entry ${q(name)} has an unsupported type (${h.type ?? 'unknown'})`)
    }
  }

  /** Whether a file made now at `comps` belongs to the creator's group (no set-group-ID parent). */
  private ownsNew(comps: string[]): boolean {
    return !this.sgidDirs.has(comps.slice(0, -1).join('/'))
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`
  }

  /** Makes sure every parent of `comps` is a real directory, making missing ones (0755). */
  private parents(comps: string[], name: string): void {
    let rel = ''
    for (let i = 0; i < comps.length - 1; i++) {
      rel = rel === '' ? comps[i]! : `${rel}/${comps[i]}`
      if (this.dirs.has(rel)) continue
      const abs = this.abs(rel)
      const up = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : ''
      const st = lstatSync(abs, { throwIfNoEntry: false })
      if (st === undefined) {
        mkdirSync(abs, 0o755)
        this.dirs.add(rel)
        // mkdir(2) passes set-group-ID down to a new directory.
        if (this.sgidDirs.has(up)) this.sgidDirs.add(rel)
        continue
      }
      if (st.isSymbolicLink()) {
        throw invalid(`entry ${q(name)} passes through the symlink ${q(rel)}`)
      }
      if (!st.isDirectory()) throw invalid(`entry ${q(name)}: ${q(rel)} is not a directory`)
      this.dirs.add(rel)
      if ((st.mode & 0o2000) !== 0) this.sgidDirs.add(rel)
    }
  }

  /** The host path of a hardlink target that already exists in this layer, reached without symlinks. */
  private existing(tcomps: string[], name: string, linkname: string): string {
    const what = `hardlink ${q(name)} -> ${q(linkname)}`
    let rel = ''
    for (let i = 0; i < tcomps.length; i++) {
      rel = rel === '' ? tcomps[i]! : `${rel}/${tcomps[i]}`
      const last = i === tcomps.length - 1
      if (!last && this.dirs.has(rel)) continue
      const st = lstatSync(this.abs(rel), { throwIfNoEntry: false })
      if (st === undefined) throw invalid(`${what}: target is not in the layer`)
      if (last) {
        if (st.isDirectory()) throw invalid(`${what}: target is a directory`)
      } else if (st.isSymbolicLink()) {
        throw invalid(`${what} passes through the symlink ${q(rel)}`)
      } else if (!st.isDirectory()) {
        throw invalid(`${what}: ${q(rel)} is not a directory`)
      }
    }
    return this.abs(rel)
  }

  /**
   * Runs `make`; when something already sits at `rel` it is replaced, except that a directory
   * entry over a directory keeps it (its metadata is then updated).
   */
  private create(rel: string, dir: boolean, make: () => unknown): void {
    try {
      make()
      return
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err
    }
    const st = lstatSync(this.abs(rel))
    if (dir && st.isDirectory()) return
    rmSync(this.abs(rel), { recursive: true, force: true })
    this.forget(rel)
    make()
  }

  private forget(rel: string): void {
    const prefix = `${rel}/`
    for (const d of this.dirs) if (d === rel || d.startsWith(prefix)) this.dirs.delete(d)
    for (const d of this.sgidDirs) if (d === rel || d.startsWith(prefix)) this.sgidDirs.delete(d)
    for (const d of this.dirTimes.keys()) {
      if (d === rel || d.startsWith(prefix)) this.dirTimes.delete(d)
    }
  }

  /** Owner, then xattrs (chown clears file capabilities), then mode (chown clears setuid), then times. */
  private metadata(
    abs: string,
    rel: string,
    h: TarHeader,
    kind: 'file' | 'dir' | 'symlink' | 'other',
    fd?: number,
    /** What the file was created with already (mode: its final mode; owner: the creator is its owner). */
    made: { mode: boolean; owner: boolean } = { mode: false, owner: false },
  ): void {
    const uid = paxInt(h.pax?.uid) ?? h.uid ?? 0
    const gid = paxInt(h.pax?.gid) ?? h.gid ?? 0
    if (made.owner && uid === this.creator.uid && gid === this.creator.gid) {
      // Already its owner: chown(2) would change nothing (no set-ID bits or capabilities yet).
    } else if (fd !== undefined) fchownSync(fd, uid, gid)
    else lchownSync(abs, uid, gid)

    for (const [key, value] of h.xattrs ?? []) {
      // overlayfs' own attributes come only from whiteout entries, never from the archive.
      if (key.startsWith('trusted.overlay.')) continue
      try {
        lsetxattr(abs, key, value)
      } catch (err) {
        // As Docker: not every filesystem takes every namespace (user.* on symlinks, say).
        if (err instanceof SysError && (err.code === 'EPERM' || err.code === 'EOPNOTSUPP')) continue
        throw err
      }
    }

    if (kind !== 'symlink' && !made.mode) {
      const mode = (h.mode ?? (kind === 'dir' ? 0o755 : 0o644)) & 0o7777
      if (fd !== undefined) fchmodSync(fd, mode)
      else chmodSync(abs, mode)
    }

    const mtime = paxTime(h.pax?.mtime) ?? h.mtime ?? 0
    const atime = paxTime(h.pax?.atime) ?? mtime
    if (kind === 'dir') this.dirTimes.set(rel, { atime, mtime })
    else if (fd !== undefined) futimesSync(fd, atime, mtime)
    else lutimesSync(abs, atime, mtime)
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  let done = 0
  while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done)
}

function paxInt(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined
  return Number(v)
}

function paxTime(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v)) return undefined
  return Number(v)
}
