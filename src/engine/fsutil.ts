import { randomBytes } from 'node:crypto'
import { chmodSync, copyFileSync, lchownSync } from 'node:fs'
import { copyFile, open, rename, rm, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { errnoCode } from './errors.ts'
import { lsetxattr } from './sys/libc.ts'
import { readXattrs } from './tar/write.ts'

/**
 * Writes a file so that readers see either the old content or the new, never a
 * part: write a temporary sibling, fsync it, rename it over, fsync the directory.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> {
  const tmp = join(dirname(path), `.tmp-${randomBytes(6).toString('hex')}`)
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  await fsyncDir(dirname(path))
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value))
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
  // The copy is ours with the source's mode; chown drops set-ID bits, so chmod comes after it.
  if (st.uid !== CREATOR.uid || st.gid !== CREATOR.gid) {
    lchownSync(dst, st.uid, st.gid)
    chmodSync(dst, st.mode & 0o7777)
  }
  for (const [k, v] of readXattrs(src) ?? []) lsetxattr(dst, k, v)
}
