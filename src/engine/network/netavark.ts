// One container's setup on one network, in netavark's option format (berth drove netavark 1.4
// with it until it did the plumbing itself, plumbing.ts): records of running containers keep
// it, and teardown is handed the same options.
import type { NetavarkPortMapping } from './ports.ts'

/** netavark's Network: one bridge network as netavark sees it. */
export interface NetavarkNetwork {
  name: string
  id: string
  driver: 'bridge'
  network_interface: string
  subnets: { subnet: string; gateway?: string }[]
  ipv6_enabled: boolean
  internal: boolean
  dns_enabled: boolean
  options?: Record<string, string>
}

/** netavark's PerNetworkOptions. */
export interface NetavarkAttachment {
  interface_name: string
  static_ips: string[]
  aliases?: string[]
  static_mac?: string
}

/** netavark's NetworkOptions: what one setup or teardown call is about. */
export interface NetavarkOptions {
  container_id: string
  container_name: string
  networks: Record<string, NetavarkAttachment>
  network_info: Record<string, NetavarkNetwork>
  port_mappings?: NetavarkPortMapping[]
  /** Upstream servers aardvark-dns asks for this container's names it does not know. */
  dns_servers?: string[]
}

export const DEFAULT_AARDVARK = '/usr/lib/podman/aardvark-dns'
export const DEFAULT_NETAVARK = '/usr/lib/podman/netavark'
