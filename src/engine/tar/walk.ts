// Walks a directory tree that another process may be changing (a running container's root or
// upper directory) without ever following a symlink: each directory is opened with O_NOFOLLOW
// relative to its parent's descriptor, and entries are named through /proc/self/fd.
import { constants, lstatSync, type BigIntStats } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { open } from 'node:fs'
import { errnoCode } from '../errors.ts'
import { closeFd, fdPath, openDir } from '../sys/fsat.ts'

export interface WalkItem {
  /** The entry's path inside the tree, with a leading slash. */
  rel: string
  /** A host path naming the entry that stays right while the walk is at it. */
  path: string
  st: BigIntStats
}

export interface WalkOptions {
  /** Return true to not descend into a directory (it is still yielded). */
  prune?(item: WalkItem): boolean
  /**
   * lstat the entries with synchronous calls, LSTAT_BATCH between turns of the event loop,
   * instead of through the thread pool: for a tree of many small entries the pool's hand-offs
   * cost more than the calls.
   */
  sync?: boolean
}

/** Byte order of names, as Go's filepath.Walk (and so Docker) lists a directory. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

function openDirNoFollow(path: string): Promise<number> {
  return new Promise((resolve, reject) =>
    open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW, (err, fd) =>
      err ? reject(err) : resolve(fd),
    ),
  )
}

/** How many lstat calls of one directory's entries are in flight at once (the thread pool's work). */
const LSTAT_CONCURRENCY = 16

/** lstat calls of a synchronous walk between turns of the event loop. */
const LSTAT_BATCH = 256

/** lstatNames with synchronous calls, a batch at a time. */
async function lstatNamesSync(
  dirFd: number,
  names: string[],
): Promise<(BigIntStats | undefined)[]> {
  const out = new Array<BigIntStats | undefined>(names.length)
  for (let i = 0; i < names.length; i++) {
    if (i > 0 && i % LSTAT_BATCH === 0) await new Promise((r) => setImmediate(r))
    out[i] = lstatSync(fdPath(dirFd, names[i]!), { bigint: true, throwIfNoEntry: false })
  }
  return out
}

/** The lstat of each name in an open directory, several at a time; undefined for one gone since. */
async function lstatNames(dirFd: number, names: string[]): Promise<(BigIntStats | undefined)[]> {
  const out = new Array<BigIntStats | undefined>(names.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const i = next++
      try {
        out[i] = await lstat(fdPath(dirFd, names[i]!), { bigint: true })
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(LSTAT_CONCURRENCY, names.length) }, worker))
  return out
}

/** Yields everything under `root` (not root itself), parents before children, names in byte order. */
export async function* walkTree(root: string, opts: WalkOptions = {}): AsyncGenerator<WalkItem> {
  const fd = await openDir(root)
  try {
    yield* walkFd(fd, '', opts)
  } finally {
    await closeFd(fd)
  }
}

/** Walks below an already open directory descriptor; `rel` is the directory's own path ('' for the root). */
export async function* walkFd(
  dirFd: number,
  rel: string,
  opts: WalkOptions = {},
): AsyncGenerator<WalkItem> {
  let names: string[]
  try {
    names = await readdir(fdPath(dirFd))
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return
    throw err
  }
  names.sort(byteOrder)
  const stats = opts.sync ? await lstatNamesSync(dirFd, names) : await lstatNames(dirFd, names)
  for (const [i, n] of names.entries()) {
    const path = fdPath(dirFd, n)
    const st = stats[i]
    // Removed since the listing (a running container): as if it had never been there.
    if (st === undefined) continue
    const item: WalkItem = { rel: `${rel}/${n}`, path, st }
    yield item
    if (!st.isDirectory() || opts.prune?.(item)) continue
    let fd: number
    try {
      fd = await openDirNoFollow(path)
    } catch (err) {
      const code = errnoCode(err)
      // Swapped for something else since the lstat: skip what is no longer a directory.
      if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') continue
      throw err
    }
    try {
      yield* walkFd(fd, item.rel, opts)
    } finally {
      await closeFd(fd)
    }
  }
}
