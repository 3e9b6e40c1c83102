// The run/create flags that confine a container or limit its resources, and their translation
// into HostConfig fields as the docker CLI sends them (cli/command/container/opts.go).
import { sysctlValue } from './dockeropts.ts'
import { readFile } from 'node:fs/promises'
import { CliError, bool, int, list, str } from './command.ts'
import type { FlagDef, ParsedFlags } from './flags.ts'
import { ULIMIT_NAMES } from '../lib/ulimits.ts'
import { ramInBytes } from '../lib/units.ts'

export { ramInBytes }

export const hostFlags: FlagDef[] = [
  { long: 'cap-add', kind: 'list', desc: 'Add Linux capabilities' },
  { long: 'cap-drop', kind: 'list', desc: 'Drop Linux capabilities' },
  { long: 'cpu-period', kind: 'int', desc: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { long: 'cpu-quota', kind: 'int', desc: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { long: 'cpu-shares', short: 'c', kind: 'int', desc: 'CPU shares (relative weight)' },
  {
    long: 'cpus',
    kind: 'string',
    typeName: 'decimal',
    desc: 'Number of CPUs',
    value: cpusValue,
    minAPI: '1.25',
  },
  { long: 'cpuset-cpus', kind: 'string', desc: 'CPUs in which to allow execution (0-3, 0,1)' },
  { long: 'cpuset-mems', kind: 'string', desc: 'MEMs in which to allow execution (0-3, 0,1)' },
  { long: 'device', kind: 'list', desc: 'Add a host device to the container' },
  { long: 'group-add', kind: 'list', desc: 'Add additional groups to join' },
  {
    long: 'init',
    kind: 'bool',
    desc: 'Run an init inside the container that forwards signals and reaps processes',
    minAPI: '1.25',
  },
  {
    long: 'memory',
    short: 'm',
    kind: 'string',
    typeName: 'bytes',
    desc: 'Memory limit',
    value: sizeValue,
  },
  {
    long: 'memory-reservation',
    kind: 'string',
    typeName: 'bytes',
    desc: 'Memory soft limit',
    value: sizeValue,
  },
  {
    long: 'memory-swap',
    kind: 'string',
    typeName: 'bytes',
    desc: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
    value: (v) => (v === '-1' ? v : sizeValue(v)),
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
  {
    long: 'shm-size',
    kind: 'string',
    typeName: 'bytes',
    desc: 'Size of /dev/shm',
    value: sizeValue,
  },
  { long: 'stop-signal', kind: 'string', desc: 'Signal to stop the container' },
  {
    long: 'stop-timeout',
    kind: 'int',
    desc: 'Timeout (in seconds) to stop a container',
    minAPI: '1.25',
  },
  {
    long: 'sysctl',
    kind: 'list',
    typeName: 'map',
    defText: 'map[]',
    desc: 'Sysctl options',
    value: sysctlValue,
  },
  { long: 'tmpfs', kind: 'list', desc: 'Mount a tmpfs directory' },
  {
    long: 'ulimit',
    kind: 'list',
    typeName: 'ulimit',
    defText: '[]',
    desc: 'Ulimit options',
    value: (v) => (ulimit(v), v),
  },
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

/** MemBytes.Set: a go-units size; the value stays as typed. */
export function sizeValue(raw: string): string {
  if (ramInBytes(raw) === undefined) throw new Error(`invalid size: '${raw}'`)
  return raw
}

/** opts.ParseCPUs: a decimal number of CPUs as billionths, or docker's words. */
export function nanoCpus(raw: string): number {
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(raw)
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
    throw new Error(`failed to parse ${raw} as a rational number`)
  }
  const frac = (m[3] ?? '').padEnd(9, '0')
  if (frac.length > 9 && /[1-9]/.test(frac.slice(9))) throw new Error('value is too precise')
  const v = Number(m[2] || '0') * 1e9 + Number(frac.slice(0, 9))
  return m[1] ? -v : v
}

function cpusValue(raw: string): string {
  nanoCpus(raw)
  return raw
}

/** opts.NanoCPUs for --cpus, with the flag's error. */
export function parseNanoCpus(raw: string): number {
  try {
    return nanoCpus(raw)
  } catch (e) {
    throw flagError('cpus', undefined, raw, (e as Error).message)
  }
}

/** go-units ParseUlimit: NAME=SOFT[:HARD], or its words. */
export function ulimit(raw: string): { Name: string; Soft: number; Hard: number } {
  const eq = raw.indexOf('=')
  if (eq < 0) throw new Error(`invalid ulimit argument: ${raw}`)
  const name = raw.slice(0, eq)
  if (!ULIMIT_NAMES.includes(name)) throw new Error(`invalid ulimit type: ${name}`)
  const parts = raw.slice(eq + 1).split(':')
  if (parts.length > 2) {
    throw new Error(
      `too many limit value arguments - ${raw.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``,
    )
  }
  const nums = parts.map((p) => {
    if (!/^-?\d+$/.test(p)) throw new Error(`strconv.ParseInt: parsing "${p}": invalid syntax`)
    return Number(p)
  })
  const soft = nums[0] as number
  const hard = nums[1] ?? soft
  if (soft > hard) {
    throw new Error(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`)
  }
  return { Name: name, Soft: soft, Hard: hard }
}

/** go-units ParseUlimit with the --ulimit flag's error. */
export function parseUlimit(raw: string): { Name: string; Soft: number; Hard: number } {
  try {
    return ulimit(raw)
  } catch (e) {
    throw flagError('ulimit', undefined, raw, (e as Error).message)
  }
}

/** UlimitOpt.GetList: one per name (the last given wins), sorted by name. */
export function ulimitList(
  raws: readonly string[],
): Array<{ Name: string; Soft: number; Hard: number }> {
  const byName = new Map(raws.map((r) => ulimit(r)).map((u) => [u.Name, u]))
  return [...byName.values()].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0))
}

const validDeviceMode = (m: string): boolean =>
  /^[rwm]{1,3}$/.test(m) && new Set(m).size === m.length

/** path.Clean */
function cleanPath(p: string): string {
  const abs = p.startsWith('/')
  const out: string[] = []
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop()
      else if (!abs) out.push('..')
    } else out.push(part)
  }
  const s = (abs ? '/' : '') + out.join('/')
  return s === '' ? '.' : s
}

/**
 * validateLinuxPath then parseLinuxDevice: HOST[:CONTAINER][:MODE] for a Linux daemon; throws
 * docker's words (run and create print them with their help line).
 */
export function parseDevice(raw: string): {
  PathOnHost: string
  PathInContainer: string
  CgroupPermissions: string
} {
  const parts = raw.split(':')
  if (parts.length > 3 || parts[0] === '') throw new CliError(`bad format for path: ${raw}`)
  let val = raw
  let containerPath: string
  if (parts.length === 1) {
    containerPath = parts[0] as string
    val = cleanPath(containerPath)
  } else if (parts.length === 2) {
    if (validDeviceMode(parts[1] as string)) {
      containerPath = parts[0] as string
      val = `${cleanPath(containerPath)}:${parts[1]}`
    } else {
      containerPath = parts[1] as string
      val = `${parts[0]}:${cleanPath(containerPath)}`
    }
  } else {
    containerPath = parts[1] as string
    if (!validDeviceMode(parts[2] as string)) {
      throw new CliError(`bad mode specified: ${parts[2]}`)
    }
  }
  if (!containerPath.startsWith('/')) throw new CliError(`${containerPath} is not an absolute path`)
  const arr = val.split(':')
  let perms = 'rwm'
  let dst = ''
  if (arr.length === 3) perms = arr[2] as string
  if (arr.length >= 2) {
    if (validDeviceMode(arr[1] as string)) perms = arr[1] as string
    else dst = arr[1] as string
  }
  const src = arr[0] as string
  return { PathOnHost: src, PathInContainer: dst || src, CgroupPermissions: perms }
}

/** cdi.IsQualifiedName: vendor.com/class=name, which --device passes to the CDI driver. */
export function isCDIName(device: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9._-]*(\.[a-zA-Z0-9._-]+)*\/[a-zA-Z][a-zA-Z0-9_-]*=[a-zA-Z0-9][a-zA-Z0-9_.:-]*$/.test(
    device,
  )
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

/** client.normalizeCapabilities: CAP_ prefixed, upper case, unique, sorted; null when none. */
export function normalizeCapabilities(caps: readonly string[]): string[] | null {
  const norm = caps.map((c) => {
    const u = c.toUpperCase()
    return u === 'ALL' || u.startsWith('CAP_') ? u : `CAP_${u}`
  })
  const out = [...new Set(norm)].sort()
  return out.length > 0 ? out : null
}

/** The Config and HostConfig fields these flags set, as the docker CLI sends them. */
export async function hostOptions(f: ParsedFlags): Promise<{
  config: Record<string, unknown>
  hostConfig: Record<string, unknown>
  /** CDI device names given to --device, which docker sends as a device request */
  cdiDevices: string[]
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
  // systempaths=unconfined is the CLI's own: it empties the masked and read-only path lists
  let securityOpt = await parseSecurityOpts(list(f, 'security-opt'))
  let maskedPaths: string[] | null = null
  let readonlyPaths: string[] | null = null
  if (securityOpt.includes('systempaths=unconfined')) {
    securityOpt = securityOpt.filter((o) => o !== 'systempaths=unconfined')
    maskedPaths = []
    readonlyPaths = []
  }
  const devices = list(f, 'device')
  const cdiDevices = devices.filter(isCDIName)
  const cpus = str(f, 'cpus')
  const some = (v: string[]) => (v.length > 0 ? v : null)
  const hostConfig: Record<string, unknown> = {
    CapAdd: normalizeCapabilities(list(f, 'cap-add')),
    CapDrop: normalizeCapabilities(list(f, 'cap-drop')),
    GroupAdd: some(list(f, 'group-add')),
    OomScoreAdj: int(f, 'oom-score-adj'),
    Privileged: bool(f, 'privileged'),
    ReadonlyRootfs: bool(f, 'read-only'),
    SecurityOpt: some(securityOpt),
    ShmSize: bytesFlag(f, 'shm-size'),
    CpuShares: int(f, 'cpu-shares'),
    Memory: bytesFlag(f, 'memory', 'm'),
    NanoCpus: cpus === '' ? 0 : parseNanoCpus(cpus),
    CpuPeriod: int(f, 'cpu-period'),
    CpuQuota: int(f, 'cpu-quota'),
    CpusetCpus: str(f, 'cpuset-cpus'),
    CpusetMems: str(f, 'cpuset-mems'),
    Devices: devices.filter((d) => !isCDIName(d)).map(parseDevice),
    MemoryReservation: bytesFlag(f, 'memory-reservation'),
    MemorySwap: bytesFlag(f, 'memory-swap', undefined, true),
    PidsLimit: int(f, 'pids-limit'),
    Ulimits: ulimitList(list(f, 'ulimit')),
    MaskedPaths: maskedPaths,
    ReadonlyPaths: readonlyPaths,
  }
  if (Object.keys(tmpfs).length > 0) hostConfig.Tmpfs = tmpfs
  if (Object.keys(sysctls).length > 0) hostConfig.Sysctls = sysctls
  if (f.changed.has('init')) hostConfig.Init = bool(f, 'init')
  return { config, hostConfig, cdiDevices }
}
