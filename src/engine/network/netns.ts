// Network namespaces that outlive berthd: each is bind-mounted on a file under the data root
// (as Podman does under /run/netns), so the container, its address and its port rules stay
// when the daemon is killed, and the next daemon finds them by path. A host reboot leaves the
// files unmounted; berth tells by the file system type.
import { readFile, rm, statfs, writeFile } from 'node:fs/promises'
import { Internal, errnoCode } from '../errors.ts'
import { MNT_DETACH, umount } from '../sys/libc.ts'
import { execTool } from './exec.ts'

const NSFS_MAGIC = 0x6e736673

/** True when path is a mounted network namespace (not a leftover plain file). */
export async function isNetnsMounted(path: string): Promise<boolean> {
  try {
    return (await statfs(path)).type === NSFS_MAGIC
  } catch {
    return false
  }
}

/**
 * Makes a new network namespace bound at path (a stale file there is reused); with
 * loopback, its `lo` is brought up; with batch, `ip -batch` runs that inside it (in the same
 * process: the bridge's setup of a container's side).
 */
export async function createNetns(
  path: string,
  opts: { loopback?: boolean; batch?: string } = {},
): Promise<void> {
  if (await isNetnsMounted(path)) await removeNetns(path)
  await writeFile(path, '', { mode: 0o644 })
  const cmd =
    opts.batch !== undefined
      ? ['ip', '-batch', '-']
      : opts.loopback
        ? ['ip', 'link', 'set', 'lo', 'up']
        : ['true']
  const r = await execTool(['unshare', `--net=${path}`, ...cmd], { input: opts.batch ?? '' })
  if (r.code !== 0) {
    await removeNetns(path)
    throw new Internal(`cannot make a network namespace: ${r.stderr.trim()}`)
  }
}

/** Unmounts and deletes a namespace file; nothing there is fine. */
export async function removeNetns(path: string): Promise<void> {
  try {
    umount(path, MNT_DETACH)
  } catch (err) {
    const code = errnoCode(err)
    // EINVAL: not a mount point (a leftover file); ENOENT: already gone.
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err
  }
  await rm(path, { force: true })
}

/** This boot's identity: namespaces recorded under another boot are gone. */
export async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()
}

/**
 * The network devices of this process's namespace (/proc/net/dev, unlike /sys, follows it),
 * or of the namespace at netns (none when it is not there).
 */
export async function netDevices(netns?: string): Promise<Set<string>> {
  let text: string
  if (netns === undefined) text = await readFile('/proc/net/dev', 'utf8')
  else if (!(await isNetnsMounted(netns))) return new Set()
  else {
    const r = await execTool(['nsenter', `--net=${netns}`, '--', 'cat', '/proc/net/dev'])
    if (r.code !== 0) throw new Internal(`reading ${netns}'s network devices: ${r.stderr.trim()}`)
    text = r.stdout
  }
  return new Set(
    text
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]?.trim() ?? '')
      .filter((n) => n !== ''),
  )
}
