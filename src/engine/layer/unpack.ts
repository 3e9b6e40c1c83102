// Unpacks one layer tar into a directory, treating the archive as hostile. No kernel call ever
// sees a `..` or walks through a symlink the archive made: every name is cleaned lexically, each
// parent directory is lstat'ed (or known to have been made by us) and files are created with
// O_EXCL|O_NOFOLLOW. Nothing but this unpack writes into the directory while it runs, so a check
// once made stays true until an entry of this same archive changes that path, and then we forget it.
import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import {
  chmod,
  link,
  lchown,
  lstat,
  lutimes,
  mkdir,
  open,
  rm,
  symlink,
  type FileHandle,
} from 'node:fs/promises'
import type { Readable } from 'node:stream'
import tar from 'tar-stream'
import type { Digest } from '../digest.ts'
import { BerthError, Internal, InvalidArgument, errnoCode } from '../errors.ts'
import { S_IFBLK, S_IFCHR, S_IFIFO, SysError, lsetxattr, mknod } from '../sys/libc.ts'
import { decompress } from '../compression.ts'
import { cleanName } from '../tar/names.ts'
import { PaxXattrScanner } from './paxscan.ts'

export interface UnpackOptions {
  /** Device nodes other than whiteouts (default true, as Docker allows for root). */
  allowDevices?: boolean
  /** The stream is a plain tar (its producer decompressed it): do not look for compression. */
  uncompressed?: boolean
  signal?: AbortSignal
}

export interface UnpackResult {
  diffID: Digest
  /** Bytes of regular file content. */
  size: number
}

const WH_PREFIX = '.wh.'
const WH_META_PREFIX = '.wh..wh.'
const WH_OPAQUE = '.wh..wh..opq'
const OPAQUE_XATTR = 'trusted.overlay.opaque'

const q = (s: string): string => JSON.stringify(s)

function invalid(msg: string): InvalidArgument {
  return new InvalidArgument(`invalid layer: ${msg}`)
}

/** Unpacks the layer blob `source` into `root`, an existing empty directory. */
export async function unpackLayer(
  source: Readable,
  root: string,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  const { signal } = opts
  signal?.throwIfAborted()
  const hash = createHash('sha256')
  const scanner = new PaxXattrScanner()
  const extract = tar.extract()
  const writer = new LayerWriter(root, opts.allowDevices ?? true, scanner)
  await writer.start()
  let first: unknown
  let failed = false
  const fail = (err: unknown): void => {
    if (!failed) {
      failed = true
      first = err
    }
    extract.destroy(err instanceof Error ? err : new Error(String(err)))
    source.destroy()
  }
  const onAbort = (): void => fail(signal?.reason)
  signal?.addEventListener('abort', onAbort, { once: true })

  const feed = (async () => {
    for await (const chunk of tarBytes(source, opts.uncompressed)) {
      if (failed) return
      hash.update(chunk)
      scanner.observe(chunk)
      if (!extract.write(chunk)) await drained(extract)
      if (extract.destroyed) return // the reader stopped; it reports why
    }
    extract.end(null)
  })().catch(fail)

  const consume = (async () => {
    const it = extract[Symbol.asyncIterator]()
    for (;;) {
      let r: IteratorResult<Entry>
      try {
        r = await it.next()
      } catch (err) {
        throw err instanceof BerthError ? err : invalid(messageOf(err))
      }
      if (r.done) break
      await writer.entry(r.value)
    }
    await writer.finish()
  })().catch(fail)

  try {
    await Promise.all([feed, consume])
  } finally {
    signal?.removeEventListener('abort', onAbort)
    source.destroy()
  }
  if (failed) {
    if (signal?.aborted) throw signal.reason
    if (first instanceof BerthError) throw first
    throw new Internal(`unpacking layer: ${messageOf(first)}`, { cause: first })
  }
  return { diffID: `sha256:${hash.digest('hex')}`, size: writer.size }
}

/** Reads a layer blob to its end and returns its diffID, writing nothing. */
export async function layerDigest(
  source: Readable,
  signal?: AbortSignal,
  uncompressed = false,
): Promise<Digest> {
  const hash = createHash('sha256')
  const onAbort = (): void => {
    source.destroy(signal?.reason as Error)
  }
  signal?.throwIfAborted()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const chunk of tarBytes(source, uncompressed)) hash.update(chunk)
  } catch (err) {
    if (signal?.aborted) throw signal.reason
    if (err instanceof BerthError) throw err
    throw new Internal(`reading layer: ${messageOf(err)}`, { cause: err })
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  return `sha256:${hash.digest('hex')}`
}

/** The tar's bytes: decompressed as its first bytes say, or as they come when known to be plain. */
function tarBytes(source: Readable, uncompressed = false): AsyncIterable<Buffer> {
  return uncompressed ? (source as AsyncIterable<Buffer>) : decompress(source)
}

function drained(w: tar.Extract): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('drain', done)
      w.off('close', done)
      resolve()
    }
    w.on('drain', done)
    w.on('close', done)
  })
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

interface Times {
  atime: number | Date
  mtime: number | Date
}

type Entry = tar.Extract extends AsyncIterable<infer T> ? T : never

// tar-stream's header carries fields its type declarations leave out.
type Header = Omit<tar.Header, 'pax' | 'type'> & {
  type: tar.Header['type'] | null
  byteOffset?: number
  pax?: Record<string, string> | null
}

const HOST_FAULTS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'ENOMEM', 'EROFS', 'EMFILE', 'ENFILE'])

class LayerWriter {
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

  constructor(
    private readonly root: string,
    private readonly allowDevices: boolean,
    private readonly scanner: PaxXattrScanner,
  ) {}

  /** Learns whether the root hands its group down, as parents() learns it of what it makes. */
  async start(): Promise<void> {
    if (((await lstat(this.root)).mode & 0o2000) !== 0) this.sgidDirs.add('')
  }

  async entry(entry: Entry): Promise<void> {
    const h = entry.header as Header
    try {
      await this.write(entry, h)
    } catch (err) {
      if (err instanceof BerthError) throw err
      const code = errnoCode(err)
      if (code !== undefined && HOST_FAULTS.has(code)) {
        throw new Internal(`unpacking layer entry ${q(h.name)}: ${messageOf(err)}`, { cause: err })
      }
      throw new InvalidArgument(`invalid layer: entry ${q(h.name)}: ${messageOf(err)}`, {
        cause: err,
      })
    }
  }

  async finish(): Promise<void> {
    for (const [rel, t] of this.dirTimes) await lutimes(this.abs(rel), t.atime, t.mtime)
  }

  private async write(entry: Entry, h: Header): Promise<void> {
    const name = h.name
    const comps = cleanName(name)
    const rel = comps.join('/')
    const base = comps[comps.length - 1] ?? ''

    // AUFS bookkeeping at the top (.wh..wh.plnk, .wh..wh.aufs) is not content.
    if (comps.length > 0 && comps[0].startsWith(WH_META_PREFIX) && rel !== WH_OPAQUE) {
      await drain(entry)
      return
    }
    if (base === WH_OPAQUE) {
      await this.parents(comps, name)
      lsetxattr(this.abs(comps.slice(0, -1).join('/')), OPAQUE_XATTR, Buffer.from('y'))
      await drain(entry)
      return
    }
    if (base.startsWith(WH_PREFIX)) {
      const hidden = base.slice(WH_PREFIX.length)
      if (hidden === '' || hidden === '.' || hidden === '..') {
        throw invalid(`entry ${q(name)} is not a valid whiteout`)
      }
      const target = [...comps.slice(0, -1), hidden]
      await this.parents(target, name)
      const abs = this.abs(target.join('/'))
      await this.create(target.join('/'), false, async () => mknod(abs, S_IFCHR, 0, 0))
      await lchown(abs, h.uid ?? 0, h.gid ?? 0)
      await drain(entry)
      return
    }

    if (comps.length === 0) {
      if (h.type !== 'directory') throw invalid(`entry ${q(name)} would replace the layer root`)
      await this.metadata(this.root, '', h, 'dir')
      await drain(entry)
      return
    }

    await this.parents(comps, name)
    const abs = this.abs(rel)
    switch (h.type) {
      case 'directory':
        await this.create(rel, true, () => mkdir(abs, 0o700))
        this.dirs.add(rel)
        await this.metadata(abs, rel, h, 'dir')
        if (((h.mode ?? 0o755) & 0o2000) !== 0) this.sgidDirs.add(rel)
        else this.sgidDirs.delete(rel)
        await drain(entry)
        return
      case 'file':
      case 'contiguous-file': {
        let fh: FileHandle | undefined
        const flags =
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
        // Most files can be created with their final mode and owner, which saves two trips
        // through the thread pool per file (fchmod, fchown); the others get 0600 until
        // metadata() sets them.
        const mode = (h.mode ?? 0o644) & 0o7777
        const exact = (mode & 0o7000) === 0 && (mode & this.umask) === 0
        await this.create(rel, false, async () => {
          fh = await open(abs, flags, exact ? mode : 0o600)
        })
        const file = fh as FileHandle
        try {
          // Gather small pieces into larger writes; a layer has many files and each write is
          // a trip through libuv's thread pool.
          let batch: Buffer[] = []
          let batched = 0
          for await (const chunk of entry as AsyncIterable<Buffer>) {
            batch.push(chunk)
            batched += chunk.length
            this.size += chunk.length
            if (batched >= WRITE_BATCH) {
              await writeAll(file, batch, batched)
              batch = []
              batched = 0
            }
          }
          await writeAll(file, batch, batched)
          await this.metadata(abs, rel, h, 'file', file, {
            mode: exact,
            owner: exact && this.ownsNew(comps),
          })
        } finally {
          await file.close()
        }
        return
      }
      case 'symlink': {
        const target = h.linkname ?? ''
        if (target === '' || target.includes('\0')) {
          throw invalid(`symlink ${q(name)} has an invalid target`)
        }
        // The link is stored, never followed here: later entries may not write through it.
        await this.create(rel, false, () => symlink(target, abs))
        await this.metadata(abs, rel, h, 'symlink')
        await drain(entry)
        return
      }
      case 'link': {
        const linkname = h.linkname ?? ''
        const tcomps = cleanName(linkname, `hardlink ${q(name)} ->`)
        if (tcomps.length === 0)
          throw invalid(`hardlink ${q(name)} -> ${q(linkname)} is a directory`)
        await this.create(rel, false, async () => {
          const tabs = await this.existing(tcomps, name, linkname)
          await link(tabs, abs)
        })
        await drain(entry)
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
        await this.create(rel, false, async () =>
          mknod(abs, mode, h.devmajor ?? 0, h.devminor ?? 0),
        )
        await this.metadata(abs, rel, h, 'other')
        await drain(entry)
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
  private async parents(comps: string[], name: string): Promise<void> {
    let rel = ''
    for (let i = 0; i < comps.length - 1; i++) {
      rel = rel === '' ? comps[i] : `${rel}/${comps[i]}`
      if (this.dirs.has(rel)) continue
      const abs = this.abs(rel)
      const up = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : ''
      let st
      try {
        st = await lstat(abs)
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err
        await mkdir(abs, 0o755)
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
  private async existing(tcomps: string[], name: string, linkname: string): Promise<string> {
    const what = `hardlink ${q(name)} -> ${q(linkname)}`
    let rel = ''
    for (let i = 0; i < tcomps.length; i++) {
      rel = rel === '' ? tcomps[i] : `${rel}/${tcomps[i]}`
      const last = i === tcomps.length - 1
      if (!last && this.dirs.has(rel)) continue
      let st
      try {
        st = await lstat(this.abs(rel))
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') throw invalid(`${what}: target is not in the layer`)
        throw err
      }
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
  private async create(rel: string, dir: boolean, make: () => Promise<unknown>): Promise<void> {
    try {
      await make()
      return
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err
    }
    const st = await lstat(this.abs(rel))
    if (dir && st.isDirectory()) return
    await rm(this.abs(rel), { recursive: true, force: true })
    this.forget(rel)
    await make()
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
  private async metadata(
    abs: string,
    rel: string,
    h: Header,
    kind: 'file' | 'dir' | 'symlink' | 'other',
    fh?: FileHandle,
    /** What the file was created with already (mode: its final mode; owner: the creator is its owner). */
    made: { mode: boolean; owner: boolean } = { mode: false, owner: false },
  ): Promise<void> {
    const uid = paxInt(h.pax?.uid) ?? h.uid ?? 0
    const gid = paxInt(h.pax?.gid) ?? h.gid ?? 0
    if (made.owner && uid === this.creator.uid && gid === this.creator.gid) {
      // Already its owner: chown(2) would change nothing (no set-ID bits or capabilities yet).
    } else if (fh) await fh.chown(uid, gid)
    else await lchown(abs, uid, gid)

    const xattrs = h.byteOffset === undefined ? undefined : this.scanner.take(h.byteOffset)
    for (const [key, value] of xattrs ?? []) {
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
      if (fh) await fh.chmod(mode)
      else await chmod(abs, mode)
    }

    const mtime = paxTime(h.pax?.mtime) ?? h.mtime ?? new Date(0)
    const atime = paxTime(h.pax?.atime) ?? mtime
    if (kind === 'dir') this.dirTimes.set(rel, { atime, mtime })
    else if (fh) await fh.utimes(atime, mtime)
    else await lutimes(abs, atime, mtime)
  }
}

const WRITE_BATCH = 256 * 1024

async function writeAll(fh: FileHandle, chunks: Buffer[], total: number): Promise<void> {
  let done = 0
  while (done < total) {
    const { bytesWritten } = await fh.writev(
      done === 0 ? chunks : [Buffer.concat(chunks).subarray(done)],
    )
    done += bytesWritten
  }
}

async function drain(entry: Entry): Promise<void> {
  for await (const _ of entry as AsyncIterable<Buffer>) {
    // Entries other than files carry no data we keep.
  }
}

function paxInt(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined
  return Number(v)
}

function paxTime(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v)) return undefined
  return Number(v)
}
