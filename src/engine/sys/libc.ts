// System calls Node does not offer (mknod, xattrs, mount, flock), through koffi,
// a maintained FFI that ships prebuilt binaries. Each returns or throws like fs.
import koffi from 'koffi'

const libc = koffi.load('libc.so.6')

const c = {
  mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
  lsetxattr: libc.func(
    'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
  ),
  lgetxattr: libc.func(
    'long lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)',
  ),
  lremovexattr: libc.func('int lremovexattr(const char *path, const char *name)'),
  mount: libc.func(
    'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
  ),
  umount2: libc.func('int umount2(const char *target, int flags)'),
  flock: libc.func('int flock(int fd, int op)'),
  ioctlInt: libc.func('int ioctl(int fd, unsigned long request, _Inout_ int *arg)'),
  mallopt: libc.func('int mallopt(int param, int value)'),
  strerror: libc.func('const char *strerror(int errnum)'),
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  11: 'EAGAIN',
  13: 'EACCES',
  16: 'EBUSY',
  17: 'EEXIST',
  20: 'ENOTDIR',
  22: 'EINVAL',
  28: 'ENOSPC',
  61: 'ENODATA',
  95: 'EOPNOTSUPP',
}

export class SysError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly path: string | undefined,
  ) {
    const code = ERRNO_NAMES[errno] ?? `E${errno}`
    super(`${syscall} ${path ?? ''}: ${c.strerror(errno) as string} (${code})`.replace('  ', ' '))
    this.code = code
  }
  readonly code: string
}

function errno(): number {
  return koffi.errno()
}

function check(ret: number, syscall: string, path?: string): void {
  if (ret < 0) throw new SysError(syscall, errno(), path)
}

export const S_IFCHR = 0o020000
export const S_IFBLK = 0o060000
export const S_IFIFO = 0o010000

export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major)
  const mi = BigInt(minor)
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n)
}

/** Linux's dev_t split (glibc's gnu_dev_major/minor): makedev's inverse. */
export function devMajorMinor(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n))
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n))
  return { major, minor }
}

export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  check(c.mknod(path, mode, makedev(major, minor)) as number, 'mknod', path)
}

export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  check(c.lsetxattr(path, name, value, value.length, 0) as number, 'lsetxattr', path)
}

export function lremovexattr(path: string, name: string): void {
  check(c.lremovexattr(path, name) as number, 'lremovexattr', path)
}

/** An extended attribute's value, or undefined when the file has none by that name. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const buf = Buffer.alloc(65536)
  const n = c.lgetxattr(path, name, buf, buf.length) as number
  if (n < 0) {
    const e = errno()
    if (e === 61) return undefined
    throw new SysError('lgetxattr', e, path)
  }
  return buf.subarray(0, n)
}

export const MS_RDONLY = 1
export const MS_NOSUID = 2
export const MS_NODEV = 4
export const MS_NOEXEC = 8
export const MS_BIND = 4096
export const MS_REC = 16384
export const MS_PRIVATE = 1 << 18

export function mount(
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data: string,
): void {
  check(c.mount(source, target, fstype, flags, data) as number, 'mount', target)
}

export const MNT_DETACH = 2

export function umount(target: string, flags = 0): void {
  check(c.umount2(target, flags) as number, 'umount', target)
}

export const LOCK_EX = 2
export const LOCK_NB = 4

/** Takes an exclusive lock on an open file; false when another process holds it. */
export function tryLockExclusive(fd: number): boolean {
  const ret = c.flock(fd, LOCK_EX | LOCK_NB) as number
  if (ret === 0) return true
  const e = errno()
  if (e === 11) return false
  throw new SysError('flock', e, undefined)
}

const M_MMAP_THRESHOLD = -3

/**
 * Makes glibc's malloc serve blocks of `bytes` and more with mmap(2), always: freed, they go
 * back to the kernel at once. Left alone, glibc raises that threshold to the largest block freed
 * so far (up to 32 MiB) and keeps freed blocks in its heap, where they still count as resident.
 */
export function setMmapThreshold(bytes: number): boolean {
  return (c.mallopt(M_MMAP_THRESHOLD, bytes) as number) === 1
}

/** ioctl(2) requests on an inode's flags (chattr's): the argument is an int. */
const FS_IOC_GETFLAGS = 0x80086601
const FS_IOC_SETFLAGS = 0x40086602

/** An open file's inode flags (FS_*_FL), as lsattr shows them. */
export function getInodeFlags(fd: number): number {
  const flags = [0]
  check(c.ioctlInt(fd, FS_IOC_GETFLAGS, flags) as number, 'ioctl(FS_IOC_GETFLAGS)')
  return flags[0]!
}

export function setInodeFlags(fd: number, flags: number): void {
  check(c.ioctlInt(fd, FS_IOC_SETFLAGS, [flags]) as number, 'ioctl(FS_IOC_SETFLAGS)')
}
