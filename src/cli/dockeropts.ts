// The checks docker's flag values go through as they are parsed (the docker CLI's opts
// package and cli/command/container/opts.go), each returning what docker stores for the value
// or throwing the words docker prints after `invalid argument "VALUE" for "FLAG" flag: `.
// They use only the value itself; anything that needs a file or the daemon comes later.
import { isIP } from 'node:net'
import { parseGoInt } from './flags.ts'
import { csvFields } from './volumeopts.ts'

/** validateAttach: stdin, stdout or stderr, in any case; stored in lower case. */
export function attachValue(v: string): string {
  const s = v.toLowerCase()
  if (s === 'stdin' || s === 'stdout' || s === 'stderr') return s
  throw new Error('valid streams are STDIN, STDOUT and STDERR')
}

/** opts.ValidateEnv: NAME alone takes its value from our environment when set there. */
export function envValue(v: string): string {
  const eq = v.indexOf('=')
  const k = eq >= 0 ? v.slice(0, eq) : v
  if (k === '') throw new Error(`invalid environment variable: ${v}`)
  if (eq >= 0) return v
  const e = process.env[k]
  return e !== undefined ? `${k}=${e}` : v
}

/** opts.ValidateLabel */
export function labelValue(v: string): string {
  const eq = v.indexOf('=')
  const key = (eq >= 0 ? v.slice(0, eq) : v).replace(/^[ \t]+/, '')
  if (key === '') throw new Error(`invalid label '${v}': empty name`)
  if (/[ \t]/.test(key)) throw new Error(`label '${key}' contains whitespaces`)
  return v
}

/** Go's net.IP.String() for an address Node accepts: IPv6 in its shortest form. */
function canonicalIP(ip: string): string {
  if (isIP(ip) === 4) return ip
  const [head, tail] = ip.split('::') as [string, string | undefined]
  const parse = (s: string) => (s === '' ? [] : s.split(':'))
  let groups = parse(head)
  let rest = tail === undefined ? [] : parse(tail)
  // an embedded IPv4 tail is two groups
  const v4 = (g: string[]) => {
    const last = g[g.length - 1]
    if (last === undefined || !last.includes('.')) return g
    const b = last.split('.').map(Number) as [number, number, number, number]
    return [...g.slice(0, -1), ((b[0] << 8) | b[1]).toString(16), ((b[2] << 8) | b[3]).toString(16)]
  }
  if (tail === undefined) groups = v4(groups)
  else rest = v4(rest)
  const fill = tail === undefined ? [] : Array(8 - groups.length - rest.length).fill('0')
  const words = [...groups, ...fill, ...rest].map((g) => parseInt(g, 16))
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    const [a, b] = [words[6] as number, words[7] as number]
    return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`
  }
  // the longest run of two or more zero words becomes "::" (the first, on a tie)
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLen) [best, bestLen] = [i, j - i]
    i = j === i ? i + 1 : j
  }
  const hex = words.map((w) => w.toString(16))
  if (best < 0) return hex.join(':')
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`
}

/** opts.ValidateIPAddress: an IP address, in Go's normal form. */
export function ipValue(v: string): string {
  const ip = v.trim()
  if (isIP(ip) === 0) throw new Error(`IP address is not correctly formatted: ${v}`)
  return canonicalIP(ip)
}

const domainRe =
  /^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])))*)\.?\s*$/

/** opts.ValidateDNSSearch */
export function dnsSearchValue(v: string): string {
  const val = v.replace(/^ +| +$/g, '')
  if (val === '.') return val
  const m = /[a-zA-Z]/.test(val) ? domainRe.exec(val) : null
  if (m && (m[1] as string).length < 255) return m[1] as string
  throw new Error(`${val} is not a valid domain`)
}

/** opts.ValidateExtraHost: HOST:IP or HOST=IP (IPv6 may be in brackets), sent as HOST:IP. */
export function extraHostValue(v: string): string {
  let sep = v.indexOf('=')
  if (sep < 0) sep = v.indexOf(':')
  const k = sep >= 0 ? v.slice(0, sep) : ''
  let ip = sep >= 0 ? v.slice(sep + 1) : ''
  if (sep < 0 || k === '' || k.includes(':')) {
    throw new Error(`bad format for add-host: ${JSON.stringify(v)}`)
  }
  if (ip !== 'host-gateway') {
    if (ip.length > 2 && ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1)
    if (isIP(ip.trim()) === 0)
      throw new Error(`invalid IP address in add-host: ${JSON.stringify(ip)}`)
  }
  return `${k}:${ip}`
}

/** opts.ValidateLink: NAME or NAME:ALIAS */
export function linkValue(v: string): string {
  if (v === '') throw new Error('empty string specified for links')
  if (v.split(':').length > 2) throw new Error(`bad format for links: ${v}`)
  return v
}

/** Go's net.ParseMAC, for the formats docker users write (EUI-48/64/20-octet, : - or . form). */
export function isMAC(v: string): boolean {
  const s = v.trim()
  const octets = [6, 8, 20]
  for (const sep of [':', '-']) {
    const parts = s.split(sep)
    if (octets.includes(parts.length) && parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return true
  }
  const dots = s.split('.')
  return octets.includes(dots.length * 2) && dots.every((p) => /^[0-9a-fA-F]{4}$/.test(p))
}

/** validateDeviceCgroupRule: "TYPE MAJOR:MINOR MODE" */
export function deviceCgroupRuleValue(v: string): string {
  if (/^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$/.test(v)) return v
  throw new Error(`invalid device cgroup format '${v}'`)
}

/** opts.ValidateSysctl: only the sysctls that live in a container's own namespaces. */
export function sysctlValue(v: string): string {
  const eq = v.indexOf('=')
  const k = eq >= 0 ? v.slice(0, eq) : ''
  const allowed = new Set([
    'kernel.msgmax',
    'kernel.msgmnb',
    'kernel.msgmni',
    'kernel.sem',
    'kernel.shmall',
    'kernel.shmmax',
    'kernel.shmmni',
    'kernel.shm_rmid_forced',
  ])
  if (k !== '' && (allowed.has(k) || k.startsWith('net.') || k.startsWith('fs.mqueue.'))) return v
  throw new Error(`sysctl '${v}' is not allowed`)
}

function devicePath(v: string): [string, string] {
  const colon = v.indexOf(':')
  const k = colon >= 0 ? v.slice(0, colon) : ''
  if (colon < 0 || k === '') throw new Error(`bad format: ${v}`)
  if (!k.startsWith('/dev/')) throw new Error(`bad format for device path: ${v}`)
  return [k, v.slice(colon + 1)]
}

/** opts.ValidateWeightDevice: /dev/PATH:WEIGHT, WEIGHT 10..1000 or 0 */
export function weightDevice(v: string): { Path: string; Weight: number } {
  const [path, w] = devicePath(v)
  let weight: number
  try {
    weight = Number(parseGoInt(w, false, 16))
  } catch {
    throw new Error(`invalid weight for device: ${v}`)
  }
  if (!/^\d+$/.test(w) || (weight > 0 && (weight < 10 || weight > 1000))) {
    throw new Error(`invalid weight for device: ${v}`)
  }
  return { Path: path, Weight: weight }
}

/** opts.ValidateThrottleBpsDevice: /dev/PATH:RATE[kb|mb|gb] */
export function throttleBpsDevice(
  v: string,
  ramInBytes: (s: string) => number | undefined,
): { Path: string; Rate: number } {
  const [path, r] = devicePath(v)
  const rate = ramInBytes(r)
  if (rate === undefined || rate < 0) {
    throw new Error(
      `invalid rate for device: ${v}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb`,
    )
  }
  return { Path: path, Rate: rate }
}

/** opts.ValidateThrottleIOpsDevice: /dev/PATH:RATE */
export function throttleIOpsDevice(v: string): { Path: string; Rate: number } {
  const [path, r] = devicePath(v)
  if (!/^\d+$/.test(r) || BigInt(r) >= 1n << 64n) {
    throw new Error(
      `invalid rate for device: ${v}. The correct format is <device-path>:<number>. Number must be a positive integer`,
    )
  }
  return { Path: path, Rate: Number(r) }
}

export interface DeviceRequest {
  Driver: string
  Count: number
  DeviceIDs: string[] | null
  Capabilities: string[][] | null
  Options: Record<string, string> | null
}

function gpuCount(s: string): number {
  if (s === 'all') return -1
  if (/^[+-]?\d+$/.test(s)) return Number(s)
  throw new Error(`invalid count (${s}): value must be either "all" or an integer: invalid syntax`)
}

/** opts.GpuOpts.Set: "all", a count, or driver=,count=,device=,capabilities=,options= */
export function gpuRequest(value: string): DeviceRequest {
  const req: DeviceRequest = {
    Driver: '',
    Count: 0,
    DeviceIDs: null,
    Capabilities: null,
    Options: null,
  }
  const seen = new Set<string>()
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=')
    const key = eq >= 0 ? field.slice(0, eq) : field
    const val = eq >= 0 ? field.slice(eq + 1) : ''
    if (seen.has(key)) throw new Error(`gpu request key '${key}' can be specified only once`)
    seen.add(key)
    if (eq < 0) {
      seen.add('count')
      req.Count = gpuCount(key)
      continue
    }
    if (key === 'driver') req.Driver = val
    else if (key === 'count') req.Count = gpuCount(val)
    else if (key === 'device') req.DeviceIDs = val.split(',')
    else if (key === 'capabilities') req.Capabilities = [[...val.split(','), 'gpu']]
    else if (key === 'options') {
      let fields: string[]
      try {
        fields = csvFields(val)
      } catch (e) {
        throw new Error(`failed to read gpu options: ${(e as Error).message}`, { cause: e })
      }
      req.Options = kvMap(fields)
    } else throw new Error(`unexpected key '${key}' in '${field}'`)
  }
  if (!seen.has('count') && req.DeviceIDs === null) req.Count = 1
  req.Options ??= {}
  req.Capabilities ??= [['gpu']]
  return req
}

/** opts.ConvertKVStringsToMap */
export function kvMap(values: readonly string[]): Record<string, string> {
  const m: Record<string, string> = {}
  for (const v of values) {
    const eq = v.indexOf('=')
    m[eq >= 0 ? v.slice(0, eq) : v] = eq >= 0 ? v.slice(eq + 1) : ''
  }
  return m
}

export interface NetworkAttachment {
  Target: string
  Aliases: string[]
  DriverOpts: Record<string, string> | null
  Links: string[]
  IPv4Address: string
  IPv6Address: string
  LinkLocalIPs: string[]
  MacAddress: string
  GwPriority: number
}

/** opts.NetworkOpt.Set: NAME, or the long form name=NAME,alias=A,ip=...,driver-opt=K=V,... */
export function networkAttachment(value: string): NetworkAttachment {
  const n: NetworkAttachment = {
    Target: '',
    Aliases: [],
    DriverOpts: null,
    Links: [],
    IPv4Address: '',
    IPv6Address: '',
    LinkLocalIPs: [],
    MacAddress: '',
    GwPriority: 0,
  }
  if (!/\w+=\w+(,\w+=\w+)*/.test(value)) {
    n.Target = value
    return n
  }
  for (const field of csvFields(value)) {
    const lower = field.toLowerCase()
    const eq = lower.indexOf('=')
    const key = eq >= 0 ? lower.slice(0, eq).trim() : ''
    const val = eq >= 0 ? lower.slice(eq + 1).trim() : ''
    if (eq < 0 || lower.slice(0, eq) === '') throw new Error(`invalid field ${field}`)
    if (key === 'name') n.Target = val
    else if (key === 'alias') n.Aliases.push(val)
    else if (key === 'ip') n.IPv4Address = val
    else if (key === 'ip6') n.IPv6Address = val
    else if (key === 'mac-address') n.MacAddress = val
    else if (key === 'link-local-ip') n.LinkLocalIPs.push(val)
    else if (key === 'driver-opt') {
      const e = val.indexOf('=')
      if (e <= 0) throw new Error('invalid key value pair format in driver options')
      ;(n.DriverOpts ??= {})[val.slice(0, e).trim()] = val.slice(e + 1).trim()
    } else if (key === 'gw-priority') {
      if (!/^[+-]?\d+$/.test(val)) throw new Error(`invalid gw-priority (${val}): invalid syntax`)
      n.GwPriority = Number(val)
    } else throw new Error(`invalid field key ${key}`)
  }
  if (n.Target === '') throw new Error('network name/id is not specified')
  return n
}

/** A network mode docker treats as user-defined (anything but default, bridge, host, none, container:). */
export function isUserDefinedNetwork(mode: string): boolean {
  return !['default', 'bridge', 'host', 'none'].includes(mode) && !mode.startsWith('container:')
}
