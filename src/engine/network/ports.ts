// Published ports: Docker's PortBindings and ExposedPorts checked in Docker's words, turned
// into requests (a host port, a range to pick from, or any free one), and the resolved
// mappings shown back as NetworkSettings.Ports and handed to netavark as ranges.
import { InvalidArgument } from '../errors.ts'
import { formatIPv4, parseIPv4 } from './ipv4.ts'
import type { PortBinding } from './types.ts'

export type Proto = 'tcp' | 'udp' | 'sctp'

/** One port to publish, before a host port is chosen. */
export interface PortRequest {
  proto: Proto
  containerPort: number
  /** '' for every address of the host. */
  hostIp: string
  /** The first and last host port to choose from; undefined for any free port. */
  hostPorts?: { first: number; last: number }
}

/** One published port, with its host port chosen. */
export interface PortMapping {
  proto: Proto
  containerPort: number
  hostIp: string
  hostPort: number
}

const PROTOS: readonly string[] = ['tcp', 'udp', 'sctp']

function invalidSpec(s: string): InvalidArgument {
  return new InvalidArgument(`invalid port specification: "${s}"`)
}

function portNumber(s: string, allowZero = false): number {
  if (!/^[0-9]{1,5}$/.test(s)) throw invalidSpec(s)
  const n = Number(s)
  if (n > 65535 || (n === 0 && !allowZero)) throw invalidSpec(s)
  return n
}

/** `80`, `80/tcp`, `53/udp`: a container port and its protocol (tcp when none is named). */
export function parsePortKey(key: string): { port: number; proto: Proto } {
  const slash = key.indexOf('/')
  const portText = slash < 0 ? key : key.slice(0, slash)
  const proto = (slash < 0 ? 'tcp' : key.slice(slash + 1).toLowerCase()) || 'tcp'
  if (!PROTOS.includes(proto)) throw new InvalidArgument(`invalid proto: ${proto}`)
  return { port: portNumber(portText), proto: proto as Proto }
}

/** A HostPort: '' (any), `8080`, or `8000-8010` (one free port of the range). */
export function parseHostPort(s: string): { first: number; last: number } | undefined {
  if (s === '' || s === '0') return undefined
  const dash = s.indexOf('-')
  if (dash < 0) {
    const n = portNumber(s)
    return { first: n, last: n }
  }
  const first = portNumber(s.slice(0, dash))
  const last = portNumber(s.slice(dash + 1))
  if (last < first) throw invalidSpec(s)
  return { first, last }
}

/** A HostIp: '' or an IPv4 address (0.0.0.0 means every address, as ''). */
export function parseHostIp(s: string): string {
  if (s === '' || s === '0.0.0.0') return ''
  const ip = parseIPv4(s)
  if (ip !== undefined) return formatIPv4(ip)
  if (s.includes(':')) {
    throw new InvalidArgument(`berth publishes ports on IPv4 addresses only: ${s}`)
  }
  throw new InvalidArgument(`invalid IP address: ${s}`)
}

/**
 * The ports a container asks to publish: every binding in PortBindings, and with
 * PublishAllPorts (`-P`) every exposed port that has none, on a free host port.
 */
export function portRequests(
  exposed: Record<string, object> | null | undefined,
  bindings: Record<string, PortBinding[] | null> | null | undefined,
  publishAll: boolean | undefined,
  defaultHostIp = '',
): PortRequest[] {
  const out: PortRequest[] = []
  const bound = new Set<string>()
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const { port, proto } = parsePortKey(key)
    bound.add(`${port}/${proto}`)
    const entries = list && list.length > 0 ? list : [{ HostIp: '', HostPort: '' }]
    for (const b of entries) {
      const hostPorts = parseHostPort(b.HostPort ?? '')
      const hostIp = parseHostIp(b.HostIp ?? '') || defaultHostIp
      out.push({ proto, containerPort: port, hostIp, ...(hostPorts ? { hostPorts } : {}) })
    }
  }
  if (publishAll) {
    for (const key of Object.keys(exposed ?? {})) {
      const { port, proto } = parsePortKey(key)
      if (bound.has(`${port}/${proto}`)) continue
      bound.add(`${port}/${proto}`)
      out.push({ proto, containerPort: port, hostIp: defaultHostIp })
    }
  }
  return out
}

/** True when the container asks to publish anything. */
export function publishesPorts(
  bindings: Record<string, PortBinding[] | null> | null | undefined,
  publishAll: boolean | undefined,
): boolean {
  return Object.keys(bindings ?? {}).length > 0 || publishAll === true
}

/**
 * NetworkSettings.Ports as Docker shows it: every exposed or published port, with its host
 * bindings (null when it is exposed only). Docker sorts nothing here; JSON maps keep order.
 */
export function portMap(
  exposed: Record<string, object> | null | undefined,
  mappings: PortMapping[],
): Record<string, PortBinding[] | null> {
  const out: Record<string, PortBinding[] | null> = {}
  for (const key of Object.keys(exposed ?? {})) {
    const { port, proto } = parsePortKey(key)
    out[`${port}/${proto}`] = null
  }
  for (const m of mappings) {
    const key = `${m.containerPort}/${m.proto}`
    const list = out[key] ?? []
    list.push({ HostIp: m.hostIp || '0.0.0.0', HostPort: String(m.hostPort) })
    out[key] = list
  }
  return out
}

/** netavark's port_mappings entry: consecutive ports of one protocol and address in one range. */
export interface NetavarkPortMapping {
  host_ip: string
  container_port: number
  host_port: number
  range: number
  protocol: string
}

export function netavarkPorts(mappings: PortMapping[]): NetavarkPortMapping[] {
  const sorted = [...mappings].sort(
    (a, b) =>
      a.proto.localeCompare(b.proto) ||
      a.hostIp.localeCompare(b.hostIp) ||
      a.containerPort - b.containerPort ||
      a.hostPort - b.hostPort,
  )
  const out: NetavarkPortMapping[] = []
  for (const m of sorted) {
    const prev = out[out.length - 1]
    if (
      prev &&
      prev.protocol === m.proto &&
      prev.host_ip === m.hostIp &&
      prev.container_port + prev.range === m.containerPort &&
      prev.host_port + prev.range === m.hostPort
    ) {
      prev.range++
      continue
    }
    out.push({
      host_ip: m.hostIp,
      container_port: m.containerPort,
      host_port: m.hostPort,
      range: 1,
      protocol: m.proto,
    })
  }
  return out
}
