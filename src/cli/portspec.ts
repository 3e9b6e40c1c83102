// -p/--publish and --expose as the docker CLI turns them into ExposedPorts and PortBindings
// (go-connections/nat's ParsePortSpecs, and run's convertToStandardNotation and --expose
// handling). The daemon decides whether it can publish them.
import { isIP } from 'node:net'

export interface PortBinding {
  HostIp: string
  HostPort: string
}

/** strconv.ParseUint(s, 10, 16), undefined when it is not a port number */
function port16(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined
  const n = Number(s)
  return n <= 65535 ? n : undefined
}

/** nat.ParsePortRange: "80" or "8000-8010" */
export function parsePortRange(ports: string): [number, number] {
  if (ports === '') throw new Error('empty string specified for ports')
  const parts = ports.split('-')
  const start = port16(parts[0] as string)
  const end = parts.length === 1 ? start : port16(parts[1] as string)
  if (start === undefined || end === undefined) {
    const bad = start === undefined ? parts[0] : parts[1]
    const why = /^\d+$/.test(bad ?? '') ? 'value out of range' : 'invalid syntax'
    throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(bad)}: ${why}`)
  }
  if (end < start) throw new Error(`invalid range specified for port: ${ports}`)
  return [start, end]
}

/** nat.SplitProtoPort: "80/udp" to ["udp", "80"]; no protocol is tcp */
export function splitProtoPort(raw: string): [string, string] {
  const parts = raw.split('/')
  if (raw === '' || parts[0] === '') return ['', '']
  if (parts.length === 1) return ['tcp', raw]
  if (parts[1] === '') return ['tcp', parts[0] as string]
  return [parts[1] as string, parts[0] as string]
}

function splitParts(raw: string): [string, string, string] {
  const parts = raw.split(':')
  const n = parts.length
  const container = parts[n - 1] as string
  if (n === 1) return ['', '', container]
  if (n === 2) return ['', parts[0] as string, container]
  if (n === 3) return [parts[0] as string, parts[1] as string, container]
  return [parts.slice(0, n - 2).join(':'), parts[n - 2] as string, container]
}

/** nat.ParsePortSpec: [IP:][HOSTPORT:]CONTAINERPORT[/PROTO], ranges allowed */
export function parsePortSpec(raw: string): Array<{ port: string; binding: PortBinding }> {
  const [rawIP, hostPort, rawContainerPort] = splitParts(raw)
  let ip = rawIP
  const [proto, containerPort] = splitProtoPort(rawContainerPort)
  if (ip.startsWith('[')) {
    if (!ip.endsWith(']'))
      throw new Error(`invalid IP address ${ip}: address ${ip}: missing ']' in address`)
    ip = ip.slice(1, -1)
  }
  if (ip !== '' && isIP(ip) === 0) throw new Error(`invalid IP address: ${ip}`)
  if (containerPort === '') throw new Error(`no port specified: ${raw}<empty>`)
  let start: number
  let end: number
  try {
    ;[start, end] = parsePortRange(containerPort)
  } catch {
    throw new Error(`invalid containerPort: ${containerPort}`)
  }
  let hostStart = 0
  let hostEnd = 0
  if (hostPort !== '') {
    try {
      ;[hostStart, hostEnd] = parsePortRange(hostPort)
    } catch {
      throw new Error(`invalid hostPort: ${hostPort}`)
    }
  }
  if (hostPort !== '' && end - start !== hostEnd - hostStart && end !== start) {
    throw new Error(
      `invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`,
    )
  }
  if (!['tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) {
    throw new Error(`invalid proto: ${proto}`)
  }
  const out: Array<{ port: string; binding: PortBinding }> = []
  for (let i = 0; i <= end - start; i++) {
    let hp = hostPort === '' ? '' : String(hostStart + i)
    if (start === end && hostStart !== hostEnd) hp = `${hp}-${hostEnd}`
    out.push({ port: `${start + i}/${proto.toLowerCase()}`, binding: { HostIp: ip, HostPort: hp } })
  }
  return out
}

/** run's convertToStandardNotation: the long form published=,target=,protocol= */
function standardNotation(publish: string): string {
  if (!publish.includes('=')) return publish
  const params: Record<string, string> = { protocol: 'tcp' }
  for (const param of publish.split(',')) {
    const eq = param.indexOf('=')
    if (eq <= 0) {
      throw new Error(`invalid publish opts format (should be name=value but got '${param}')`)
    }
    params[param.slice(0, eq)] = param.slice(eq + 1)
  }
  return `${params.published ?? ''}:${params.target ?? ''}/${params.protocol}`
}

/** ExposedPorts and PortBindings for -p values and --expose values, as docker builds them. */
export function portSettings(
  publish: readonly string[],
  expose: readonly string[],
): { exposed: Record<string, Record<string, never>>; bindings: Record<string, PortBinding[]> } {
  const exposed: Record<string, Record<string, never>> = {}
  const bindings: Record<string, PortBinding[]> = {}
  for (const p of publish.map(standardNotation)) {
    for (const { port, binding } of parsePortSpec(p)) {
      exposed[port] ??= {}
      ;(bindings[port] ??= []).push(binding)
    }
  }
  for (const e of expose) {
    if (e.includes(':')) throw new Error(`invalid port format for --expose: ${e}`)
    const [proto, port] = splitProtoPort(e)
    let start: number
    let end: number
    try {
      ;[start, end] = parsePortRange(port)
    } catch (err) {
      throw new Error(`invalid range format for --expose: ${e}, error: ${(err as Error).message}`, {
        cause: err,
      })
    }
    for (let i = start; i <= end; i++) exposed[`${i}/${proto}`] ??= {}
  }
  return { exposed, bindings }
}
