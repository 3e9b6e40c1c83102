// Reaching files inside a directory tree that someone else (a running container) may change
// under us. Paths are resolved by the kernel with openat2(RESOLVE_IN_ROOT), and everything else is
// done through /proc/self/fd/N/NAME, which names the directory the descriptor holds, not a path
// that could be swapped for a symlink between a check and a use.
import { close, constants, fstat, open, type BigIntStats } from 'node:fs'
import koffi from 'koffi'
import { SysError } from './libc.ts'

const libc = koffi.load('libc.so.6')

const c = {
  syscall4: libc.func('long syscall(long nr, int dirfd, const char *path, void *how, size_t size)'),
  llistxattr: libc.func('long llistxattr(const char *path, _Out_ void *list, size_t size)'),
}

const SYS_OPENAT2 = 437
const RESOLVE_NO_MAGICLINKS = 0x02
const RESOLVE_IN_ROOT = 0x10
const O_PATH = 0o10000000
const O_CLOEXEC = 0o2000000

/** Opens a directory to serve as a root for `openInRoot`. */
export async function openDir(path: string): Promise<number> {
  return new Promise((resolve, reject) =>
    open(path, constants.O_RDONLY | constants.O_DIRECTORY, (err, fd) =>
      err ? reject(err) : resolve(fd),
    ),
  )
}

export async function closeFd(fd: number): Promise<void> {
  await new Promise<void>((resolve) => close(fd, () => resolve()))
}

/**
 * Opens `rel` inside the directory `rootFd` as if it were `/`: symlinks and `..` never leave it.
 * With `nofollow` the last component is not followed when it is a symlink. Returns an O_PATH
 * descriptor (only good for naming it through /proc/self/fd), or the errno code.
 */
export function openInRoot(
  rootFd: number,
  rel: string,
  opts: { nofollow?: boolean; directory?: boolean } = {},
): number {
  let flags = O_PATH | O_CLOEXEC
  if (opts.nofollow) flags |= constants.O_NOFOLLOW
  if (opts.directory) flags |= constants.O_DIRECTORY
  const how = Buffer.alloc(24)
  how.writeBigUInt64LE(BigInt(flags), 0)
  how.writeBigUInt64LE(0n, 8)
  how.writeBigUInt64LE(BigInt(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), 16)
  const p = rel.replace(/^\/+/, '') || '.'
  const fd = Number(c.syscall4(SYS_OPENAT2, rootFd, p, how, how.length))
  if (fd < 0) throw new SysError('openat2', koffi.errno(), rel)
  return fd
}

/** Opens `rel` in the root; undefined when it does not exist (ENOENT, ENOTDIR). */
export function tryOpenInRoot(
  rootFd: number,
  rel: string,
  opts: { nofollow?: boolean; directory?: boolean } = {},
): number | undefined {
  try {
    return openInRoot(rootFd, rel, opts)
  } catch (err) {
    if (err instanceof SysError && (err.code === 'ENOENT' || err.code === 'ENOTDIR'))
      return undefined
    throw err
  }
}

/** fstat with nanosecond times. */
export function fdStat(fd: number): Promise<BigIntStats> {
  return new Promise((resolve, reject) =>
    fstat(fd, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st))),
  )
}

/** open(2) with raw flags (O_PATH and the like, which fs.promises cannot return as a number). */
export function openRaw(path: string, flags: number, mode = 0o600): Promise<number> {
  return new Promise((resolve, reject) =>
    open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))),
  )
}

/** The path naming what `fd` holds, or a name inside that directory. */
export function fdPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`
}

/**
 * llistxattr, or undefined where the names cannot be listed: for callers that only use the names
 * to skip a later read, which then lists them itself (and reports its own error).
 */
export function llistxattrIfAny(path: string): string[] | undefined {
  try {
    return llistxattr(path)
  } catch {
    return undefined
  }
}

/** Names of a file's extended attributes (without following a symlink). */
export function llistxattr(path: string): string[] {
  const size = Number(c.llistxattr(path, null, 0))
  if (size < 0) {
    const e = koffi.errno()
    if (e === 95 || e === 61) return [] // EOPNOTSUPP, ENODATA
    throw new SysError('llistxattr', e, path)
  }
  if (size === 0) return []
  const buf = Buffer.alloc(size)
  const n = Number(c.llistxattr(path, buf, size))
  if (n < 0) throw new SysError('llistxattr', koffi.errno(), path)
  return buf
    .subarray(0, n)
    .toString('latin1')
    .split('\0')
    .filter((s) => s !== '')
}
