// Resource limits for a berthd without root: which cgroup v2 controllers the user was given
// (delegated) and where containers' cgroups go so runc applies the limits there.
//
// runc picks its cgroup driver by /sys/fs/cgroup itself: cgroup2 there means v2 (fs2), anything
// else means the v1 hierarchies, which belong to root. So limits work without root only on a
// pure v2 host, in a cgroup the user owns (systemd's Delegate=yes, as user@UID.service has), and
// only for the controllers that cgroup offers (its cgroup.controllers: what its parent enabled
// in cgroup.subtree_control). v2's "no internal processes" rule: a cgroup that hands controllers
// to children must hold no processes itself, so berthd (and everything in its cgroup) moves to a
// leaf `berthd` and containers go under a sibling `containers`:
//
//   OWN/                 cgroup.subtree_control: +cpu +memory +pids ...   (no processes)
//   OWN/berthd/          berthd, the user namespace holder, conmon, whatever shared OWN
//   OWN/containers/      cgroup.subtree_control: the same
//   OWN/containers/ID    made by runc from the spec's cgroupsPath
import { lstat, mkdir, readFile, statfs, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { LIMIT_CONTROLLERS, type LimitController } from './types.ts'

/** statfs(2)'s f_type of a cgroup2 filesystem. */
export const CGROUP2_SUPER_MAGIC = 0x63677270

/** The leaf berthd moves into, and the parent of containers' cgroups, under the user's cgroup. */
export const DAEMON_LEAF = 'berthd'
export const CONTAINERS_CGROUP = 'containers'

/** How the host mounts cgroups. */
export type CgroupLayout =
  /** /sys/fs/cgroup is cgroup2. */
  | { kind: 'unified'; root: string }
  /** v1 hierarchies under /sys/fs/cgroup, v2 beside them (at `root`, usually .../unified). */
  | { kind: 'hybrid'; root: string }
  | { kind: 'v1' }

/** What berthd found about the cgroups it may use. */
export interface CgroupDelegation {
  /** The limit controllers containers can be limited by (empty where none). */
  controllers: LimitController[]
  /**
   * Why the limit controllers absent from `controllers` are not there; absent when all are.
   */
  reason?: string
  /** The user's cgroup (path under the cgroup2 mount) to set up, when any controller is there. */
  base?: string
}

/** Where a rootless berthd's containers go and which limits they can have. */
export interface RootlessCgroups {
  /** The limit controllers delegated to the user. */
  controllers: readonly LimitController[]
  /** Why the others are not; absent when all are. */
  reason?: string
  /** The parent of containers' cgroups; '' when none is used (no controller delegated). */
  parent: string
}

/**
 * Decides and sets up a rootless berthd's cgroups on this host, from inside its user namespace
 * (where the user is uid 0). A failed set-up leaves limits refused with what failed.
 */
export async function rootlessCgroups(sysfs = '/sys/fs/cgroup'): Promise<RootlessCgroups> {
  const layout = await cgroupLayout(sysfs)
  const d = await cgroupDelegation(
    layout,
    await readFile('/proc/self/cgroup', 'utf8'),
    process.getuid?.() ?? 0,
  )
  if (d.base === undefined || layout.kind !== 'unified')
    return { controllers: [], reason: d.reason ?? 'no cgroup is delegated to the user', parent: '' }
  try {
    const parent = await placeContainers(layout.root, d.base, d.controllers)
    return { controllers: d.controllers, ...(d.reason ? { reason: d.reason } : {}), parent }
  } catch (err) {
    return {
      controllers: [],
      reason: `berthd could not set up its cgroups under ${d.base}: ${(err as Error).message}`,
      parent: '',
    }
  }
}

/** The cgroup2 path of a process from its /proc/PID/cgroup text: the `0::` line. */
export function ownCgroup(procCgroup: string): string | undefined {
  for (const line of procCgroup.split('\n')) if (line.startsWith('0::')) return line.slice(3)
  return undefined
}

const HYBRID =
  'this host runs cgroups v1 beside v2 and the v1 controllers belong to root, so berthd running without root cannot limit memory, CPU or processes'

/**
 * Which limit controllers a berthd serving `uid` (as seen from its own user namespace) can use,
 * read from the cgroup tree under `layout.root`: its own cgroup (`procCgroup`, the text of
 * /proc/self/cgroup) must be owned by `uid` with cgroup.procs and cgroup.subtree_control
 * writable, and offer the controllers in its cgroup.controllers. Reads only; a fake tree in a
 * temporary directory serves the tests.
 */
export async function cgroupDelegation(
  layout: CgroupLayout,
  procCgroup: string,
  uid: number,
): Promise<CgroupDelegation> {
  if (layout.kind === 'v1')
    return { controllers: [], reason: `${HYBRID} (this host has no cgroup v2 hierarchy)` }
  if (layout.kind === 'hybrid') {
    const offered = await controllersOf(layout.root)
    const has = offered.filter((c) => (LIMIT_CONTROLLERS as readonly string[]).includes(c))
    return {
      controllers: [],
      reason:
        has.length === 0
          ? `${HYBRID} (the unified hierarchy at ${layout.root} has ${offered.length ? `only ${offered.join(', ')}` : 'no controllers'})`
          : // A controller is in one hierarchy only, and runc uses the v1 ones on such a host.
            `${HYBRID} (runc applies limits through cgroup v2 only where /sys/fs/cgroup itself is cgroup2; here the unified hierarchy at ${layout.root} has ${offered.join(', ')})`,
    }
  }
  let own = ownCgroup(procCgroup)
  if (own === undefined)
    return { controllers: [], reason: 'berthd has no cgroup v2 path in /proc/self/cgroup' }
  // A restarted berthd may already sit in the leaf an earlier one made.
  if (basename(own) === DAEMON_LEAF) own = dirname(own)
  const dir = join(layout.root, own)
  const notOwned = await notWritable(dir, uid)
  if (notOwned)
    return {
      controllers: [],
      reason: `berthd's cgroup ${own} is not delegated to the user (${notOwned}); systemd delegates user@UID.service and units with Delegate=yes, e.g. start berthd with systemd-run --user --scope -p Delegate=yes`,
    }
  const offered = await controllersOf(dir)
  const controllers = LIMIT_CONTROLLERS.filter((c) => offered.includes(c))
  const missing = LIMIT_CONTROLLERS.filter((c) => !offered.includes(c))
  return {
    controllers,
    ...(missing.length
      ? {
          reason: `berthd's cgroup ${own} offers ${offered.length ? offered.join(', ') : 'no controllers'} (cgroup.controllers; its parent enables them in cgroup.subtree_control)`,
        }
      : {}),
    ...(controllers.length ? { base: own } : {}),
  }
}

async function controllersOf(dir: string): Promise<string[]> {
  try {
    return (await readFile(join(dir, 'cgroup.controllers'), 'utf8')).split(/\s+/).filter(Boolean)
  } catch {
    return []
  }
}

/** Why `dir` is not the user's to manage, or undefined when it is. */
async function notWritable(dir: string, uid: number): Promise<string | undefined> {
  for (const name of ['', 'cgroup.procs', 'cgroup.subtree_control']) {
    const p = join(dir, name)
    let st
    try {
      st = await lstat(p)
    } catch {
      return `${name || dir} is missing`
    }
    if (st.uid !== uid) return `${name || 'the directory'} belongs to uid ${st.uid}`
    if ((st.mode & 0o200) === 0) return `${name || 'the directory'} is not writable by its owner`
  }
  return undefined
}

/**
 * Sets the delegated cgroup up (see the top of this file) and returns the parent of containers'
 * cgroups. Moves every process of `base` into the leaf first: the kernel refuses
 * cgroup.subtree_control (EBUSY) while the cgroup holds any.
 */
export async function placeContainers(
  root: string,
  base: string,
  controllers: readonly string[],
): Promise<string> {
  const dir = join(root, base)
  const leaf = join(dir, DAEMON_LEAF)
  await mkdir(leaf, { recursive: true })
  // Processes forked while moving land in `base` again; a few rounds catch them.
  for (let round = 0; round < 5; round++) {
    const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean)
    if (pids.length === 0) break
    for (const pid of pids) {
      try {
        await writeFile(join(leaf, 'cgroup.procs'), pid)
      } catch (err) {
        // Gone since it was listed.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
      }
    }
    // A plain file in a fake tree keeps what was written; the kernel's procs file empties.
    if ((await statfs(dir)).type !== CGROUP2_SUPER_MAGIC) break
  }
  const enable = controllers.map((c) => `+${c}`).join(' ')
  await writeFile(join(dir, 'cgroup.subtree_control'), enable)
  const parent = join(dir, CONTAINERS_CGROUP)
  await mkdir(parent, { recursive: true })
  await writeFile(join(parent, 'cgroup.subtree_control'), enable)
  return join(base, CONTAINERS_CGROUP)
}

/** How this host mounts cgroups (statfs of /sys/fs/cgroup, then the usual v2 mount beside v1). */
export async function cgroupLayout(sysfs = '/sys/fs/cgroup'): Promise<CgroupLayout> {
  try {
    if ((await statfs(sysfs)).type === CGROUP2_SUPER_MAGIC) return { kind: 'unified', root: sysfs }
  } catch {
    return { kind: 'v1' }
  }
  const unified = join(sysfs, 'unified')
  try {
    if ((await statfs(unified)).type === CGROUP2_SUPER_MAGIC)
      return { kind: 'hybrid', root: unified }
  } catch {
    // No unified hierarchy.
  }
  return { kind: 'v1' }
}
