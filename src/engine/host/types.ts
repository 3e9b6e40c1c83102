// The host as the engine sees it: the facts and choices that rootless mode (and other hosts)
// change, made once when berthd starts and passed to every module that needs one of them,
// so that no module decides them on its own.
import type { HostFacts } from '../runtime/host.ts'
import type { IdMapping } from '../runtime/types.ts'

export interface HostProfile {
  /** berthd runs as an ordinary user, in a user namespace of its own (not yet: always false). */
  readonly rootless: boolean
  /** The cgroup every container's cgroup is made under (`/berth` as root). */
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
}
