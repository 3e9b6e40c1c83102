// Builds the host profile once, at wiring (src/daemon/wire.ts).
import { join } from 'node:path'
import { DEFAULT_CGROUP_PARENT, type HostFacts, type HostProfile } from './types.ts'

/** The profile of a berthd running as root with its state under dataRoot. */
export function rootProfile(
  dataRoot: string,
  facts: HostFacts,
  opts: { gpuRoot?: string } = {},
): HostProfile {
  return {
    rootless: false,
    freezer: true,
    cgroupParent: DEFAULT_CGROUP_PARENT,
    runtimeDir: join(dataRoot, 'run'),
    facts,
    gpuRoot: opts.gpuRoot ?? '/',
  }
}

/**
 * Why a rootless berthd cannot apply resource limits on this host. With cgroups v1 beside v2
 * (`hybrid`) the controllers are v1's and belong to root. On a v2-only host with controllers
 * delegated to the user, limits could work, but berth does not yet put rootless containers
 * under the user's delegated cgroup, so it says so rather than ignore the limit.
 */
export function rootlessLimitsReason(hybrid: boolean): string {
  return hybrid
    ? 'this host runs cgroups v1 beside v2 and the v1 controllers belong to root, so berthd running without root cannot limit memory, CPU or processes'
    : 'berthd running without root does not yet place containers in the cgroup v2 subtree delegated to the user'
}

/** The profile of a berthd serving an ordinary user, from inside its user namespace. */
export function rootlessProfile(
  execRoot: string,
  facts: HostFacts,
  noResourceLimits: string,
  opts: { gpuRoot?: string; maxGid?: number } = {},
): HostProfile {
  return {
    rootless: true,
    // Without a cgroup of its own (no cgroupsPath) a container has no freezer either.
    freezer: false,
    // No cgroupsPath: runc's rootless cgroup manager then goes on where it may not make one.
    cgroupParent: '',
    runtimeDir: join(execRoot, 'runtime'),
    facts,
    gpuRoot: opts.gpuRoot ?? '/',
    noResourceLimits,
    ...(opts.maxGid !== undefined
      ? { ownNetworkSysctls: { 'net.ipv4.ping_group_range': `0 ${opts.maxGid}` } }
      : {}),
  }
}

/** The highest ID an ID map (/proc/self/gid_map's text) maps inside the namespace. */
export function maxMappedId(map: string): number {
  let max = 0
  for (const line of map.split('\n')) {
    const [inner, , count] = line.trim().split(/\s+/).map(Number)
    if (inner !== undefined && count !== undefined && Number.isFinite(inner + count))
      max = Math.max(max, inner + count - 1)
  }
  return max
}
