import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  lchownSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs'
import { copyFile, open, rename, rm, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { errnoCode } from './errors.ts'
import { closeFd, openDir } from './sys/fsat.ts'
import { lsetxattr, setTopDir } from './sys/libc.ts'
import { readXattrs } from './tar/write.ts'

/**
 * Writes a file so that readers see either the old content or the new, never a
 * part: write a temporary sibling, fsync it, rename it over, fsync the directory.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
  { durable = true }: { durable?: boolean } = {},
): Promise<void> {
  const tmp = join(dirname(path), `.tmp-${randomBytes(6).toString('hex')}`)
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    if (durable) await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  if (durable) await fsyncDir(dirname(path))
}

/** `durable: false`: replaced whole for readers, but not synced (a file rewritten before use). */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
  opts: { durable?: boolean } = {},
): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value), 0o644, opts)
}

/** Reads and parses a JSON file; undefined when it does not exist. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined
    throw err
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Files up to this size are copied with a synchronous call (a few system calls, cheaper than the
 * thread pool's hand-offs when thousands are copied); larger ones through the pool, so the event
 * loop never waits on a big file.
 */
const COPY_SYNC_MAX = 256 * 1024

const CREATOR = { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 }

/**
 * Copies a regular file as readers know it: content, owner, mode (set-ID bits too) and xattrs;
 * not its times. `flags` are copyFile's (COPYFILE_EXCL, COPYFILE_FICLONE).
 */
export async function copyFilePreserving(
  src: string,
  dst: string,
  st: { size: number; uid: number; gid: number; mode: number },
  flags: number,
): Promise<void> {
  if (st.size > COPY_SYNC_MAX) await copyFile(src, dst, flags)
  else copyFileSync(src, dst, flags)
  preserve(src, dst, st)
}

/**
 * copyFilePreserving for a small file (at most COPY_SYNC_MAX bytes; undefined for a larger one,
 * which it leaves to copyFilePreserving) that returns the bytes it copied, read once through
 * this process, for a caller that needs them again, with the names of the xattrs it set (the
 * copy's own only where nothing gave the new file one: see xattrsAsSet): a new name only (O_EXCL).
 */
export function copySmallFileKeeping(
  src: string,
  dst: string,
  st: { size: number; uid: number; gid: number; mode: number },
): { data: Buffer; xattrs: string[] } | undefined {
  if (st.size > COPY_SYNC_MAX) return undefined
  const data = readKnownSize(src, st.size)
  if (data === undefined) return undefined
  const mode = st.mode & 0o7777
  // Most files can be made with their mode (nothing the umask takes, no set-ID bits): one call
  // less each; the others get it as copyFile gives it, whatever the umask.
  const exact = (mode & 0o7000) === 0 && (mode & UMASK) === 0
  const fd = openSync(
    dst,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    exact ? mode : 0o600,
  )
  try {
    for (let at = 0; at < data.length;) at += writeSync(fd, data, at)
    if (!exact) fchmodSync(fd, mode)
  } finally {
    closeSync(fd)
  }
  const xattrs = preserve(src, dst, st)
  return { data, xattrs }
}

/** The daemon's umask, read once at start (as the layer store's unpack reads it). */
const UMASK = process.umask()

/**
 * A regular file's bytes, not following a symlink, read with one read(2) where its size is as
 * the caller's lstat said (readFile takes an fstat for the size, and a read more to see the
 * end); undefined when it grew past COPY_SYNC_MAX since (the caller copies it the other way).
 */
function readKnownSize(path: string, size: number): Buffer | undefined {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    // One byte more than expected: a read that fills it says the file grew.
    let buf = Buffer.allocUnsafe(size + 1)
    let n = 0
    for (;;) {
      const want = buf.length - n
      const got = readSync(fd, buf, n, want, null)
      n += got
      // A regular file reads short only at its end.
      if (got < want) break
      if (buf.length > COPY_SYNC_MAX) return undefined
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, COPY_SYNC_MAX + 1))
      buf.copy(bigger, 0, 0, n)
      buf = bigger
    }
    return buf.subarray(0, n)
  } finally {
    closeSync(fd)
  }
}

/**
 * A fresh copy's owner (chown drops set-ID bits, so chmod comes after it) and xattrs; the names
 * of the xattrs it set.
 */
function preserve(
  src: string,
  dst: string,
  st: { uid: number; gid: number; mode: number },
): string[] {
  if (st.uid !== CREATOR.uid || st.gid !== CREATOR.gid) {
    lchownSync(dst, st.uid, st.gid)
    chmodSync(dst, st.mode & 0o7777)
  }
  const xattrs = readXattrs(src)
  if (!xattrs) return []
  for (const [k, v] of xattrs) lsetxattr(dst, k, v)
  return [...xattrs.keys()]
}

/**
 * Marks `dir` (chattr +T) so that ext4 places each directory made in it in a block group of its
 * own choosing (few directories, free inodes and blocks above average) instead of its parent's
 * group, where the files of a new tree then follow it. For directories whose children are new,
 * unrelated trees of many files (a layer being made, a step's upper directory, a build context):
 * without a journal, ext4 skips every inode of the group freed in the last 30 s while it looks
 * for a free one (fs/ext4/ialloc.c recently_deleted), and in the group every temporary tree of
 * the machine shares (/tmp's, the data root's) that is thousands of inodes, each looked up: 0.3
 * ms for each file made, measured here, against 0.03 ms in a quiet group. Only a placement hint:
 * false where the filesystem has no such flag (tmpfs, overlay) or refuses it.
 */
export async function spreadNewDirectories(dir: string): Promise<boolean> {
  const fd = await openDir(dir)
  try {
    setTopDir(fd, dir)
    return true
  } catch (err) {
    if (UNSUPPORTED_FLAG.has(errnoCode(err) ?? '')) return false
    throw err
  } finally {
    await closeFd(fd)
  }
}

/** What FS_IOC_SETFLAGS answers on a filesystem (or in a namespace) that does not take a flag. */
const UNSUPPORTED_FLAG = new Set(['ENOTTY', 'EOPNOTSUPP', 'EINVAL', 'EPERM', 'EACCES'])
