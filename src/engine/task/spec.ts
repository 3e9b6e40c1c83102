// A task's spec input (runtime/types.ts SpecInput): its description, what was resolved with its
// root filesystem mounted, and the host's profile. Pure, so it is table-tested.
import { join } from 'node:path'
import { InvalidArgument } from '../errors.ts'
import { containerCgroupsPath, limitsRefusal, type HostProfile } from '../host/types.ts'
import type { Mount } from '../layer/types.ts'
import { ETC_FILES } from '../network/types.ts'
import type { SpecInput, User } from '../runtime/types.ts'
import type { RootfsAdditions, TaskSpec } from './types.ts'

/** The bind mounts of a network's /etc files (PreparedNetwork.etcDir). */
export function etcMounts(dir: string): Mount[] {
  return ETC_FILES.map((f) => ({
    type: 'bind',
    source: join(dir, f),
    destination: `/etc/${f}`,
    options: ['rbind', 'rprivate'],
  }))
}

/** The /etc files give way to a mount of the same path (a bind of the user's own hosts file). */
export function combineMounts(user: Mount[], etc: Mount[]): Mount[] {
  const dests = new Set(user.map((m) => m.destination))
  return [...user, ...etc.filter((m) => !dests.has(m.destination))]
}

export type TaskSpecParts = Pick<
  TaskSpec,
  'id' | 'hostname' | 'process' | 'mounts' | 'network' | 'confinement' | 'rootfsPropagation'
>

export interface Resolved {
  /** Where the root filesystem is mounted. */
  rootfs: string
  user: User
  adds?: RootfsAdditions
}

/** The runtime's input for a task; the host's cgroup and ID mappings when a profile is given. */
export function taskSpecInput(
  t: TaskSpecParts,
  r: Resolved,
  host?: Pick<
    HostProfile,
    'cgroupParent' | 'idMappings' | 'noResourceLimits' | 'limitControllers' | 'ownNetworkSysctls'
  > & { rootless?: boolean },
): SpecInput {
  const refusal = limitsRefusal(
    t.confinement?.resources,
    host?.noResourceLimits !== undefined
      ? { controllers: host.limitControllers ?? [], reason: host.noResourceLimits }
      : undefined,
  )
  // Refused, never ignored: a limit the user believes in must hold.
  if (refusal) throw new InvalidArgument(refusal)
  const adds = r.adds ?? {}
  const conf = t.confinement ?? {}
  const gids = [...r.user.additionalGids]
  for (const g of adds.additionalGids ?? []) if (!gids.includes(g)) gids.push(g)
  const mounts = combineMounts(
    [...(adds.mounts ?? []), ...(t.mounts ?? [])],
    t.network.etcDir !== undefined ? etcMounts(t.network.etcDir) : [],
  )
  const input: SpecInput = {
    id: t.id,
    rootfs: r.rootfs,
    readonlyRootfs: conf.readonlyRootfs === true,
    hostname: t.hostname,
    process: {
      args: t.process.args,
      env: t.process.env,
      cwd: t.process.cwd,
      user: { ...r.user, additionalGids: gids },
      terminal: t.process.terminal === true,
    },
    mounts,
  }
  if (t.process.consoleSize) input.process.consoleSize = t.process.consoleSize
  if (t.network.hostNetwork) input.hostNetwork = true
  if (t.network.netnsPath !== undefined) input.netnsPath = t.network.netnsPath
  if (conf.security) input.security = conf.security
  if (conf.resources) input.resources = conf.resources
  const devices = [...(conf.devices ?? []), ...(adds.devices ?? [])]
  if (devices.length > 0) input.devices = devices
  if (adds.deviceEdits) input.deviceEdits = adds.deviceEdits
  if (conf.shmSize !== undefined) input.shmSize = conf.shmSize
  if (conf.sysctls) input.sysctls = conf.sysctls
  if (conf.rlimits) input.rlimits = conf.rlimits
  if (conf.oomScoreAdj !== undefined) input.oomScoreAdj = conf.oomScoreAdj
  if (t.rootfsPropagation) input.rootfsPropagation = t.rootfsPropagation
  if (host) {
    input.cgroupsPath = containerCgroupsPath(host, t.id)
    if (host.idMappings) input.idMappings = host.idMappings
    if (host.ownNetworkSysctls) input.ownNetworkSysctls = { ...host.ownNetworkSysctls }
    if (host.rootless && t.network.hostNetwork) input.bindHostSys = true
  }
  return input
}
