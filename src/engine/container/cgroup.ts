// Where a running container's cgroups live on this host, and what is in them (pids, stats).
// Hybrid hosts mount each v1 controller on its own; the container's path in each comes from
// /proc/<pid>/cgroup, so a cgroup parent other than /berth works too.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errnoCode } from '../errors.ts'

export interface CgroupDirs {
  version: 1 | 2
  /** The container's directory for a v1 controller (or the unified one for v2). */
  dir(controller: string): string | undefined
}

interface HostMounts {
  /** v1 controller → [mount point, hierarchy root shown by the mount]. */
  v1: Map<string, { mountPoint: string; root: string }>
  unified?: string
}

let hostMounts: Promise<HostMounts> | undefined

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))
}

/** cgroup mounts from /proc/self/mountinfo, read once (they do not change under a daemon). */
export function cgroupMounts(): Promise<HostMounts> {
  hostMounts ??= (async () => {
    const text = await readFile('/proc/self/mountinfo', 'utf8')
    const out: HostMounts = { v1: new Map() }
    for (const line of text.split('\n')) {
      const [pre, post] = line.split(' - ')
      if (!pre || !post) continue
      const f = pre.split(' ')
      const [fstype, , superOpts] = post.split(' ')
      const root = unescapeMount(f[3] ?? '/')
      const mountPoint = unescapeMount(f[4] ?? '')
      if (fstype === 'cgroup2') {
        out.unified ??= mountPoint
      } else if (fstype === 'cgroup') {
        // Super options name the controllers (and `name=systemd` for named hierarchies).
        for (const opt of (superOpts ?? '').split(',')) {
          if (opt === 'rw' || opt === 'ro') continue
          if (!out.v1.has(opt)) out.v1.set(opt, { mountPoint, root })
        }
      }
    }
    return out
  })()
  return hostMounts
}

/** Parses /proc/<pid>/cgroup: controller → path (the unified hierarchy under ""). */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line)
    if (!m) continue
    for (const c of (m[1] as string).split(',')) out.set(c, m[2] as string)
  }
  return out
}

/**
 * The cgroup directories of the process `pid`, or of `fallbackPath` (the cgroupsPath the
 * container was created with) when the process is gone.
 */
export async function cgroupDirs(pid: number, fallbackPath: string): Promise<CgroupDirs> {
  const mounts = await cgroupMounts()
  let paths = new Map<string, string>()
  if (pid > 0) {
    try {
      paths = parseProcCgroup(await readFile(`/proc/${pid}/cgroup`, 'utf8'))
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ESRCH') throw err
    }
  }
  if (mounts.v1.size === 0 && mounts.unified !== undefined) {
    const unified = mounts.unified
    const p = paths.get('') ?? fallbackPath
    return { version: 2, dir: () => join(unified, p) }
  }
  return {
    version: 1,
    dir(controller) {
      const m = mounts.v1.get(controller)
      if (!m) return undefined
      let p = paths.get(controller) ?? fallbackPath
      // A mount of a subtree shows paths relative to the hierarchy's root.
      if (m.root !== '/' && p.startsWith(m.root)) p = p.slice(m.root.length)
      return join(m.mountPoint, p)
    },
  }
}

/** The pids in the container's cgroup (cgroup.procs of the pids controller). */
export async function cgroupPids(dirs: CgroupDirs): Promise<number[]> {
  const dir = dirs.dir('pids') ?? dirs.dir('memory') ?? dirs.dir('cpu')
  if (!dir) return []
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch((err: unknown) => {
    if (errnoCode(err) === 'ENOENT') return ''
    throw err
  })
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => Number.parseInt(l, 10))
}

/** A cgroup file's text, or undefined when the file does not exist. */
export async function readCgroupFile(
  dir: string | undefined,
  file: string,
): Promise<string | undefined> {
  if (!dir) return undefined
  try {
    return await readFile(join(dir, file), 'utf8')
  } catch (err) {
    const code = errnoCode(err)
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'EINVAL' || code === 'EOPNOTSUPP') {
      return undefined
    }
    throw err
  }
}
