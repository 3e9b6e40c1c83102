// Builds the host profile once, at wiring (src/daemon/wire.ts).
import { join } from 'node:path'
import type { RootlessCgroups } from './cgroups.ts'
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

/** The profile of a berthd serving an ordinary user, from inside its user namespace. */
export function rootlessProfile(
  execRoot: string,
  facts: HostFacts,
  cgroups: RootlessCgroups,
  opts: { gpuRoot?: string; maxGid?: number } = {},
): HostProfile {
  return {
    rootless: true,
    // cgroup v2's freezer (cgroup.freeze) needs no controller, only a cgroup of the container's
    // own; without one (no cgroupsPath) there is none.
    freezer: cgroups.parent !== '',
    // No cgroupsPath where nothing is delegated: runc's rootless cgroup manager then goes on
    // where it may not make a cgroup.
    cgroupParent: cgroups.parent,
    runtimeDir: join(execRoot, 'runtime'),
    facts,
    gpuRoot: opts.gpuRoot ?? '/',
    limitControllers: cgroups.controllers,
    ...(cgroups.reason !== undefined ? { noResourceLimits: cgroups.reason } : {}),
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
