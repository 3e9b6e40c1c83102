// docker cp's extraction (PUT /containers/{id}/archive): a tar unpacked into a directory of a
// container's root filesystem. Every parent is resolved by the kernel inside the root, and
// every entry is made through a descriptor of its parent, so that nothing the container holds
// (symlinks, `..`, a directory swapped for a link meanwhile) leads outside the root.
import { constants, type BigIntStats } from 'node:fs'
import {
  chmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  rmdir,
  symlink,
  unlink,
  utimes,
} from 'node:fs/promises'
import { posix } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import { InvalidArgument, errnoCode, isBerthError } from '../errors.ts'
import { closeFd, fdPath, fdStat, openInRoot, openRaw, tryOpenInRoot } from '../sys/fsat.ts'
import { S_IFBLK, S_IFCHR, S_IFIFO, mknod } from '../sys/libc.ts'
import { cleanName } from '../tar/names.ts'

const O_PATH = 0o10000000

export interface ExtractOptions {
  noOverwriteDirNonDir: boolean
  owner?: { uid: number; gid: number }
  signal?: AbortSignal
}

type Entry = tar.Extract extends AsyncIterable<infer T> ? T : never

/**
 * Extracts a tar into the directory `dest` inside the root `rootFd`. Every parent is resolved by
 * the kernel inside the root (symlinks in the container are followed, as Docker's chrooted
 * extraction does, but never out of it); the entry itself is created with O_EXCL/O_NOFOLLOW in
 * the descriptor of its parent, and its metadata set through a descriptor of what was created.
 */
export async function extractInRoot(
  rootFd: number,
  dest: string,
  body: Readable,
  opts: ExtractOptions,
): Promise<void> {
  const extract = tar.extract()
  const dirTimes: { rel: string; mtime: Date }[] = []
  const feeding = pipeline(body, extract, opts.signal ? { signal: opts.signal } : {})
  const consuming = (async () => {
    for await (const entry of extract as AsyncIterable<Entry>) {
      try {
        await extractEntry(rootFd, dest, entry, opts, dirTimes)
      } finally {
        entry.resume()
      }
    }
  })()
  const [a, b] = await Promise.allSettled([feeding, consuming])
  if (b.status === 'rejected') {
    extract.destroy()
    throw wrapExtractError(b.reason)
  }
  if (a.status === 'rejected') throw wrapExtractError(a.reason)
  for (const { rel, mtime } of dirTimes.reverse()) {
    const fd = tryOpenInRoot(rootFd, rel, { nofollow: true })
    if (fd === undefined) continue
    try {
      const st = await fdStat(fd)
      if (st.isDirectory()) await utimes(fdPath(fd), mtime, mtime)
    } finally {
      await closeFd(fd)
    }
  }
}

function wrapExtractError(err: unknown): Error {
  if (isBerthError(err)) return err
  return new InvalidArgument(
    `Error processing tar file: ${err instanceof Error ? err.message : String(err)}`,
  )
}

async function drainEntry(entry: Entry): Promise<void> {
  for await (const _ of entry as AsyncIterable<Buffer>) {
    // Nothing kept.
  }
}

async function extractEntry(
  rootFd: number,
  dest: string,
  entry: Entry,
  opts: ExtractOptions,
  dirTimes: { rel: string; mtime: Date }[],
): Promise<void> {
  const h = entry.header
  const comps = cleanName(h.name)
  if (comps.length === 0) {
    await drainEntry(entry)
    return
  }
  const rel = posix.join(dest, ...comps)
  const parentRel = posix.join(dest, ...comps.slice(0, -1))
  const name = comps[comps.length - 1]
  const parentFd = await ensureDirInRoot(rootFd, parentRel)
  try {
    const target = fdPath(parentFd, name)
    let existing: BigIntStats | undefined
    try {
      existing = await lstat(target, { bigint: true })
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
    }
    const isDir = h.type === 'directory'
    if (existing) {
      if (opts.noOverwriteDirNonDir && existing.isDirectory() && !isDir) {
        throw new InvalidArgument(
          `cannot overwrite directory "${rel}" with non-directory "${h.name}"`,
        )
      }
      if (opts.noOverwriteDirNonDir && !existing.isDirectory() && isDir) {
        throw new InvalidArgument(
          `cannot overwrite non-directory "${rel}" with directory "${h.name}"`,
        )
      }
      if (!(existing.isDirectory() && isDir)) {
        if (existing.isDirectory()) await removeTreeAt(parentFd, name)
        else await unlink(target)
      }
    }
    const uid = opts.owner?.uid ?? h.uid ?? 0
    const gid = opts.owner?.gid ?? h.gid ?? 0
    const mode = (h.mode ?? 0o644) & 0o7777
    const mtime = h.mtime ?? new Date()
    switch (h.type) {
      case 'directory':
        if (!existing?.isDirectory()) await mkdir(target, 0o700)
        await setMeta(parentFd, name, uid, gid, mode, undefined)
        dirTimes.push({ rel, mtime })
        break
      case 'file':
      case 'contiguous-file': {
        const flags =
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
        const fh = await open(target, flags, 0o600)
        try {
          for await (const chunk of entry as AsyncIterable<Buffer>) {
            let off = 0
            while (off < chunk.length) {
              const { bytesWritten } = await fh.write(chunk, off, chunk.length - off)
              off += bytesWritten
            }
          }
          await fh.chown(uid, gid)
          await fh.chmod(mode)
          await fh.utimes(mtime, mtime)
        } finally {
          await fh.close()
        }
        break
      }
      case 'symlink':
        await symlink(h.linkname ?? '', target)
        await lchown(target, uid, gid)
        await lutimes(target, mtime, mtime)
        break
      case 'link': {
        const tcomps = cleanName(h.linkname ?? '', `hardlink ${JSON.stringify(h.name)} ->`)
        const tparent = tryOpenInRoot(rootFd, posix.join(dest, ...tcomps.slice(0, -1)), {
          directory: true,
        })
        if (tparent === undefined || tcomps.length === 0) {
          throw new InvalidArgument(`invalid hardlink ${h.name} -> ${h.linkname ?? ''}`)
        }
        try {
          await link(fdPath(tparent, tcomps[tcomps.length - 1]), target)
        } finally {
          await closeFd(tparent)
        }
        break
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR
        mknod(target, kind | mode, h.devmajor ?? 0, h.devminor ?? 0)
        await setMeta(parentFd, name, uid, gid, mode, mtime)
        break
      }
      default:
        // Docker skips entry types it does not know (pax globals and the like).
        break
    }
  } finally {
    await closeFd(parentFd)
  }
}

/** Owner, mode and times through a descriptor of exactly what was created, never a symlink. */
async function setMeta(
  parentFd: number,
  name: string,
  uid: number,
  gid: number,
  mode: number,
  mtime: Date | undefined,
): Promise<void> {
  const fd = await openRaw(fdPath(parentFd, name), O_PATH | constants.O_NOFOLLOW)
  try {
    const st = await fdStat(fd)
    if (st.isSymbolicLink()) return // swapped under us: leave it alone
    await lchown(fdPath(fd), uid, gid)
    await chmod(fdPath(fd), mode)
    if (mtime) await utimes(fdPath(fd), mtime, mtime)
  } finally {
    await closeFd(fd)
  }
}

/** Makes `rel` (and missing parents, 0755) a directory inside the root; returns its descriptor. */
async function ensureDirInRoot(rootFd: number, rel: string): Promise<number> {
  const fd = tryOpenInRoot(rootFd, rel, { directory: true })
  if (fd !== undefined) return fd
  const comps = rel.split('/').filter((x) => x !== '')
  let cur = '/'
  let curFd = openInRoot(rootFd, '/', { directory: true })
  for (const comp of comps) {
    const next = posix.join(cur, comp)
    let nfd = tryOpenInRoot(rootFd, next, { directory: true })
    if (nfd === undefined) {
      try {
        await mkdir(fdPath(curFd, comp), 0o755)
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err
      }
      nfd = tryOpenInRoot(rootFd, next, { directory: true })
      if (nfd === undefined) {
        await closeFd(curFd)
        throw new InvalidArgument(`cannot make directory ${next}: not a directory`)
      }
    }
    await closeFd(curFd)
    curFd = nfd
    cur = next
  }
  return curFd
}

/** Removes a directory tree below a parent descriptor without following any symlink. */
async function removeTreeAt(parentFd: number, name: string): Promise<void> {
  const fd = await openRaw(
    fdPath(parentFd, name),
    constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
  )
  try {
    for (const child of await readdir(fdPath(fd))) {
      const st = await lstat(fdPath(fd, child), { bigint: true })
      if (st.isDirectory()) await removeTreeAt(fd, child)
      else await unlink(fdPath(fd, child))
    }
  } finally {
    await closeFd(fd)
  }
  await rmdir(fdPath(parentFd, name))
}
