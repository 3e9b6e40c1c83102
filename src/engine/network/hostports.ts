// Host ports for published container ports: which are held by berth's containers, which a
// host process already listens on (a bind test, as Docker's proxy would fail), and a free one
// for `-p CTR` and `-P`, taken in order from the kernel's ephemeral range as Docker does.
import dgram from 'node:dgram'
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import { Internal, errnoCode } from '../errors.ts'
import type { PortMapping, PortRequest, Proto } from './ports.ts'

/** Why a host port cannot be had: a Docker-worded reason, without the endpoint prefix. */
export class PortUnavailable extends Error {}

/** Tries to bind the port the way a listener would; the error code when it cannot. */
export type PortProbe = (proto: Proto, hostIp: string, port: number) => Promise<string | undefined>

export const probePort: PortProbe = async (proto, hostIp, port) => {
  const host = hostIp || '0.0.0.0'
  if (proto === 'sctp') return undefined
  if (proto === 'udp') {
    return new Promise((resolve) => {
      const s = dgram.createSocket('udp4')
      s.once('error', (err) => {
        s.close()
        resolve(errnoCode(err) ?? 'EADDRINUSE')
      })
      s.bind({ port, address: host, exclusive: true }, () => s.close(() => resolve(undefined)))
    })
  }
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', (err) => resolve(errnoCode(err) ?? 'EADDRINUSE'))
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(undefined)))
  })
}

/** The kernel's ephemeral port range, where Docker picks free host ports. */
export async function ephemeralRange(): Promise<{ first: number; last: number }> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '')
  const [a, b] = text.trim().split(/\s+/).map(Number)
  if (a && b && a <= b) return { first: a, last: b }
  return { first: 32768, last: 60999 }
}

function clash(a: string, b: string): boolean {
  return a === '' || b === '' || a === b
}

export class HostPorts {
  /** proto → port → the holders (address and owner). */
  private readonly held = new Map<string, { hostIp: string; owner: string }[]>()
  private readonly next = new Map<Proto, number>()

  constructor(
    private readonly range: { first: number; last: number },
    private readonly probe: PortProbe = probePort,
  ) {}

  /** Records mappings as held by owner (a daemon restart re-reads them from its records). */
  hold(owner: string, mappings: PortMapping[]): void {
    for (const m of mappings) {
      const k = `${m.proto}/${m.hostPort}`
      const list = this.held.get(k) ?? []
      list.push({ hostIp: m.hostIp, owner })
      this.held.set(k, list)
    }
  }

  release(owner: string): void {
    for (const [k, list] of this.held) {
      const rest = list.filter((h) => h.owner !== owner)
      if (rest.length === 0) this.held.delete(k)
      else this.held.set(k, rest)
    }
  }

  private heldBy(proto: Proto, hostIp: string, port: number): boolean {
    return (this.held.get(`${proto}/${port}`) ?? []).some((h) => clash(h.hostIp, hostIp))
  }

  /**
   * Chooses a host port for each request and holds them for owner; all or none. Throws
   * PortUnavailable in Docker's words when a named port is taken.
   */
  async allocate(owner: string, requests: PortRequest[], target: string): Promise<PortMapping[]> {
    const out: PortMapping[] = []
    try {
      for (const r of requests) {
        const port = r.hostPorts
          ? await this.pickIn(r, r.hostPorts.first, r.hostPorts.last, target)
          : await this.pickFree(r)
        const m = {
          proto: r.proto,
          containerPort: r.containerPort,
          hostIp: r.hostIp,
          hostPort: port,
        }
        this.hold(owner, [m])
        out.push(m)
      }
    } catch (err) {
      this.release(owner)
      throw err
    }
    return out
  }

  private async pickIn(
    r: PortRequest,
    first: number,
    last: number,
    target: string,
  ): Promise<number> {
    let lastError: PortUnavailable | undefined
    for (let p = first; p <= last; p++) {
      const addr = `${r.hostIp || '0.0.0.0'}:${p}`
      if (this.heldBy(r.proto, r.hostIp, p)) {
        lastError = new PortUnavailable(`Bind for ${addr} failed: port is already allocated`)
        continue
      }
      const code = await this.probe(r.proto, r.hostIp, p)
      if (code === undefined) return p
      lastError = new PortUnavailable(
        `failed to bind host port for ${addr}:${target}:${r.containerPort}/${r.proto}: ${bindReason(code)}`,
      )
    }
    throw lastError ?? new Internal('empty host port range')
  }

  private async pickFree(r: PortRequest): Promise<number> {
    const { first, last } = this.range
    const size = last - first + 1
    let p = this.next.get(r.proto) ?? first
    for (let i = 0; i < size; i++, p = p >= last ? first : p + 1) {
      if (this.heldBy(r.proto, r.hostIp, p)) continue
      if ((await this.probe(r.proto, r.hostIp, p)) !== undefined) continue
      this.next.set(r.proto, p >= last ? first : p + 1)
      return p
    }
    throw new PortUnavailable('all ports are allocated')
  }
}

function bindReason(code: string): string {
  if (code === 'EADDRINUSE') return 'address already in use'
  if (code === 'EADDRNOTAVAIL') return 'cannot assign requested address'
  if (code === 'EACCES') return 'permission denied'
  return code
}
