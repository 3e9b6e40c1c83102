// Filling an empty volume from the image's content at its mount point, as Docker does
// (moby's copyExistingContents and continuity's fs.CopyDir): owners, modes, times,
// symlinks, hard links and special files are kept. The source lies inside a container's
// root filesystem, so nothing is ever followed: every entry is lstat'ed, only real
// directories are entered, and symlinks are copied as links.
import { constants } from 'node:fs'
import {
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  symlink,
  chmod,
} from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { join } from 'node:path'
import { devMajorMinor, mknod } from './sys/libc.ts'

async function copyInfo(st: Stats, dst: string): Promise<void> {
  await lchown(dst, st.uid, st.gid)
  // After chown, which clears set-id bits; symlinks have no mode of their own on Linux.
  if (!st.isSymbolicLink()) await chmod(dst, st.mode & 0o7777)
  await lutimes(dst, st.atime, st.mtime)
}

async function copyTree(src: string, dst: string, inodes: Map<string, string>): Promise<void> {
  for (const name of await readdir(src)) {
    const s = join(src, name)
    const d = join(dst, name)
    const st = await lstat(s)
    if (st.isDirectory()) {
      await mkdir(d, { mode: 0o700 })
      await copyTree(s, d, inodes)
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`
      const first = st.nlink > 1 ? inodes.get(key) : undefined
      if (first !== undefined) {
        await link(first, d)
        continue
      }
      if (st.nlink > 1) inodes.set(key, d)
      // libuv copies in the kernel (copy_file_range/sendfile): nothing is held in memory.
      await copyFile(s, d, constants.COPYFILE_EXCL)
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(s), d)
    } else if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = devMajorMinor(BigInt(st.rdev))
      mknod(d, st.mode, major, minor)
    } else {
      continue // sockets are not copied
    }
    await copyInfo(st, d)
  }
}

/**
 * Copies the directory `src` (a host path already resolved inside the rootfs) into the volume
 * directory `dst` when `dst` is empty; the volume root takes the source directory's owner and
 * mode. Returns whether anything was copied.
 */
export async function copyUp(src: string, dst: string): Promise<boolean> {
  if ((await readdir(dst)).length > 0) return false
  let st: Stats
  try {
    st = await lstat(src)
  } catch {
    return false
  }
  if (!st.isDirectory()) return false
  await copyTree(src, dst, new Map())
  await copyInfo(st, dst)
  return true
}
