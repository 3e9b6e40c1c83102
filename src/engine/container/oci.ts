// A container's Config and HostConfig as its task's process and confinement (moby's
// daemon/oci_linux.go), and the create-time checks of HostConfig with Docker's words
// (daemon/daemon_unix.go). Pure: the host's facts come in.
import { ULIMIT_NAMES } from '../../lib/ulimits.ts'
import { parseSignal } from './signals.ts'
import { InvalidArgument } from '../errors.ts'
import type { Mount } from '../layer/types.ts'
import { DEFAULT_CAPABILITIES, normalizeCaps, tweakCapabilities } from '../caps.ts'
import type { HostFacts } from '../host/types.ts'
import { parseSeccompProfile, resolveSeccompProfile } from '../seccomp.ts'
import { DEFAULT_SHM_SIZE, type SpecResources } from '../runtime/types.ts'
import type { Confinement } from '../task/types.ts'
import type { Container, ContainerConfig, HostConfig } from './types.ts'

/** Where --init's binary is mounted in the container, as Docker does. */
export const INIT_PATH = '/sbin/docker-init'

const LINUX_MIN_MEMORY = 6 * 1024 * 1024

function num(hc: HostConfig, key: string): number {
  const v = hc[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : 0
}

function strs(hc: HostConfig, key: string): string[] {
  const v = hc[key]
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []
}

function record(hc: HostConfig, key: string): Record<string, string> {
  const v = hc[key]
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return {}
  const out: Record<string, string> = {}
  for (const [k, s] of Object.entries(v)) out[k] = typeof s === 'string' ? s : String(s)
  return out
}

export interface HostDevice {
  PathOnHost: string
  PathInContainer: string
  CgroupPermissions: string
}

/** HostConfig.Devices, with Docker's default permissions. */
export function hostConfigDevices(hc: HostConfig): HostDevice[] {
  const v = hc.Devices
  if (!Array.isArray(v)) return []
  return v
    .filter((d): d is Record<string, unknown> => d !== null && typeof d === 'object')
    .map((d) => ({
      PathOnHost: String(d.PathOnHost ?? ''),
      PathInContainer: String(d.PathInContainer ?? ''),
      CgroupPermissions: String(d.CgroupPermissions || 'rwm'),
    }))
}

export interface Ulimit {
  Name: string
  Soft: number
  Hard: number
}

function ulimits(hc: HostConfig): Ulimit[] {
  const v = hc.Ulimits
  if (!Array.isArray(v)) return []
  return v
    .filter((u): u is Record<string, unknown> => u !== null && typeof u === 'object')
    .map((u) => ({
      Name: String(u.Name ?? ''),
      Soft: Number(u.Soft ?? 0),
      Hard: Number(u.Hard ?? 0),
    }))
}

export interface SecurityOptions {
  noNewPrivileges: boolean
  /** '' for Docker's default profile, 'unconfined', or a profile's JSON text. */
  seccomp: string
}

function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false
  return undefined
}

/** HostConfig.SecurityOpt (moby's parseSecurityOpt), for the options berth honours. */
export function parseSecurityOpts(opts: readonly string[]): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: false, seccomp: '' }
  for (const opt of opts) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true
      continue
    }
    if (opt === 'disable') continue
    let sep = opt.indexOf('=')
    if (sep < 0) sep = opt.indexOf(':')
    if (sep < 0) throw new InvalidArgument(`invalid --security-opt 1: "${opt}"`)
    const k = opt.slice(0, sep)
    const v = opt.slice(sep + 1)
    switch (k) {
      case 'label':
      case 'apparmor':
        // No SELinux or AppArmor here; accepted as Docker accepts them where they are off.
        break
      case 'seccomp':
        out.seccomp = v
        break
      case 'no-new-privileges': {
        const b = parseBool(v)
        if (b === undefined) throw new InvalidArgument(`invalid --security-opt 2: "${opt}"`)
        out.noNewPrivileges = b
        break
      }
      default:
        throw new InvalidArgument(`invalid --security-opt 2: "${opt}"`)
    }
  }
  return out
}

/** A cpuset list ("0-2,4") as CPU numbers; undefined when malformed. */
export function parseCpuset(s: string): number[] | undefined {
  const out: number[] = []
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part)
    if (!m) return undefined
    const a = Number(m[1])
    const b = m[2] === undefined ? a : Number(m[2])
    if (b < a) return undefined
    for (let i = a; i <= b; i++) out.push(i)
  }
  return out
}

/**
 * Checks a create request's HostConfig with Docker's rules and words (400 on failure), and
 * fills in what Docker fills in at create (adaptContainerSettings): MemorySwap twice Memory,
 * ShmSize 64 MiB. Mutates hc.
 */
export function verifyHostConfig(hc: HostConfig, config: ContainerConfig, host: HostFacts): void {
  const memory = num(hc, 'Memory')
  const swap = num(hc, 'MemorySwap')
  const reservation = num(hc, 'MemoryReservation')
  if (memory !== 0 && memory < LINUX_MIN_MEMORY) {
    throw new InvalidArgument('Minimum memory limit allowed is 6MB')
  }
  if (memory > 0 && swap > 0 && swap < memory) {
    throw new InvalidArgument(
      'Minimum memoryswap limit should be larger than memory limit, see usage',
    )
  }
  if (memory === 0 && swap > 0) {
    throw new InvalidArgument(
      'You should always set the Memory limit when using Memoryswap limit, see usage',
    )
  }
  if (reservation > 0 && reservation < LINUX_MIN_MEMORY) {
    throw new InvalidArgument('Minimum memory reservation allowed is 6MB')
  }
  if (memory > 0 && reservation > 0 && memory < reservation) {
    throw new InvalidArgument(
      'Minimum memory limit can not be less than memory reservation limit, see usage',
    )
  }
  const nano = num(hc, 'NanoCpus')
  if (nano > 0 && num(hc, 'CpuPeriod') > 0) {
    throw new InvalidArgument('Conflicting options: Nano CPUs and CPU Period cannot both be set')
  }
  if (nano > 0 && num(hc, 'CpuQuota') > 0) {
    throw new InvalidArgument('Conflicting options: Nano CPUs and CPU Quota cannot both be set')
  }
  if (nano !== 0 && (nano < 0 || nano > host.cpus * 1e9)) {
    throw new InvalidArgument(
      `range of CPUs is from 0.01 to ${host.cpus}.00, as there are only ${host.cpus} CPUs available`,
    )
  }
  const shares = num(hc, 'CpuShares')
  if (shares < 0) {
    throw new InvalidArgument(`invalid CPU shares (${shares}): value must be a positive integer`)
  }
  const period = num(hc, 'CpuPeriod')
  if (period !== 0 && (period < 1000 || period > 1000000)) {
    throw new InvalidArgument(
      'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)',
    )
  }
  const quota = num(hc, 'CpuQuota')
  if (quota > 0 && quota < 1000) {
    throw new InvalidArgument('CPU cfs quota can not be less than 1ms (i.e. 1000)')
  }
  const cpuset = typeof hc.CpusetCpus === 'string' ? hc.CpusetCpus : ''
  if (cpuset !== '') {
    const cpus = parseCpuset(cpuset)
    if (!cpus) {
      throw new InvalidArgument(
        `Invalid value ${cpuset} for cpuset cpus: invalid format: ${cpuset}`,
      )
    }
    if (cpus.some((c) => c >= host.cpus)) {
      const avail = host.cpus === 1 ? '0' : `0-${host.cpus - 1}`
      throw new InvalidArgument(
        `Requested CPUs are not available - requested ${cpuset}, available: ${avail}`,
      )
    }
  }
  if (num(hc, 'ShmSize') < 0) throw new InvalidArgument('SHM size can not be less than 0')
  const oom = num(hc, 'OomScoreAdj')
  if (oom < -1000 || oom > 1000) {
    throw new InvalidArgument(`Invalid value ${oom}, range for oom score adj is [-1000, 1000]`)
  }
  for (const dest of Object.keys(record(hc, 'Tmpfs'))) {
    if (!dest.startsWith('/')) {
      throw new InvalidArgument(`invalid mount path: '${dest}' mount path must be absolute`)
    }
  }
  if (config.StopSignal) parseSignal(config.StopSignal)
  if (hc.Init === true && host.initPath === undefined) {
    throw new InvalidArgument(
      'no init binary on the host for --init: install tini (tini-static) or catatonit',
    )
  }
  if (hc.Privileged !== true) {
    normalizeCaps(strs(hc, 'CapAdd'), host.capabilities)
    normalizeCaps(strs(hc, 'CapDrop'), host.capabilities)
  }
  const sec = parseSecurityOpts(strs(hc, 'SecurityOpt'))
  if (sec.seccomp !== '' && sec.seccomp !== 'unconfined' && sec.seccomp !== 'builtin') {
    resolveSeccompProfile(parseSeccompProfile(sec.seccomp), {
      capabilities: [],
      arch: host.arch,
      kernel: host.kernel,
    })
  }
  verifyUlimits(ulimits(hc), host)

  if (memory > 0 && swap === 0) hc.MemorySwap = memory * 2
  if (num(hc, 'ShmSize') === 0) hc.ShmSize = DEFAULT_SHM_SIZE
}

/**
 * runc sets rlimits after it has dropped to the container's capabilities, so without
 * CAP_SYS_RESOURCE on the host a hard limit above the host's fails at start with an obscure
 * "operation not permitted"; refuse it at create with words that say why.
 */
export function verifyUlimits(list: readonly Ulimit[], host: HostFacts): void {
  const canRaise = host.capabilities.includes('CAP_SYS_RESOURCE')
  for (const u of list) {
    if (!ULIMIT_NAMES.includes(u.Name)) {
      throw new InvalidArgument(`invalid ulimit type: ${u.Name}`)
    }
    if (u.Soft > u.Hard) {
      throw new InvalidArgument(
        `ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`,
      )
    }
    const max = host.hardLimits[u.Name]
    if (!canRaise && max !== undefined && (u.Hard > max || u.Hard < 0)) {
      throw new InvalidArgument(
        `invalid ulimit ${u.Name}=${u.Soft}:${u.Hard}: the hard limit is above the host's hard limit of ${max}, which the daemon cannot raise without CAP_SYS_RESOURCE`,
      )
    }
  }
}

/** Docker's tmpfs options: noexec,nosuid,nodev,rprivate, then the user's, the last one winning. */
export function tmpfsOptions(data: string): string[] {
  const inverse: Record<string, string> = {
    exec: 'noexec',
    suid: 'nosuid',
    dev: 'nodev',
    rw: 'ro',
    atime: 'noatime',
    diratime: 'nodiratime',
  }
  for (const [a, b] of Object.entries({ ...inverse })) inverse[b] = a
  const opts = ['noexec', 'nosuid', 'nodev', 'rprivate']
  if (data !== '') opts.push(...data.split(',').filter((o) => o !== ''))
  const out: string[] = []
  for (const o of opts) {
    const key = o.includes('=') ? o.slice(0, o.indexOf('=') + 1) : undefined
    const drop = (x: string): boolean =>
      key !== undefined ? x.startsWith(key) : x === o || x === inverse[o]
    const i = out.findIndex(drop)
    if (i >= 0) out.splice(i, 1)
    out.push(o)
  }
  return out
}

/** The resources section from HostConfig's limits. */
export function resourcesFor(hc: HostConfig): SpecResources | undefined {
  const res: SpecResources = {}
  const memory = num(hc, 'Memory')
  const swap = num(hc, 'MemorySwap')
  const reservation = num(hc, 'MemoryReservation')
  if (memory > 0 || swap !== 0 || reservation > 0) {
    res.memory = {}
    if (memory > 0) res.memory.limit = memory
    if (reservation > 0) res.memory.reservation = reservation
    if (swap !== 0) res.memory.swap = swap
  }
  const cpu: NonNullable<SpecResources['cpu']> = {}
  const nano = num(hc, 'NanoCpus')
  if (nano > 0) {
    // moby: a period of 100 ms and the quota that gives NanoCpus of it.
    cpu.period = 100000
    cpu.quota = Math.floor((nano * 100000) / 1e9)
  }
  if (num(hc, 'CpuPeriod') > 0) cpu.period = num(hc, 'CpuPeriod')
  if (num(hc, 'CpuQuota') !== 0) cpu.quota = num(hc, 'CpuQuota')
  if (num(hc, 'CpuShares') > 0) cpu.shares = num(hc, 'CpuShares')
  if (typeof hc.CpusetCpus === 'string' && hc.CpusetCpus) cpu.cpus = hc.CpusetCpus
  if (typeof hc.CpusetMems === 'string' && hc.CpusetMems) cpu.mems = hc.CpusetMems
  if (Object.keys(cpu).length > 0) res.cpu = cpu
  const pids = num(hc, 'PidsLimit')
  if (pids > 0) res.pids = { limit: pids }
  return Object.keys(res).length > 0 ? res : undefined
}

/** The process's argv: Docker's init in front when asked (`/sbin/docker-init -- ...`). */
export function processArgs(c: Container): string[] {
  const args = [c.path, ...c.args]
  return c.hostConfig.Init === true ? [INIT_PATH, '--', ...args] : args
}

/**
 * The container's confinement from its HostConfig (moby's createSpec, for what berth
 * supports), and the mounts HostConfig asks for that need nothing from the root filesystem:
 * --init's binary and --tmpfs. Pure: the host's facts come in.
 */
export function containerConfinement(
  c: Container,
  host: HostFacts,
): { confinement: Confinement; mounts: Mount[] } {
  const hc = c.hostConfig
  const privileged = hc.Privileged === true
  const sec = parseSecurityOpts(strs(hc, 'SecurityOpt'))
  const caps = tweakCapabilities(
    DEFAULT_CAPABILITIES,
    strs(hc, 'CapAdd'),
    strs(hc, 'CapDrop'),
    privileged,
    host.capabilities,
  )

  const mounts: Mount[] = []
  if (hc.Init === true) {
    if (host.initPath === undefined) {
      throw new InvalidArgument(
        'no init binary on the host for --init: install tini (tini-static) or catatonit',
      )
    }
    mounts.push({
      type: 'bind',
      source: host.initPath,
      destination: INIT_PATH,
      options: ['bind', 'ro'],
    })
  }
  for (const [dest, data] of Object.entries(record(hc, 'Tmpfs'))) {
    mounts.push({ type: 'tmpfs', source: 'tmpfs', destination: dest, options: tmpfsOptions(data) })
  }

  const confinement: Confinement = {
    readonlyRootfs: hc.ReadonlyRootfs === true,
    security: {
      privileged,
      capabilities: caps,
      noNewPrivileges: sec.noNewPrivileges,
      ...(sec.seccomp !== '' ? { seccomp: sec.seccomp } : {}),
    },
  }
  const resources = resourcesFor(hc)
  if (resources) confinement.resources = resources
  if (num(hc, 'ShmSize') > 0) confinement.shmSize = num(hc, 'ShmSize')
  const sysctls = record(hc, 'Sysctls')
  if (Object.keys(sysctls).length > 0) confinement.sysctls = sysctls
  const rl = ulimits(hc)
  if (rl.length > 0) {
    confinement.rlimits = rl.map((u) => ({
      type: `RLIMIT_${u.Name.toUpperCase()}`,
      soft: u.Soft,
      hard: u.Hard,
    }))
  }
  if (num(hc, 'OomScoreAdj') !== 0) confinement.oomScoreAdj = num(hc, 'OomScoreAdj')
  return { confinement, mounts }
}

/** The container's hostname (the one chosen at create). */
export function hostnameOf(c: Container): string {
  return c.config.Hostname ?? c.id.slice(0, 12)
}

/** --group-add entries as gids: numbers, or names looked up in the container's /etc/group. */
export function resolveGroupAdd(groups: readonly string[], etcGroup: string): number[] {
  const byName = new Map<string, number>()
  for (const line of etcGroup.split('\n')) {
    const [name, , gid] = line.split(':')
    if (name && gid !== undefined && /^\d+$/.test(gid)) byName.set(name, Number(gid))
  }
  return groups.map((g) => {
    if (/^\d+$/.test(g)) return Number(g)
    const gid = byName.get(g)
    if (gid === undefined) throw new InvalidArgument(`Unable to find group ${g}`)
    return gid
  })
}

/** HostConfig.GroupAdd. */
export function groupAdd(hc: HostConfig): string[] {
  return strs(hc, 'GroupAdd')
}
