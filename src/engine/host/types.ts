// The host as the engine sees it: the facts and choices that rootless mode (and other hosts)
// change, made once when berthd starts and passed to every module that needs one of them,
// so that no module decides them on its own.
import type { IdMapping, SpecResources } from '../runtime/types.ts'

/** What confinement may grant on this host; read once by runtime/host.ts (hostFacts()). */
export interface HostFacts {
  /** The capability bounding set of berthd (CapBnd): all a container may be granted. */
  capabilities: string[]
  /** Hard limits by Docker's ulimit name (nofile, nproc...); absent when unlimited. */
  hardLimits: Record<string, number>
  cpus: number
  /** A static init for --init (mounted at /sbin/docker-init), when one is installed. */
  initPath?: string
  /** libseccomp's arch name (amd64...). */
  arch: string
  kernel: string
}

export interface HostProfile {
  /**
   * berthd serves an ordinary user: it runs as root of a user namespace mapped from the user's
   * /etc/subuid and /etc/subgid ranges (host/userns.ts), and its containers share that
   * namespace, so container root is the user on the host.
   */
  readonly rootless: boolean
  /**
   * Why some resource limits (memory, CPU, cpuset, pids) cannot be applied here, when they
   * cannot: rootless without those cgroup v2 controllers delegated to the user
   * (host/cgroups.ts). Absent where every limit works.
   */
  readonly noResourceLimits?: string
  /**
   * The limit controllers containers can use where that is not all of them (rootless: those
   * delegated to the user); absent as root.
   */
  readonly limitControllers?: readonly string[]
  /**
   * The runtime can freeze containers (pause, commit's pause): not rootless on cgroups v1, where
   * the freezer controller belongs to root.
   */
  readonly freezer: boolean
  /**
   * Docker's sysctls for a container's own network namespace that this host sets otherwise:
   * rootless, net.ipv4.ping_group_range covers only the groups mapped in berthd's namespace.
   */
  readonly ownNetworkSysctls?: Readonly<Record<string, string>>
  /**
   * The cgroup every container's cgroup is made under (`/berth` as root). Rootless: the
   * `containers` cgroup berthd made in the user's delegated cgroup, or empty where nothing is
   * delegated (runc's rootless cgroup manager goes on past cgroups it may not make only when
   * the spec names no cgroupsPath).
   */
  readonly cgroupParent: string
  /**
   * The mappings of each container's user namespace; absent as root, where containers use the
   * host's IDs. Rootless: the user's own ID and its /etc/subuid and /etc/subgid ranges.
   */
  readonly idMappings?: { uid: IdMapping[]; gid: IdMapping[] }
  /** The runtime's state: runc's --root, conmon's exit files, attach sockets and pid files. */
  readonly runtimeDir: string
  /** What confinement may grant here: capabilities, hard limits, CPUs, an init, arch, kernel. */
  readonly facts: HostFacts
  /**
   * Where GPU discovery and the CDI specs are read: "/" on a real host. Tests point it at a
   * fake host root (device nodes, driver files, a linker cache, CDI specs); not a user setting.
   */
  readonly gpuRoot: string
}

/**
 * Where containers' cgroups go (cgroupfs layout): one parent for all, one child per container.
 * Docker's layout is `/docker/<id>`; ours is `/berth/<id>`. Absolute, so a container's cgroup
 * does not nest under berthd's (a service manager stopping berthd must not take its
 * containers with it).
 */
export const DEFAULT_CGROUP_PARENT = '/berth'

/** The cgroupsPath of a container on this host. */
export function containerCgroupsPath(host: Pick<HostProfile, 'cgroupParent'>, id: string): string {
  return host.cgroupParent === '' ? '' : `${host.cgroupParent}/${id}`
}

/** The controllers berth's limits use. */
export const LIMIT_CONTROLLERS = ['cpu', 'cpuset', 'memory', 'pids'] as const
export type LimitController = (typeof LIMIT_CONTROLLERS)[number]

/** The controllers a container's resources need. */
export function neededControllers(r: SpecResources | undefined): LimitController[] {
  const need = new Set<LimitController>()
  if (r?.memory && Object.values(r.memory).some((v) => v !== undefined)) need.add('memory')
  if (r?.cpu?.shares !== undefined || r?.cpu?.quota !== undefined || r?.cpu?.period !== undefined)
    need.add('cpu')
  if (r?.cpu?.cpus !== undefined || r?.cpu?.mems !== undefined) need.add('cpuset')
  if (r?.pids) need.add('pids')
  return LIMIT_CONTROLLERS.filter((c) => need.has(c))
}

/**
 * Why a container's resources cannot be applied here, or undefined when they can. `limits`
 * absent: every controller is there (root).
 */
export function limitsRefusal(
  r: SpecResources | undefined,
  limits: { controllers: readonly string[]; reason: string } | undefined,
): string | undefined {
  if (!limits) return undefined
  const missing = neededControllers(r).filter((c) => !limits.controllers.includes(c))
  if (missing.length === 0) return undefined
  if (limits.controllers.length === 0) return `resource limits are not available: ${limits.reason}`
  const what =
    missing.length === 1
      ? `the ${missing[0]} controller is`
      : `the ${missing.join(' and ')} controllers are`
  return `resource limits are not available: ${what} not delegated to berthd without root: ${limits.reason}`
}
