// Builds the host profile once, at wiring (src/daemon/wire.ts).
import { join } from 'node:path'
import { hostFacts } from '../runtime/host.ts'
import { DEFAULT_CGROUP_PARENT, cgroupsPath } from './cgroups.ts'
import type { HostProfile } from './types.ts'

/** The profile of a berthd running as root with its state under dataRoot. */
export async function rootProfile(dataRoot: string): Promise<HostProfile> {
  return {
    rootless: false,
    cgroupParent: DEFAULT_CGROUP_PARENT,
    runtimeDir: join(dataRoot, 'run'),
    facts: await hostFacts(),
  }
}

/** The cgroupsPath of a container on this host. */
export function containerCgroupsPath(host: Pick<HostProfile, 'cgroupParent'>, id: string): string {
  return cgroupsPath(host.cgroupParent, id)
}
