// Fixtures for tests that run real containers: a tiny busybox root filesystem.
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const BUSYBOX = '/bin/busybox'

const APPLETS = [
  'sh',
  'echo',
  'cat',
  'ls',
  'id',
  'sleep',
  'true',
  'false',
  'env',
  'pwd',
  'grep',
  'head',
  'wc',
  'printf',
]

/**
 * Makes `dir` a busybox root filesystem: /bin/busybox (static) with applet links, and the
 * empty directories a container needs (proc, sys, dev, etc, tmp). Returns `dir`.
 */
export async function makeBusyboxRootfs(dir: string): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true })
  for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp', 'root']) {
    await mkdir(join(dir, d), { recursive: true })
  }
  await copyFile(BUSYBOX, join(dir, 'bin', 'busybox'))
  for (const applet of APPLETS) await symlink('busybox', join(dir, 'bin', applet))
  return dir
}

/** A fresh temporary directory and a function that removes it. */
export async function tempDir(
  prefix = 'berth-test-',
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}
