// A container's changes, read from its overlay upper directory: the list `docker diff` shows and
// the layer `docker commit` stores. Both walk only the upper directory, so they cost time in
// proportion to what changed, not to the image's size.
import { closeSync, constants, openSync, readFileSync, type BigIntStats } from 'node:fs'
import { lstat, realpath, stat } from 'node:fs/promises'
import { join, posix } from 'node:path'
import { Readable } from 'node:stream'
import { errnoCode } from '../errors.ts'
import { closeFd, fdPath, llistxattrIfAny, openDir, openInRoot } from '../sys/fsat.ts'
import { lgetxattr } from '../sys/libc.ts'
import { END_OF_ARCHIVE, TarEntries, encodeHeader } from '../tar/write.ts'
import { walkFd, walkTree, type WalkItem } from '../tar/walk.ts'
import type {
  Change,
  ChangeKind,
  LayerDiffer,
  LayerStore,
  Mount,
  OverlayDirs,
  StepEntry,
  WrittenFile,
} from './types.ts'

export type { Change, ChangeKind, OverlayDirs, StepEntry }

const OPAQUE_XATTR = 'trusted.overlay.opaque'
const S_IFMT = 0o170000n
const S_IFCHR = 0o020000n

// Mount points the runtime makes in a root filesystem that lacks them. Docker keeps them in an
// "init" layer between the image and the container's layer, so they never show in diff or
// commit; berth has no init layer and leaves them out here instead.
export const INIT_FILES: ReadonlySet<string> = new Set([
  '/etc/hostname',
  '/etc/hosts',
  '/etc/resolv.conf',
  '/.dockerenv',
])
export const INIT_DIRS: ReadonlySet<string> = new Set([
  '/etc',
  '/dev',
  '/proc',
  '/sys',
  '/dev/pts',
  '/dev/shm',
])

/** The differ over the layer store's overlay mounts (its read-write layer's upper directory). */
export class OverlayDiffer implements LayerDiffer {
  /**
   * `stubs(id)`: mount points the runtime made in the layer for files injected at start (a
   * container's GPU files), left out of its changes as the /etc files' are.
   */
  constructor(
    private readonly layers: Pick<LayerStore, 'rootfsMount'>,
    private readonly stubs: (id: string) => Promise<readonly string[]> = async () => [],
  ) {}

  async changes(id: string): Promise<Change[]> {
    return changes(await this.dirs(id))
  }

  async diff(id: string): Promise<Readable> {
    return diffTar(await this.dirs(id))
  }

  async overlayDirs(id: string): Promise<{ lower: string[]; upper: string; work: string }> {
    const m = await this.layers.rootfsMount(id, '/')
    const { upper, lowers } = overlayDirs(m)
    const work = m.options.find((o) => o.startsWith('workdir='))?.slice('workdir='.length) ?? ''
    // the layers' own directories, as docker shows them, not the short links the mount uses
    const lower = await Promise.all(lowers.map((l) => realpath(l).catch(() => l)))
    return { lower, upper, work }
  }

  private async dirs(id: string): Promise<OverlayDirs> {
    const dirs = overlayDirs(await this.layers.rootfsMount(id, '/'))
    const stubs = await this.stubs(id)
    return stubs.length > 0 ? { ...dirs, stubs } : dirs
  }
}

/** The upper and lower directories of an overlay mount description (rootfsMount's). */
export function overlayDirs(m: Mount): OverlayDirs {
  let upper = ''
  let lowers: string[] = []
  for (const o of m.options) {
    if (o.startsWith('upperdir=')) upper = o.slice('upperdir='.length)
    else if (o.startsWith('lowerdir=')) lowers = o.slice('lowerdir='.length).split(':')
  }
  return { upper, lowers }
}

/** An overlay whiteout: a character device 0/0 (a deleted file). */
export function isWhiteoutStat(st: WalkItem['st']): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0n
}

function isOpaque(path: string): boolean {
  try {
    const v = lgetxattr(path, OPAQUE_XATTR)
    return v !== undefined && v.length === 1 && v[0] === 0x79
  } catch {
    return false
  }
}

/** Which paths are the runtime's mount points, and which directories only hold them. */
interface StubRules {
  files: ReadonlySet<string>
  dirs: ReadonlySet<string>
}

function stubRules(dirs: OverlayDirs): StubRules {
  const stubs = dirs.stubs ?? []
  if (stubs.length === 0) return { files: INIT_FILES, dirs: INIT_DIRS }
  const files = new Set([...INIT_FILES, ...stubs])
  const holders = new Set([...INIT_DIRS, ...stubs])
  for (const p of stubs) {
    for (let d = p.slice(0, p.lastIndexOf('/')); d !== ''; d = d.slice(0, d.lastIndexOf('/'))) {
      holders.add(d)
    }
  }
  return { files, dirs: holders }
}

function isStub(item: WalkItem, rules: StubRules): boolean {
  return rules.files.has(item.rel) && item.st.isFile() && item.st.size === 0n
}

/** One of the runtime's own /etc stubs (no GPU mount points: those are per container). */
export function isInitStub(item: WalkItem): boolean {
  return isStub(item, { files: INIT_FILES, dirs: INIT_DIRS })
}

/** Opens the lower directories for lookups; close with closeLowers. */
async function openLowers(lowers: string[]): Promise<number[]> {
  const fds: number[] = []
  for (const l of lowers) fds.push(await openDir(l))
  return fds
}

async function closeLowers(fds: number[]): Promise<void> {
  for (const fd of fds) await closeFd(fd)
}

/** The path's stat in the first lower layer that has it (symlinks followed inside that layer). */
async function lowerStat(fds: number[], rel: string): Promise<BigIntStats | undefined> {
  for (const root of fds) {
    let fd: number
    try {
      fd = openInRoot(root, rel)
    } catch {
      continue
    }
    try {
      return await stat(fdPath(fd), { bigint: true })
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
    } finally {
      await closeFd(fd)
    }
  }
  return undefined
}

/** True when the upper directory holds something under `rel` other than runtime stubs. */
async function hasRealContent(upper: string, rel: string, rules: StubRules): Promise<boolean> {
  const fd = await openDir(`${upper}${rel}`).catch(() => undefined)
  if (fd === undefined) return false
  try {
    for await (const item of walkFd(fd, rel)) {
      if (item.st.isDirectory() && rules.dirs.has(item.rel)) continue
      if (!isStub(item, rules)) return true
    }
    return false
  } finally {
    await closeFd(fd)
  }
}

/**
 * The container's changes as moby's overlay driver reports them: in walk order, a deleted file as
 * Kind 2, a new one as 1, one that was in a lower layer as 0, and the parent directory of an
 * added or deleted file as modified when it is not already listed.
 */
export async function changes(dirs: OverlayDirs): Promise<Change[]> {
  const out: Change[] = []
  const changedDirs = new Set<string>()
  const lowers = await openLowers(dirs.lowers)
  const rules = stubRules(dirs)
  const initKeep = new Map<string, boolean>()
  try {
    for await (const item of walkTree(dirs.upper)) {
      const { rel, st } = item
      if (isStub(item, rules)) continue
      if (rules.dirs.has(rel) && st.isDirectory()) {
        let keep = initKeep.get(rel)
        if (keep === undefined) {
          keep = await hasRealContent(dirs.upper, rel, rules)
          initKeep.set(rel, keep)
        }
        if (!keep) continue
      }
      let kind: ChangeKind
      if (isWhiteoutStat(st)) kind = 2
      else {
        const low = await lowerStat(lowers, rel)
        if (low === undefined && !INIT_DIRS.has(rel)) kind = 1
        else {
          if (
            low !== undefined &&
            low.isDirectory() &&
            st.isDirectory() &&
            low.size === st.size &&
            low.mode === st.mode &&
            sameTime(low.mtimeNs, st.mtimeNs)
          ) {
            continue
          }
          kind = 0
        }
      }
      if (st.isDirectory()) changedDirs.add(rel)
      if (kind !== 0) {
        const parent = rel.slice(0, rel.lastIndexOf('/')) || '/'
        if (parent !== '/' && !changedDirs.has(parent)) {
          out.push({ Path: parent, Kind: 0 })
          changedDirs.add(parent)
        }
      }
      out.push({ Path: rel, Kind: kind })
    }
  } finally {
    await closeLowers(lowers)
  }
  return out
}

// Go's sameFsTime: equal, or equal seconds with one side lacking nanoseconds.
function sameTime(a: bigint, b: bigint): boolean {
  if (a === b) return true
  const s = 1_000_000_000n
  return a / s === b / s && (a % s === 0n || b % s === 0n)
}

/**
 * The container's layer as an uncompressed tar: exactly the upper directory, with overlay
 * whiteouts written as `.wh.NAME` and opaque directories marked with `.wh..wh..opq`, in walk
 * order. Streams: entries are read as the consumer pulls them.
 */
export function diffTar(dirs: OverlayDirs): Readable {
  return Readable.from(diffBlocks(dirs), { objectMode: false })
}

async function* diffBlocks(dirs: OverlayDirs): AsyncGenerator<Buffer> {
  const entries = new TarEntries()
  const rules = stubRules(dirs)
  for await (const item of walkTree(dirs.upper)) {
    const { rel, st } = item
    const name = rel.slice(1)
    if (isStub(item, rules)) continue
    // A directory holding only the runtime's mount points: nothing of the container's.
    if (rules.dirs.has(rel) && st.isDirectory() && !(await hasRealContent(dirs.upper, rel, rules)))
      continue
    if (isWhiteoutStat(st)) {
      const slash = name.lastIndexOf('/')
      yield encodeHeader({
        name: `${name.slice(0, slash + 1)}.wh.${name.slice(slash + 1)}`,
        type: '0',
        mode: 0o600,
        uid: Number(st.uid),
        gid: Number(st.gid),
        size: 0,
        mtime: Number(st.mtimeMs / 1000n),
      })
      continue
    }
    yield* entries.entry(item.path, name, st)
    if (st.isDirectory() && isOpaque(item.path)) {
      yield encodeHeader({
        name: `${name}/.wh..wh..opq`,
        type: '0',
        mode: 0o600,
        uid: Number(st.uid),
        gid: Number(st.gid),
        size: 0,
        mtime: Number(st.mtimeMs / 1000n),
      })
    }
  }
  yield END_OF_ARCHIVE
}

/** The lower layers' own entry at a path (a symlink not followed), from the topmost that has one. */
async function lowerLstat(fds: number[], rel: string): Promise<BigIntStats | undefined> {
  for (const root of fds) {
    let fd: number
    try {
      fd = openInRoot(root, rel, { nofollow: true })
    } catch {
      continue
    }
    try {
      return await lstat(fdPath(fd), { bigint: true })
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
    } finally {
      await closeFd(fd)
    }
  }
  return undefined
}

/**
 * Every entry of the upper directory in byte order, each marked whether a build step's layer
 * keeps it (`own`): every file, link and whiteout; a directory only when it is new, its
 * metadata changed, it is opaque, or something below it is kept (overlayfs copies a directory
 * up when only a mount point the runtime made came and went in it).
 */
async function allStepEntries(dirs: OverlayDirs): Promise<StepEntry[]> {
  const out: StepEntry[] = []
  const stack: { index: number; rel: string }[] = []
  const keep = (upTo: string) => {
    for (const s of stack) if (upTo.startsWith(`${s.rel}/`)) out[s.index]!.own = true
  }
  const lowers = await openLowers(dirs.lowers)
  // join(dirs.upper, rel) for the walk's normalized rels without a normalize of the whole path
  // each (megabytes of strings for a step of 2000 files).
  const upper = posix.normalize(dirs.upper).replace(/\/$/, '')
  try {
    // A finished step's upper directory: nothing changes it, and its entries are many and small.
    for await (const walked of walkTree(dirs.upper, { sync: true })) {
      // Entries are read after the walk, when its descriptors are closed; nothing writes to a
      // finished step's upper directory and the walk saw only real directories on the way, so
      // the plain path is safe.
      const path = walked.rel === '' ? join(dirs.upper, walked.rel) : `${upper}${walked.rel}`
      const item: WalkItem = { ...walked, path }
      while (stack.length > 0 && !item.rel.startsWith(`${stack[stack.length - 1]!.rel}/`))
        stack.pop()
      if (item.st.isDirectory()) {
        const opaque = isOpaque(item.path)
        const low = await lowerLstat(lowers, item.rel)
        const same =
          low !== undefined &&
          low.isDirectory() &&
          low.mode === item.st.mode &&
          low.uid === item.st.uid &&
          low.gid === item.st.gid &&
          low.mtimeMs / 1000n === item.st.mtimeMs / 1000n
        out.push({ item, own: !same || opaque, opaque, whiteout: false })
        if (!same || opaque) keep(item.rel)
        stack.push({ index: out.length - 1, rel: item.rel })
        continue
      }
      out.push({ item, own: true, opaque: false, whiteout: isWhiteoutStat(item.st) })
      keep(item.rel)
    }
  } finally {
    await closeLowers(lowers)
  }
  return out
}

/**
 * Small files are read whole, synchronously: a step often adds thousands of them, and each read
 * through the thread pool (open, fstat, read, close, four hand-offs) cost more than the read.
 * A few kilobytes each, they keep the event loop only microseconds at a time; the blob write
 * downstream gives it turns between chunks.
 */
const READ_WHOLE_MAX = 256 * 1024

function readSmall(e: StepEntry): Buffer | undefined {
  if (e.whiteout || !e.item.st.isFile() || e.item.st.size > READ_WHOLE_MAX) return undefined
  try {
    const fd = openSync(e.item.path, constants.O_RDONLY | constants.O_NOFOLLOW)
    try {
      return readFileSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // A file that cannot be read here is read by TarEntries, which reports what is wrong.
    return undefined
  }
}

/** A whiteout or opaque marker: an empty root-owned file at the layer's clamped time. */
function marker(name: string, mtime: number): Buffer {
  return encodeHeader({ name, type: '0', mode: 0o600, uid: 0, gid: 0, size: 0, mtime })
}

/**
 * The step tar's bytes in chunks of about CHUNK: the blocks of small files, directories, links and
 * whiteouts are gathered here as they are made (synchronously, no turn of an async generator for
 * each block), and a file whose bytes are not at hand is streamed between them.
 */
async function* stepBlocks(
  entries: StepEntry[],
  epoch: number,
  written?: ReadonlyMap<string, WrittenFile>,
): AsyncGenerator<Buffer> {
  const tar = new TarEntries()
  const epochMs = BigInt(epoch) * 1000n
  let parts: Buffer[] = []
  let size = 0
  const add = (b: Buffer) => {
    parts.push(b)
    size += b.length
  }
  const take = (): Buffer => {
    const chunk = Buffer.concat(parts, size)
    parts = []
    size = 0
    return chunk
  }
  for (const e of entries) {
    const { item, opaque, whiteout } = e
    const known = whiteout || !item.st.isFile() ? undefined : written?.get(item.rel)
    const content = known?.data ?? readSmall(e)
    const name = item.rel.slice(1)
    // The time clamped to the epoch (no clamped copy of the stat: a dictionary object each).
    const mtime = Number((item.st.mtimeMs <= epochMs ? item.st.mtimeMs : epochMs) / 1000n)
    if (whiteout) {
      const slash = name.lastIndexOf('/')
      add(marker(`${name.slice(0, slash + 1)}.wh.${name.slice(slash + 1)}`, mtime))
    } else {
      // A file read ahead is taken as read only while its size still matches the walk's.
      const whole = content && BigInt(content.length) === item.st.size ? content : undefined
      // A file the step wrote itself, with the names it set, is not listed again.
      if (!item.st.isSymbolicLink()) {
        e.xattrs = known?.xattrs && whole ? [...known.xattrs] : llistxattrIfAny(item.path)
      }
      const now = tar.blocksNow(item.path, name, item.st, whole, e.xattrs, mtime)
      if (Array.isArray(now)) for (const b of now) add(b)
      else {
        if (size > 0) yield take()
        yield* tar.fileBlocks(item.path, now)
      }
      if (opaque) {
        add(marker(`${name}/.wh..wh..opq`, mtime))
      }
    }
    if (size >= CHUNK) yield take()
  }
  add(END_OF_ARCHIVE)
  yield take()
}

/**
 * A build step's changes as a reproducible layer tar, or undefined when it changed nothing:
 * entries in byte order, modification times clamped to `epoch` (seconds since 1970), owners
 * and modes kept, whiteouts owned by root, and directories that did not change left out unless
 * something below them changed (so the same step gives the same bytes on any host). The upper
 * directory must not change while the tar is read.
 */
export async function stepDiffTar(
  dirs: OverlayDirs,
  opts: { epoch: number },
): Promise<Readable | undefined> {
  return (await stepLayer(dirs, opts))?.tar
}

/**
 * A build step's layer tar (stepDiffTar's bytes) together with every entry of the upper
 * directory (kept or not), for a caller that turns the directory itself into the layer once the
 * tar is read (layer/adopt.ts). undefined when the step changed nothing. `written`: bytes of
 * files the caller wrote into the directory itself (by path in the layer), and their xattr names
 * where it knows them, taken instead of reading or listing those files again (still only where
 * the size matches the walk's).
 */
export async function stepLayer(
  dirs: OverlayDirs,
  opts: { epoch: number; written?: ReadonlyMap<string, WrittenFile> },
): Promise<{ tar: Readable; entries: StepEntry[] } | undefined> {
  const entries = await allStepEntries(dirs)
  const kept = entries.filter((p) => p.own)
  if (kept.length === 0) return undefined
  const tar = Readable.from(coalesce(stepBlocks(kept, opts.epoch, opts.written)), {
    objectMode: false,
  })
  return { tar, entries }
}

/** Chunks the tar's consumers take at once (hash, blob file, unpack), instead of ~3 a file. */
const CHUNK = 64 * 1024

/**
 * Joins the small blocks of a tar of small files (a 512-byte header, a few bytes, padding) into
 * chunks of about CHUNK bytes: each chunk costs every consumer a call and the blob a write.
 */
async function* coalesce(blocks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = []
  let size = 0
  for await (const b of blocks) {
    if (b.length >= CHUNK) {
      if (size > 0) yield Buffer.concat(parts, size)
      parts = []
      size = 0
      yield b
      continue
    }
    parts.push(b)
    size += b.length
    if (size >= CHUNK) {
      yield Buffer.concat(parts, size)
      parts = []
      size = 0
    }
  }
  if (size > 0) yield Buffer.concat(parts, size)
}
