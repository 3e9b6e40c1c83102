// A container's changes, read from its overlay upper directory: the list `docker diff` shows and
// the layer `docker commit` stores. Both walk only the upper directory, so they cost time in
// proportion to what changed, not to the image's size.
import type { BigIntStats } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { errnoCode } from '../errors.ts'
import { closeFd, fdPath, openDir, openInRoot } from '../sys/fsat.ts'
import { lgetxattr } from '../sys/libc.ts'
import { END_OF_ARCHIVE, TarEntries, encodeHeader } from '../tar/write.ts'
import { walkFd, walkTree, type WalkItem } from '../tar/walk.ts'
import type { Change, ChangeKind, LayerDiffer, LayerStore, Mount } from './types.ts'

export type { Change, ChangeKind }

export interface OverlayDirs {
  upper: string
  /** Lower directories, top first (as overlay's lowerdir lists them). */
  lowers: string[]
}

const OPAQUE_XATTR = 'trusted.overlay.opaque'
const S_IFMT = 0o170000n
const S_IFCHR = 0o020000n

// Mount points the runtime makes in a root filesystem that lacks them. Docker keeps them in an
// "init" layer between the image and the container's layer, so they never show in diff or
// commit; berth has no init layer and leaves them out here instead.
const INIT_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/.dockerenv'])
const INIT_DIRS = new Set(['/etc', '/dev', '/proc', '/sys', '/dev/pts', '/dev/shm'])

/** The differ over the layer store's overlay mounts (its read-write layer's upper directory). */
export class OverlayDiffer implements LayerDiffer {
  constructor(private readonly layers: Pick<LayerStore, 'rootfsMount'>) {}

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
    return overlayDirs(await this.layers.rootfsMount(id, '/'))
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

function isWhiteout(st: WalkItem['st']): boolean {
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

function isInitStub(item: WalkItem): boolean {
  return INIT_FILES.has(item.rel) && item.st.isFile() && item.st.size === 0n
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
async function hasRealContent(upper: string, rel: string): Promise<boolean> {
  const fd = await openDir(`${upper}${rel}`).catch(() => undefined)
  if (fd === undefined) return false
  try {
    for await (const item of walkFd(fd, rel)) {
      if (item.st.isDirectory() && INIT_DIRS.has(item.rel)) continue
      if (!isInitStub(item)) return true
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
  const initKeep = new Map<string, boolean>()
  try {
    for await (const item of walkTree(dirs.upper)) {
      const { rel, st } = item
      if (isInitStub(item)) continue
      if (INIT_DIRS.has(rel) && st.isDirectory()) {
        let keep = initKeep.get(rel)
        if (keep === undefined) {
          keep = await hasRealContent(dirs.upper, rel)
          initKeep.set(rel, keep)
        }
        if (!keep) continue
      }
      let kind: ChangeKind
      if (isWhiteout(st)) kind = 2
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
  for await (const item of walkTree(dirs.upper)) {
    const { rel, st } = item
    const name = rel.slice(1)
    if (isInitStub(item)) continue
    // A directory holding only the runtime's mount points: nothing of the container's.
    if (INIT_DIRS.has(rel) && st.isDirectory() && !(await hasRealContent(dirs.upper, rel))) continue
    if (isWhiteout(st)) {
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
