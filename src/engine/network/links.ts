// The environment variables of Docker's legacy links (`--link NAME:ALIAS` on the default
// bridge), as dockerd 20.10 sets them: ALIAS_PORT, ALIAS_PORT_<n>_<PROTO>[_ADDR|_PORT|_PROTO],
// _START/_END for runs of consecutive ports, ALIAS_NAME and ALIAS_ENV_<var>. Pure.

interface Port {
  num: number
  proto: string
}

function parsePorts(exposed: Record<string, object>): Port[] {
  const out: Port[] = []
  for (const key of Object.keys(exposed)) {
    const [n, proto] = key.split('/')
    const num = Number(n)
    if (Number.isInteger(num) && num > 0) out.push({ num, proto: (proto || 'tcp').toLowerCase() })
  }
  // By number; on the same number tcp first (dockerd's order; the rest by name, to be stable).
  return out.sort(
    (a, b) =>
      a.num - b.num ||
      (a.proto === 'tcp' ? -1 : b.proto === 'tcp' ? 1 : a.proto.localeCompare(b.proto)),
  )
}

/**
 * The last index of the run of consecutive port numbers that starts at `index` (by number
 * only, as dockerd 20.10 counts it).
 */
function runEnd(ports: Port[], index: number): number {
  let value = (ports[index] as Port).num
  for (let i = index + 1; i < ports.length; i++) {
    if ((ports[i] as Port).num > value + 1) return i - 1
    value++
  }
  return ports.length - 1
}

export interface LinkEnvInput {
  /** The linking container's name (without the leading slash). */
  parent: string
  alias: string
  /** The linked container's address on the default bridge. */
  ip: string
  /** The linked container's Config.ExposedPorts. */
  exposedPorts: Record<string, object>
  /** The linked container's Config.Env. */
  env: string[]
}

/** One link's variables, in dockerd's order (a name may repeat: the later value wins in place). */
export function linkEnv(l: LinkEnvInput): string[] {
  const alias = l.alias.toUpperCase().replace(/-/g, '_')
  const ports = parsePorts(l.exposedPorts)
  const out: string[] = []
  const first = ports[0]
  if (first) out.push(`${alias}_PORT=${first.proto}://${l.ip}:${first.num}`)
  for (let i = 0; i < ports.length;) {
    const p = ports[i] as Port
    const j = runEnd(ports, i)
    if (j <= i + 1) {
      i++
      continue
    }
    const q = ports[j] as Port
    const pre = `${alias}_PORT_${p.num}_${p.proto.toUpperCase()}`
    out.push(
      `${pre}_START=${p.proto}://${l.ip}:${p.num}`,
      `${pre}_ADDR=${l.ip}`,
      `${pre}_PROTO=${p.proto}`,
      `${pre}_PORT_START=${p.num}`,
      `${alias}_PORT_${p.num}_${q.proto.toUpperCase()}_END=${q.proto}://${l.ip}:${q.num}`,
      `${alias}_PORT_${p.num}_${q.proto.toUpperCase()}_PORT_END=${q.num}`,
    )
    i = j + 1
  }
  for (const p of ports) {
    const pre = `${alias}_PORT_${p.num}_${p.proto.toUpperCase()}`
    out.push(
      `${pre}=${p.proto}://${l.ip}:${p.num}`,
      `${pre}_ADDR=${l.ip}`,
      `${pre}_PORT=${p.num}`,
      `${pre}_PROTO=${p.proto}`,
    )
  }
  out.push(`${alias}_NAME=/${l.parent}/${l.alias}`)
  for (const e of l.env) {
    const eq = e.indexOf('=')
    if (eq < 0) continue
    const name = e.slice(0, eq)
    // Set by builds, and not the linked service's business (dockerd leaves them out too).
    if (name === 'HOME' || name === 'PATH') continue
    out.push(`${alias}_ENV_${name}=${e.slice(eq + 1)}`)
  }
  return out
}
