// Builds the host profile once, at wiring (src/daemon/wire.ts).
import { join } from 'node:path'
import { DEFAULT_CGROUP_PARENT, type HostFacts, type HostProfile } from './types.ts'

/** The profile of a berthd running as root with its state under dataRoot. */
export function rootProfile(dataRoot: string, facts: HostFacts): HostProfile {
  return {
    rootless: false,
    cgroupParent: DEFAULT_CGROUP_PARENT,
    runtimeDir: join(dataRoot, 'run'),
    facts,
  }
}
