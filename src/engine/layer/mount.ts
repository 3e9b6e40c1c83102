// Performing the mounts the layer store describes. The store itself only returns descriptions;
// the runtime calls these. What is mounted is read by sys/mountinfo.ts.
import { dirname, basename } from 'node:path'
import { Internal } from '../errors.ts'
import {
  MNT_DETACH,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  SysError,
  mount,
  umount,
} from '../sys/libc.ts'
import type { Mount } from './types.ts'

export { readMountInfo, type MountInfo } from '../sys/mountinfo.ts'

// mount(2) copies at most one page of options.
const MAX_MOUNT_DATA = 4096

const FLAG_OPTIONS: Record<string, number> = {
  ro: MS_RDONLY,
  nosuid: MS_NOSUID,
  nodev: MS_NODEV,
  noexec: MS_NOEXEC,
}

/** Mounts an overlay description (as rootfsMount returns) on its destination. */
export function mountOverlay(m: Mount): void {
  let flags = 0
  const data: string[] = []
  for (const o of m.options) {
    if (o in FLAG_OPTIONS) flags |= FLAG_OPTIONS[o]
    else if (o !== 'rw') data.push(o)
  }
  const joined = data.join(',')
  if (Buffer.byteLength(joined) < MAX_MOUNT_DATA) {
    mount(m.source, m.destination, m.type, flags, joined)
    return
  }
  // Too long even with short links (over ~100 layers): name the lower dirs relative to their
  // common directory and mount from there, as Docker does. chdir and mount are synchronous, so
  // no other JavaScript runs while the working directory is changed.
  const i = data.findIndex((o) => o.startsWith('lowerdir='))
  const lowers = i < 0 ? [] : data[i].slice('lowerdir='.length).split(':')
  const parent = lowers.length > 0 ? dirname(lowers[0]) : ''
  if (parent === '' || !lowers.every((l) => l.startsWith('/') && dirname(l) === parent)) {
    throw new Internal(`overlay mount options for ${m.destination} are too long`)
  }
  const rel = [...data]
  rel[i] = `lowerdir=${lowers.map((l) => basename(l)).join(':')}`
  const relJoined = rel.join(',')
  if (Buffer.byteLength(relJoined) >= MAX_MOUNT_DATA) {
    throw new Internal(`overlay mount options for ${m.destination} are too long`)
  }
  const cwd = process.cwd()
  process.chdir(parent)
  try {
    mount(m.source, m.destination, m.type, flags, relJoined)
  } finally {
    process.chdir(cwd)
  }
}

/**
 * Unmounts `target`; nothing mounted there is not an error. With `detach` the mount is taken
 * out of the tree at once and cleaned up when no longer busy (MNT_DETACH).
 */
export function unmount(target: string, opts: { detach?: boolean } = {}): void {
  try {
    umount(target, opts.detach ? MNT_DETACH : 0)
  } catch (err) {
    if (err instanceof SysError && (err.code === 'EINVAL' || err.code === 'ENOENT')) return
    throw err
  }
}
