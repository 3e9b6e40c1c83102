// The networks berth knows: Docker's predefined `bridge`, `host` and `none`, and user-defined
// bridge networks with names, IDs, one IPv4 subnet each (chosen clear of the host's routes
// and of each other when not given), labels and options. Lookups follow moby's rules (full
// ID, name, unique ID prefix); errors are Docker's words.
import { randomBytes } from 'node:crypto'
import { Conflict, Forbidden, Internal, InvalidArgument, NotFound } from '../errors.ts'
import { listFilter, pruneFilter, type FilterSubject } from './filters.ts'
import {
  contains,
  defaultGateway,
  formatCidr,
  formatIPv4,
  hostRoutes,
  overlaps,
  parseIPv4,
  requireCidr,
  type Cidr,
} from './ipv4.ts'
import {
  contains6,
  formatCidr6,
  formatIPv6,
  isV6Text,
  overlaps6,
  parseIPv6,
  randomUla64,
  requireCidr6,
  type Cidr6,
} from './ipv6.ts'
import type { ContainerRecord, LiveEndpoint, NetworkFiles, NetworkRecord } from './store.ts'
import type { IpamConfig, NetworkCreateRequest, NetworkFilters, NetworkResource } from './types.ts'
import type { EventSink } from '../events/types.ts'

/** Names Docker reserves for its predefined networks. */
const PREDEFINED = ['bridge', 'host', 'none']
/** The pool the default bridge's subnet comes from, then user networks' (a /24 each). */
const DEFAULT_POOL: Cidr[] = [requireCidr('10.66.0.0/16'), requireCidr('10.65.0.0/16')]
const USER_POOL = {
  first: requireCidr('10.67.0.0/16').network,
  last: requireCidr('10.79.255.0/24').network,
}

const BRIDGE_NAME = 'com.docker.network.bridge.name'
const MTU = 'com.docker.network.driver.mtu'
const HOST_BINDING = 'com.docker.network.bridge.host_binding_ipv4'

export function randomId(): string {
  return randomBytes(32).toString('hex')
}

function nowIso(): string {
  return new Date().toISOString()
}

export class NetworkCatalog {
  constructor(
    private readonly files: NetworkFiles,
    private readonly opts: {
      defaultBridge?: string
      defaultSubnet?: string
      defaultSubnet6?: string
      events?: EventSink
    },
  ) {}

  /** Tells a network's event as dockerd does: its ID, name and driver, then `extra`. */
  event(action: string, n: NetworkRecord, extra: Record<string, string> = {}): void {
    this.opts.events?.emit({
      Type: 'network',
      Action: action,
      Actor: { ID: n.Id, Attributes: { ...extra, name: n.Name, type: n.Driver } },
    })
  }

  async ensurePredefined(): Promise<void> {
    const byName = (name: string) =>
      [...this.files.networks.values()].find((n) => n.predefined && n.Name === name)
    if (!byName('bridge')) {
      const device = this.opts.defaultBridge ?? 'berth0'
      const subnet = this.opts.defaultSubnet
        ? requireCidr(this.opts.defaultSubnet)
        : await this.freeSubnet(DEFAULT_POOL.map((c) => [c.network, c.prefix]))
      const gateway = formatIPv4(defaultGateway(subnet))
      await this.files.saveNetwork({
        Name: 'bridge',
        Id: randomId(),
        Created: nowIso(),
        Driver: 'bridge',
        Internal: false,
        Attachable: false,
        Options: {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
          [HOST_BINDING]: '0.0.0.0',
          [BRIDGE_NAME]: device,
          [MTU]: '1500',
        },
        Labels: {},
        IPAM: {
          Driver: 'default',
          Options: null,
          Config: [{ Subnet: formatCidr(subnet), Gateway: gateway }],
        },
        predefined: true,
        bridge: {
          device,
          subnet: formatCidr(subnet),
          gateway,
          userSubnet: false,
          dns: false,
          hostBinding: '',
        },
      })
    }
    await this.defaultIpv6(byName('bridge'))
    for (const [name, driver] of [
      ['host', 'host'],
      ['none', 'null'],
    ] as const) {
      if (byName(name)) continue
      await this.files.saveNetwork({
        Name: name,
        Id: randomId(),
        Created: nowIso(),
        Driver: driver,
        Internal: false,
        Attachable: false,
        Options: {},
        Labels: {},
        IPAM: { Driver: 'default', Options: null, Config: [] },
        predefined: true,
      })
    }
  }

  /**
   * dockerd's --ipv6/--fixed-cidr-v6 on the default bridge, applied at start: the record gets
   * (or loses) its IPv6 subnet, unless running containers hold addresses on it (then it stays
   * as it is until they are gone and the daemon starts again).
   */
  private async defaultIpv6(n: NetworkRecord | undefined): Promise<void> {
    const b = n?.bridge
    if (!n || !b) return
    const want = this.opts.defaultSubnet6
    if (
      want === undefined
        ? b.subnet6 === undefined
        : b.subnet6 !== undefined && (want === '' || want === b.subnet6)
    ) {
      return
    }
    if (this.liveEndpoints(n.Id).length > 0) return
    const v4 = n.IPAM.Config.filter((c) => !isV6Text(c.Subnet ?? ''))
    if (want === undefined) {
      delete b.subnet6
      delete b.gateway6
      delete b.userSubnet6
      n.IPAM.Config = v4
    } else {
      const subnet = want === '' ? randomUla64() : requireCidr6(want)
      const gateway = formatIPv6(subnet.network + 1n)
      b.subnet6 = formatCidr6(subnet)
      b.gateway6 = gateway
      b.userSubnet6 = false
      n.IPAM.Config = [...v4, { Subnet: b.subnet6, Gateway: gateway }]
    }
    await this.files.saveNetwork(n)
  }

  /** The first candidate subnet that overlaps no network of berth's and no route of the host. */
  private async freeSubnet(candidates: [number, number][]): Promise<Cidr> {
    const taken: Cidr[] = [...(await hostRoutes())]
    for (const n of this.files.networks.values()) {
      if (n.bridge) taken.push(requireCidr(n.bridge.subnet))
    }
    for (const [network, prefix] of candidates) {
      const c = { network, prefix }
      if (!taken.some((t) => overlaps(t, c))) return c
    }
    throw new Forbidden(
      'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
    )
  }

  private *userCandidates(): Generator<[number, number]> {
    for (let n = USER_POOL.first; n <= USER_POOL.last; n += 256) yield [n, 24]
  }

  /** A network by full ID, name, or unique ID prefix, as moby's FindNetwork. */
  find(ref: string): NetworkRecord {
    const all = [...this.files.networks.values()]
    const exact = all.find((n) => n.Id === ref) ?? all.find((n) => n.Name === ref)
    if (exact) return exact
    const byPrefix = ref === '' ? [] : all.filter((n) => n.Id.startsWith(ref))
    if (byPrefix.length === 1) return byPrefix[0] as NetworkRecord
    if (byPrefix.length > 1) {
      throw new InvalidArgument(
        `network ${ref} is ambiguous (${byPrefix.length} matches found based on ID prefix)`,
      )
    }
    throw new NotFound(`network ${ref} not found`)
  }

  predefined(name: string): NetworkRecord {
    const n = [...this.files.networks.values()].find((x) => x.predefined && x.Name === name)
    if (!n) throw new Internal(`the predefined network ${name} is missing`)
    return n
  }

  liveEndpoints(networkId: string): { rec: ContainerRecord; ep: LiveEndpoint }[] {
    const out: { rec: ContainerRecord; ep: LiveEndpoint }[] = []
    for (const rec of this.files.containers.values()) {
      for (const ep of rec.live?.endpoints ?? []) {
        if (ep.networkId === networkId) out.push({ rec, ep })
      }
    }
    return out
  }

  inUse(n: NetworkRecord): boolean {
    if (n.Driver === 'bridge') return this.liveEndpoints(n.Id).length > 0
    const kind = n.Driver === 'host' ? 'host' : 'none'
    return [...this.files.containers.values()].some((r) => r.live && r.mode.kind === kind)
  }

  resource(n: NetworkRecord, withContainers: boolean): NetworkResource {
    const containers: NetworkResource['Containers'] = {}
    if (withContainers && n.Driver === 'bridge') {
      for (const { rec, ep } of this.liveEndpoints(n.Id)) {
        containers[rec.id] = {
          Name: rec.name,
          EndpointID: ep.endpointId,
          MacAddress: ep.mac,
          IPv4Address: `${ep.ip}/${ep.prefix}`,
          IPv6Address: ep.ip6 ? `${ep.ip6}/${ep.prefix6 ?? 64}` : '',
        }
      }
    }
    return {
      Name: n.Name,
      Id: n.Id,
      Created: n.Created,
      Scope: 'local',
      Driver: n.Driver,
      EnableIPv6: n.bridge?.subnet6 !== undefined,
      IPAM: n.IPAM,
      Internal: n.Internal,
      Attachable: n.Attachable,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: containers,
      Options: n.Options,
      Labels: n.Labels,
    }
  }

  private subject(n: NetworkRecord): FilterSubject {
    return {
      id: n.Id,
      name: n.Name,
      driver: n.Driver,
      labels: n.Labels,
      predefined: n.predefined,
      inUse: this.inUse(n),
      created: n.Created,
    }
  }

  list(f: NetworkFilters): NetworkResource[] {
    const match = listFilter(f)
    return [...this.files.networks.values()]
      .filter((n) => match(this.subject(n)))
      .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0))
      .map((n) => this.resource(n, false))
  }

  async create(req: NetworkCreateRequest): Promise<{ Id: string; Warning: string }> {
    const name = req.Name ?? ''
    if (name === '' || /[/\s]/.test(name)) throw new InvalidArgument(`invalid name: ${name}`)
    const driver = req.Driver || 'bridge'
    if (PREDEFINED.includes(name) || name === 'default') {
      throw new Forbidden(`operation is not permitted on predefined ${name} network `)
    }
    if (driver === 'host' || driver === 'null') {
      throw new Forbidden(`only one instance of "${driver}" network is allowed`)
    }
    if (driver !== 'bridge') throw new NotFound(`plugin "${driver}" not found`)
    if ([...this.files.networks.values()].some((n) => n.Name === name)) {
      throw new Conflict(`network with name ${name} already exists`)
    }
    if (req.ConfigOnly || req.ConfigFrom?.Network) {
      throw new InvalidArgument('berth does not support config-only networks')
    }
    const ipamDriver = req.IPAM?.Driver || 'default'
    if (ipamDriver !== 'default') throw new NotFound(`plugin "${ipamDriver}" not found`)
    const all = req.IPAM?.Config ?? []
    // One IPv4 and (with --ipv6) one IPv6 subnet; the IPv4 one is chosen when not given.
    const configs = all.filter((c) => !isV6Text(c.Subnet ?? c.Gateway ?? c.IPRange ?? ''))
    const configs6 = all.filter((c) => isV6Text(c.Subnet ?? c.Gateway ?? c.IPRange ?? ''))
    if (configs.length > 1) throw new InvalidArgument('berth networks have one IPv4 subnet')
    if (configs6.length > 1) throw new InvalidArgument('berth networks have one IPv6 subnet')
    if (configs6.length > 0 && req.EnableIPv6 !== true) {
      throw new InvalidArgument(
        `an IPv6 subnet (${configs6[0]?.Subnet ?? ''}) needs IPv6 enabled on the network (--ipv6)`,
      )
    }
    const cfg = configs[0] ?? {}
    const v6 = req.EnableIPv6 === true ? this.ipv6Config(configs6[0] ?? {}) : undefined
    const options = { ...(req.Options ?? {}) }
    let subnet: Cidr
    if (cfg.Subnet) {
      subnet = requireCidr(cfg.Subnet)
      for (const n of this.files.networks.values()) {
        if (n.bridge && overlaps(requireCidr(n.bridge.subnet), subnet)) {
          throw new Forbidden('Pool overlaps with other one on this address space')
        }
      }
    } else {
      if (cfg.IPRange || cfg.Gateway) {
        throw new InvalidArgument(
          'invalid pool request: a subnet is needed for an IP range or a gateway',
        )
      }
      subnet = await this.freeSubnet([...this.userCandidates()])
    }
    let ipRange: string | undefined
    if (cfg.IPRange) {
      const r = requireCidr(cfg.IPRange, 'ip-range')
      if (r.prefix < subnet.prefix || !contains(subnet, r.network)) {
        throw new InvalidArgument(
          `invalid ip-range ${cfg.IPRange}: it is not within the subnet ${formatCidr(subnet)}`,
        )
      }
      ipRange = formatCidr(r)
    }
    let gateway = defaultGateway(subnet)
    if (cfg.Gateway) {
      const g = parseIPv4(cfg.Gateway)
      if (g === undefined) throw new InvalidArgument(`invalid gateway address ${cfg.Gateway}`)
      if (!contains(subnet, g)) {
        throw new InvalidArgument(
          `failed to allocate gateway (${cfg.Gateway}): Requested address is out of range`,
        )
      }
      gateway = g
    }
    const id = randomId()
    const device = options[BRIDGE_NAME] || `berth${id.slice(0, 10)}`
    if (device.length > 15 || !/^[A-Za-z0-9_.-]+$/.test(device)) {
      throw new InvalidArgument(`invalid bridge name: ${device}`)
    }
    if ([...this.files.networks.values()].some((n) => n.bridge?.device === device)) {
      throw new Conflict(`bridge name ${device} is used by another network`)
    }
    const mtuText = options[MTU] ?? options.mtu
    let mtu: number | undefined
    if (mtuText !== undefined) {
      mtu = Number(mtuText)
      if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
        throw new InvalidArgument(`invalid MTU: ${mtuText}`)
    }
    let hostBinding = ''
    if (options[HOST_BINDING] && options[HOST_BINDING] !== '0.0.0.0') {
      const v = parseIPv4(options[HOST_BINDING])
      if (v === undefined)
        throw new InvalidArgument(`invalid host binding address: ${options[HOST_BINDING]}`)
      hostBinding = formatIPv4(v)
    }
    // As dockerd: a gateway shows when it was asked for or the subnet was chosen for the user.
    const ipamConfig = {
      Subnet: formatCidr(subnet),
      ...(ipRange ? { IPRange: ipRange } : {}),
      ...(cfg.Gateway || !cfg.Subnet ? { Gateway: formatIPv4(gateway) } : {}),
    }
    const rec: NetworkRecord = {
      Name: name,
      Id: id,
      Created: nowIso(),
      Driver: 'bridge',
      Internal: req.Internal === true,
      Attachable: req.Attachable === true,
      Options: options,
      Labels: { ...(req.Labels ?? {}) },
      IPAM: {
        Driver: 'default',
        Options: req.IPAM?.Options ?? {},
        Config: v6 ? [ipamConfig, v6.ipam] : [ipamConfig],
      },
      predefined: false,
      bridge: {
        device,
        subnet: formatCidr(subnet),
        gateway: formatIPv4(gateway),
        ...(ipRange ? { ipRange } : {}),
        userSubnet: cfg.Subnet !== undefined && cfg.Subnet !== '',
        dns: true,
        ...(mtu ? { mtu } : {}),
        hostBinding,
        ...(v6 ? { subnet6: v6.subnet, gateway6: v6.gateway, userSubnet6: v6.user } : {}),
      },
    }
    await this.files.saveNetwork(rec)
    this.event('create', rec)
    return { Id: id, Warning: '' }
  }

  /** --ipv6's subnet (a random unique local /64 when not given, as Docker 27+) and gateway. */
  private ipv6Config(cfg: IpamConfig): {
    subnet: string
    gateway: string
    user: boolean
    ipam: IpamConfig
  } {
    if (cfg.IPRange) throw new InvalidArgument('berth does not support --ip-range for IPv6')
    let subnet: Cidr6
    if (cfg.Subnet) {
      subnet = requireCidr6(cfg.Subnet)
      if (subnet.prefix > 126) {
        throw new InvalidArgument(`invalid subnet ${cfg.Subnet}: a bridge needs a /126 or wider`)
      }
      for (const n of this.files.networks.values()) {
        if (n.bridge?.subnet6 && overlaps6(requireCidr6(n.bridge.subnet6), subnet)) {
          throw new Forbidden('Pool overlaps with other one on this address space')
        }
      }
    } else {
      if (cfg.Gateway) {
        throw new InvalidArgument(
          'invalid pool request: a subnet is needed for an IP range or a gateway',
        )
      }
      subnet = randomUla64()
    }
    let gateway = subnet.network + 1n
    if (cfg.Gateway) {
      const g = parseIPv6(cfg.Gateway)
      if (g === undefined) throw new InvalidArgument(`invalid gateway address ${cfg.Gateway}`)
      if (!contains6(subnet, g)) {
        throw new InvalidArgument(
          `failed to allocate gateway (${cfg.Gateway}): Requested address is out of range`,
        )
      }
      gateway = g
    }
    // As dockerd 20.10: the gateway shows when it was asked for or the subnet was chosen.
    const ipam: IpamConfig = {
      Subnet: formatCidr6(subnet),
      ...(cfg.Gateway || !cfg.Subnet ? { Gateway: formatIPv6(gateway) } : {}),
    }
    return { subnet: formatCidr6(subnet), gateway: formatIPv6(gateway), user: !!cfg.Subnet, ipam }
  }

  async remove(ref: string): Promise<void> {
    const n = this.find(ref)
    if (n.predefined)
      throw new Forbidden(`${n.Name} is a pre-defined network and cannot be removed`)
    if (this.inUse(n)) {
      throw new Forbidden(
        `error while removing network: network ${n.Name} id ${n.Id} has active endpoints`,
      )
    }
    await this.files.deleteNetwork(n.Id)
    this.event('destroy', n)
  }

  async prune(f: NetworkFilters): Promise<{ NetworksDeleted: string[] }> {
    const match = pruneFilter(f)
    const deleted: string[] = []
    for (const n of [...this.files.networks.values()]) {
      if (n.predefined || this.inUse(n) || !match(this.subject(n))) continue
      await this.files.deleteNetwork(n.Id)
      this.event('destroy', n)
      deleted.push(n.Name)
    }
    // dockerd's prune event has no ID and always reclaims 0 bytes.
    this.opts.events?.emit({
      Type: 'network',
      Action: 'prune',
      Actor: { ID: '', Attributes: { reclaimed: '0' } },
    })
    return { NetworksDeleted: deleted.sort() }
  }
}
