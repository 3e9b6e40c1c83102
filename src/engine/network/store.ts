// What the bridge implementation keeps under its directory: one JSON file per network, and
// one per container with the networks it is attached to and, while it runs, what was made
// for it (namespace, addresses, ports, and the exact netavark options, handed back at
// teardown). Every write is write-temp, (fsync,) rename; the in-memory maps mirror the files.
// What only `live` changes is not synced: it means nothing after a reboot (saveContainer).
import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { readJson, writeJsonAtomic } from '../fsutil.ts'
import type { NetavarkOptions } from './netavark.ts'
import type { PortMapping } from './ports.ts'
import type { IpamConfig } from './types.ts'

export type NetworkDriver = 'bridge' | 'host' | 'null'

/** A network: Docker's fields, and for bridges the one IPv4 subnet berth gives it. */
export interface NetworkRecord {
  Name: string
  Id: string
  Created: string
  Driver: NetworkDriver
  Internal: boolean
  Attachable: boolean
  Options: Record<string, string>
  Labels: Record<string, string>
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamConfig[] }
  /** bridge, host and none: made by berth, never removed. */
  predefined: boolean
  bridge?: {
    /** The bridge device on the host. */
    device: string
    subnet: string
    gateway: string
    /** Where dynamic addresses come from (IPAM.Config's IPRange, else the subnet). */
    ipRange?: string
    /** The subnet was given by the user: static addresses (--ip) are allowed. */
    userSubnet: boolean
    /** aardvark-dns answers for the containers on it (user-defined networks). */
    dns: boolean
    mtu?: number
    /** The host address `-p PORT:CTR` binds to (com.docker.network.bridge.host_binding_ipv4). */
    hostBinding: string
    /** --ipv6: the IPv6 subnet, its gateway (on the bridge), and whether the user gave it. */
    subnet6?: string
    gateway6?: string
    userSubnet6?: boolean
  }
}

/** A container's place on one network, as configured (kept while it is stopped). */
export interface Attachment {
  networkId: string
  aliases: string[]
  /** A static address (--ip). */
  ipv4?: string
  /** A static IPv6 address (--ip6). */
  ipv6?: string
  /** A static MAC address (--mac-address). */
  mac?: string
  links: string[]
  driverOpts: Record<string, string> | null
}

/** The container's end of one network while it runs. */
export interface LiveEndpoint {
  networkId: string
  endpointId: string
  ifname: string
  ip: string
  prefix: number
  gateway: string
  mac: string
  /** On an --ipv6 network: the container's IPv6 address, prefix length and gateway. */
  ip6?: string
  prefix6?: number
  gateway6?: string
}

/** What was made for a running container; released when its process ends. */
export interface Live {
  bootId: string
  /** The namespace file (bridge and none), or absent for host and container modes. */
  netns?: string
  sandboxId: string
  endpoints: LiveEndpoint[]
  ports: PortMapping[]
  /** The netavark calls made, in order; teardown replays them in reverse. */
  setups: NetavarkOptions[]
  /**
   * 'berth': the set-ups were made by berth's own plumbing (plumbing.ts). Absent in records
   * of an older berthd, which may have made them with netavark (see Plumbing.madeByNetavark).
   */
  plumbing?: 'berth'
}

export type Mode =
  { kind: 'bridge' } | { kind: 'none' } | { kind: 'host' } | { kind: 'container'; ref: string }

export interface ContainerRecord {
  id: string
  name: string
  mode: Mode
  /** Networks in the order joined; the first one gives the default route and the ports. */
  attachments: Attachment[]
  /** The network named at create when it did not exist: looked up again at start. */
  pending?: string
  live?: Live
}

export class NetworkFiles {
  readonly networks = new Map<string, NetworkRecord>()
  readonly containers = new Map<string, ContainerRecord>()

  constructor(readonly root: string) {}

  get netnsDir(): string {
    return join(this.root, 'netns')
  }

  async load(): Promise<void> {
    for (const d of ['networks', 'containers', 'netns', 'netavark']) {
      await mkdir(join(this.root, d), { recursive: true, mode: 0o711 })
    }
    for (const f of await readdir(join(this.root, 'networks'))) {
      if (!f.endsWith('.json')) continue
      const n = await readJson<NetworkRecord>(join(this.root, 'networks', f))
      if (n) this.networks.set(n.Id, n)
    }
    for (const f of await readdir(join(this.root, 'containers'))) {
      if (!f.endsWith('.json')) continue
      const c = await readJson<ContainerRecord>(join(this.root, 'containers', f))
      if (c) this.containers.set(c.id, c)
    }
  }

  async saveNetwork(n: NetworkRecord): Promise<void> {
    await writeJsonAtomic(join(this.root, 'networks', `${n.Id}.json`), n)
    this.networks.set(n.Id, n)
  }

  async deleteNetwork(id: string): Promise<void> {
    await rm(join(this.root, 'networks', `${id}.json`), { force: true })
    this.networks.delete(id)
  }

  /**
   * `live: true`: the write changes only `live`, which describes this boot's kernel objects: it
   * is replaced whole (a daemon killed at any point leaves a whole record) but not synced, since
   * after a power loss none of what it names exists any more and reconcile drops it by its boot
   * ID. The record must exist already (durably written), so a lost write leaves an older whole
   * one, never a torn new file.
   */
  async saveContainer(
    c: ContainerRecord,
    { live = false }: { live?: boolean } = {},
  ): Promise<void> {
    const durable = !live || !this.containers.has(c.id)
    await writeJsonAtomic(join(this.root, 'containers', `${c.id}.json`), c, { durable })
    this.containers.set(c.id, c)
  }

  async deleteContainer(id: string): Promise<void> {
    await rm(join(this.root, 'containers', `${id}.json`), { force: true })
    this.containers.delete(id)
  }
}
