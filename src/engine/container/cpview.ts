// What `docker cp` sees: the container's root filesystem with its binds and volumes over it, as
// moby's mountVolumes arranges for the copy. The view is a separate bind of the root, made
// private before anything is mounted in it, so none of this reaches a running container (whose
// root is a slave of the host-side rootfs mount) and the rootfs mount itself is untouched.
import { mkdir, open, rmdir, stat } from 'node:fs/promises'
import { posix } from 'node:path'
import { errnoCode } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import { MNT_DETACH, MS_BIND, MS_PRIVATE, MS_RDONLY, MS_REC, mount, umount } from '../sys/libc.ts'
import type { MountPoint } from './types.ts'

export interface CpView {
  root: string
  close(): Promise<void>
}

/** Mounts `root` at `viewDir` with the mount points bound in; returns root as is when none. */
export async function openCpView(
  root: string,
  viewDir: string,
  mountPoints: MountPoint[],
): Promise<CpView> {
  const binds = mountPoints
    .filter((m) => m.Type !== 'tmpfs' && m.Source !== '')
    // Parents first, so a nested mount lands on top of the one holding it.
    .sort((a, b) => posix.normalize(a.Destination).length - posix.normalize(b.Destination).length)
  if (binds.length === 0) return { root, close: async () => undefined }
  await mkdir(viewDir, { recursive: true })
  const mounted: string[] = []
  const close = async () => {
    for (const t of mounted.reverse()) {
      try {
        umount(t, MNT_DETACH)
      } catch {
        // already gone with its parent
      }
    }
    await rmdir(viewDir).catch(() => undefined)
  }
  try {
    mount(root, viewDir, '', MS_BIND, '')
    mounted.push(viewDir)
    mount('', viewDir, '', MS_PRIVATE, '')
    for (const m of binds) {
      let src
      try {
        src = await stat(m.Source)
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue // a bind whose source is gone: nothing to show
        throw err
      }
      // Resolved in the view, so a symlink in the container cannot aim the mount at the host.
      const target = await resolveInRoot(viewDir, m.Destination)
      if (src.isDirectory()) await mkdir(target, { recursive: true })
      else {
        await mkdir(posix.dirname(target), { recursive: true })
        await (await open(target, 'a')).close()
      }
      mount(m.Source, target, '', MS_BIND | (m.nonRecursive ? 0 : MS_REC), '')
      mounted.push(target)
      mount('', target, '', MS_PRIVATE | MS_REC, '')
      if (!m.RW) mount('', target, '', MS_BIND | MS_RDONLY | 0x20 /* MS_REMOUNT */, '')
    }
    return { root: viewDir, close }
  } catch (err) {
    await close()
    throw err
  }
}
