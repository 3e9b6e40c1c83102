// The run/create flags that confine a container or limit its resources, and their translation
// into HostConfig fields as the docker CLI sends them (cli/command/container/opts.go).
import { readFile } from 'node:fs/promises'
import { CliError, bool, int, list, str } from './command.ts'
import type { FlagDef, ParsedFlags } from './flags.ts'
import { ramInBytes } from '../lib/units.ts'

export { ramInBytes }

export const hostFlags: FlagDef[] = [
  { long: 'cap-add', kind: 'list', desc: 'Add Linux capabilities' },
  { long: 'cap-drop', kind: 'list', desc: 'Drop Linux capabilities' },
  { long: 'cpu-period', kind: 'int', desc: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { long: 'cpu-quota', kind: 'int', desc: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { long: 'cpu-shares', short: 'c', kind: 'int', desc: 'CPU shares (relative weight)' },
  { long: 'cpus', kind: 'string', typeName: 'decimal', desc: 'Number of CPUs' },
  { long: 'cpuset-cpus', kind: 'string', desc: 'CPUs in which to allow execution (0-3, 0,1)' },
  { long: 'cpuset-mems', kind: 'string', desc: 'MEMs in which to allow execution (0-3, 0,1)' },
  { long: 'device', kind: 'list', desc: 'Add a host device to the container' },
  { long: 'group-add', kind: 'list', desc: 'Add additional groups to join' },
  {
    long: 'init',
    kind: 'bool',
    desc: 'Run an init inside the container that forwards signals and reaps processes',
  },
  { long: 'memory', short: 'm', kind: 'string', typeName: 'bytes', desc: 'Memory limit' },
  {
    long: 'memory-reservation',
    kind: 'string',
    typeName: 'bytes',
    desc: 'Memory soft limit',
  },
  {
    long: 'memory-swap',
    kind: 'string',
    typeName: 'bytes',
    desc: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
  },
  {
    long: 'oom-score-adj',
    kind: 'int',
    desc: "Tune host's OOM preferences (-1000 to 1000)",
  },
  {
    long: 'pids-limit',
    kind: 'int',
    desc: 'Tune container pids limit (set -1 for unlimited)',
  },
  { long: 'privileged', kind: 'bool', desc: 'Give extended privileges to this container' },
  {
    long: 'read-only',
    kind: 'bool',
    desc: "Mount the container's root filesystem as read only",
  },
  { long: 'security-opt', kind: 'list', desc: 'Security Options' },
  { long: 'shm-size', kind: 'string', typeName: 'bytes', desc: 'Size of /dev/shm' },
  { long: 'stop-signal', kind: 'string', desc: 'Signal to stop the container' },
  { long: 'stop-timeout', kind: 'int', desc: 'Timeout (in seconds) to stop a container' },
  { long: 'sysctl', kind: 'list', typeName: 'map', desc: 'Sysctl options' },
  { long: 'tmpfs', kind: 'list', desc: 'Mount a tmpfs directory' },
  { long: 'ulimit', kind: 'list', typeName: 'ulimit', desc: 'Ulimit options' },
]

function flagError(name: string, short: string | undefined, raw: string, why: string): CliError {
  const flag = short ? `-${short}, --${name}` : `--${name}`
  return new CliError(`invalid argument "${raw}" for "${flag}" flag: ${why}`, 125)
}

/** A size flag's value in bytes; 0 when empty, -1 when allowed and given. */
export function bytesFlag(f: ParsedFlags, name: string, short?: string, minusOne = false): number {
  const raw = str(f, name)
  if (raw === '') return 0
  if (minusOne && raw === '-1') return -1
  const v = ramInBytes(raw)
  if (v === undefined) throw flagError(name, short, raw, `invalid size: '${raw}'`)
  return v
}

/** opts.NanoCPUs: a decimal number of CPUs as billionths. */
export function parseNanoCpus(raw: string): number {
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(raw)
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
    throw flagError('cpus', undefined, raw, `failed to parse ${raw} as a rational number`)
  }
  const frac = (m[3] ?? '').padEnd(9, '0')
  if (frac.length > 9 && /[1-9]/.test(frac.slice(9))) {
    throw flagError('cpus', undefined, raw, 'value is too precise')
  }
  const v = Number(m[2] || '0') * 1e9 + Number(frac.slice(0, 9))
  return m[1] ? -v : v
}

const ULIMITS = [
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
]

/** go-units ParseUlimit: NAME=SOFT[:HARD]. */
export function parseUlimit(raw: string): { Name: string; Soft: number; Hard: number } {
  const bad = (why: string): CliError => flagError('ulimit', undefined, raw, why)
  const eq = raw.indexOf('=')
  if (eq < 0) throw bad(`invalid ulimit argument: ${raw}`)
  const name = raw.slice(0, eq)
  if (!ULIMITS.includes(name)) throw bad(`invalid ulimit type: ${name}`)
  const parts = raw.slice(eq + 1).split(':')
  if (parts.length > 2) {
    throw bad(
      `too many limit value arguments - ${raw.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``,
    )
  }
  const nums = parts.map((p) => {
    if (!/^-?\d+$/.test(p)) throw bad(`strconv.ParseInt: parsing "${p}": invalid syntax`)
    return Number(p)
  })
  const soft = nums[0] as number
  const hard = nums[1] ?? soft
  if (soft > hard) {
    throw bad(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`)
  }
  return { Name: name, Soft: soft, Hard: hard }
}

/** opts.ValidateDevice / parseDevice: HOST[:CONTAINER][:MODE]. */
export function parseDevice(raw: string): {
  PathOnHost: string
  PathInContainer: string
  CgroupPermissions: string
} {
  const bad = (why: string): CliError => flagError('device', undefined, raw, why)
  const parts = raw.split(':')
  const validMode = (m: string): boolean => /^[rwm]{1,3}$/.test(m) && new Set(m).size === m.length
  let src = parts[0] as string
  let dst = ''
  let perm = 'rwm'
  if (parts.length === 3) {
    dst = parts[1] as string
    perm = parts[2] as string
    if (!validMode(perm)) throw bad(`bad mode specified: ${perm}`)
  } else if (parts.length === 2) {
    if (validMode(parts[1] as string)) perm = parts[1] as string
    else dst = parts[1] as string
  } else if (parts.length !== 1) {
    throw bad(`bad format for path: ${raw}`)
  }
  if (dst === '') dst = src
  if (!dst.startsWith('/')) throw bad(`${dst} is not an absolute path`)
  src = src || dst
  return { PathOnHost: src, PathInContainer: dst, CgroupPermissions: perm }
}

const NAMESPACED_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
])

/** opts.ValidateSysctl: only sysctls that live in the container's own namespaces. */
export function parseSysctl(raw: string): [string, string] {
  const eq = raw.indexOf('=')
  const k = eq >= 0 ? raw.slice(0, eq) : raw
  const ok =
    eq > 0 && (NAMESPACED_SYSCTLS.has(k) || k.startsWith('fs.mqueue.') || k.startsWith('net.'))
  if (!ok) throw flagError('sysctl', undefined, raw, `sysctl '${raw}' is not allowed`)
  return [k, raw.slice(eq + 1)]
}

/** parseSecurityOpts: a seccomp profile path is read here and sent as its compacted JSON. */
export async function parseSecurityOpts(opts: readonly string[]): Promise<string[]> {
  const out: string[] = []
  for (const opt of opts) {
    let sep = opt.indexOf('=')
    if (sep < 0 && opt !== 'no-new-privileges') sep = opt.indexOf(':')
    const k = sep >= 0 ? opt.slice(0, sep) : opt
    const v = sep >= 0 ? opt.slice(sep + 1) : ''
    if ((sep < 0 || v === '') && k !== 'no-new-privileges') {
      throw new CliError(`Invalid --security-opt: "${opt}"`)
    }
    if (k === 'seccomp' && v !== 'unconfined' && v !== 'builtin') {
      let text: string
      try {
        text = await readFile(v, 'utf8')
      } catch (e) {
        throw new CliError(`opening seccomp profile (${v}) failed: ${(e as Error).message}`)
      }
      try {
        out.push(`seccomp=${JSON.stringify(JSON.parse(text))}`)
      } catch (e) {
        throw new CliError(
          `compacting json for seccomp profile (${v}) failed: ${(e as Error).message}`,
        )
      }
      continue
    }
    out.push(opt)
  }
  return out
}

/** The Config and HostConfig fields these flags set, as the docker CLI sends them. */
export async function hostOptions(f: ParsedFlags): Promise<{
  config: Record<string, unknown>
  hostConfig: Record<string, unknown>
}> {
  const config: Record<string, unknown> = {}
  if (str(f, 'stop-signal') !== '') config.StopSignal = str(f, 'stop-signal')
  if (f.changed.has('stop-timeout')) config.StopTimeout = int(f, 'stop-timeout')

  const tmpfs: Record<string, string> = {}
  for (const t of list(f, 'tmpfs')) {
    const i = t.indexOf(':')
    tmpfs[i >= 0 ? t.slice(0, i) : t] = i >= 0 ? t.slice(i + 1) : ''
  }
  const sysctls: Record<string, string> = {}
  for (const s of list(f, 'sysctl')) {
    const [k, v] = parseSysctl(s)
    sysctls[k] = v
  }
  const cpus = str(f, 'cpus')
  const hostConfig: Record<string, unknown> = {
    CapAdd: list(f, 'cap-add'),
    CapDrop: list(f, 'cap-drop'),
    Privileged: bool(f, 'privileged'),
    ReadonlyRootfs: bool(f, 'read-only'),
    SecurityOpt: await parseSecurityOpts(list(f, 'security-opt')),
    GroupAdd: list(f, 'group-add'),
    Tmpfs: tmpfs,
    Sysctls: sysctls,
    OomScoreAdj: int(f, 'oom-score-adj'),
    ShmSize: bytesFlag(f, 'shm-size'),
    Memory: bytesFlag(f, 'memory', 'm'),
    MemoryReservation: bytesFlag(f, 'memory-reservation'),
    MemorySwap: bytesFlag(f, 'memory-swap', undefined, true),
    NanoCpus: cpus === '' ? 0 : parseNanoCpus(cpus),
    CpuShares: int(f, 'cpu-shares'),
    CpuPeriod: int(f, 'cpu-period'),
    CpuQuota: int(f, 'cpu-quota'),
    CpusetCpus: str(f, 'cpuset-cpus'),
    CpusetMems: str(f, 'cpuset-mems'),
    Devices: list(f, 'device').map(parseDevice),
    Ulimits: list(f, 'ulimit').map(parseUlimit),
  }
  if (f.changed.has('pids-limit')) hostConfig.PidsLimit = int(f, 'pids-limit')
  if (f.changed.has('init')) hostConfig.Init = bool(f, 'init')
  return { config, hostConfig }
}
