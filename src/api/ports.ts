// The container list's Ports (GET /containers/json) from inspect's NetworkSettings.Ports.
import type { PortBinding } from '../engine/network/types.ts'

/** One entry of a container list's Ports. */
export interface PortSummary {
  IP?: string
  PrivatePort: number
  PublicPort?: number
  Type: string
}

/** One entry per binding; an exposed port without one has no host side. */
export function portSummaries(ports: Record<string, PortBinding[] | null>): PortSummary[] {
  const out: PortSummary[] = []
  for (const [key, list] of Object.entries(ports)) {
    const slash = key.indexOf('/')
    const port = Number(slash < 0 ? key : key.slice(0, slash))
    const proto = slash < 0 ? 'tcp' : key.slice(slash + 1)
    if (!list || list.length === 0) {
      out.push({ PrivatePort: port, Type: proto })
      continue
    }
    for (const b of list) {
      out.push({ IP: b.HostIp, PrivatePort: port, PublicPort: Number(b.HostPort), Type: proto })
    }
  }
  return out
}
