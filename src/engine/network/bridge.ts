// The bridge implementation of the network seam: Docker's default `bridge` network, user-
// defined bridge networks with names, `host`, `none` and `container:NAME`, and published
// ports. berth keeps the networks, the addresses (IPAM) and the host ports; netavark does the
// plumbing (bridge, veth, addresses, routes, NAT and port rules) and starts aardvark-dns for
// names on user-defined networks. Each container's namespace is a file under the data root,
// so a killed daemon leaves running containers their network and published ports.
import { readFile, readdir } from 'node:fs/promises'
import { hostname as osHostname } from 'node:os'
import { join } from 'node:path'
import { Conflict, Forbidden, Internal, InvalidArgument, NotFound } from '../errors.ts'
import {
  contains,
  formatIPv4,
  lastOf,
  macForIPv4,
  parseIPv4,
  parseMac,
  requireCidr,
} from './ipv4.ts'
import {
  hostGatewayIp,
  hostNetworkHosts,
  hostsFile,
  parseExtraHosts,
  readHostFile,
  resolvConf,
  writeEtc,
  type HostEntry,
} from './etc.ts'
import { NetworkCatalog, randomId } from './catalog.ts'
import { networkSettings } from './settings.ts'
import {
  HostPorts,
  PortUnavailable,
  ephemeralRange,
  probePort,
  type PortProbe,
} from './hostports.ts'
import {
  DEFAULT_AARDVARK,
  DEFAULT_NETAVARK,
  Netavark,
  type NetavarkConfig,
  type NetavarkNetwork,
  type NetavarkOptions,
} from './netavark.ts'
import type { Logger } from '../logger.ts'
import { LocalNetworks } from './modes.ts'
import { bootId, createNetns, isNetnsMounted, removeNetns } from './netns.ts'
import { netavarkPorts, portRequests, publishesPorts } from './ports.ts'
import {
  NetworkFiles,
  type Attachment,
  type ContainerRecord,
  type Live,
  type LiveEndpoint,
  type Mode,
  type NetworkRecord,
} from './store.ts'
import type {
  EndpointSettings,
  NetworkApi,
  NetworkContainers,
  NetworkManager,
  NetworkPeers,
  NetworkPlan,
  NetworkSettings,
  NetworkedContainer,
  PreparedNetwork,
} from './types.ts'

export interface BridgeOptions {
  /** Where networks, container records, namespaces and netavark's config live. */
  root: string
  containers: NetworkContainers
  /** How `container:NAME` finds the namespace it joins (its process's). */
  peers: NetworkPeers
  logger: Logger
  /** The host's name, for `--network host` (os.hostname() unless a test says otherwise). */
  hostname?: () => string
  netavark?: Partial<NetavarkConfig>
  /** The default bridge's device (berth0). */
  defaultBridge?: string
  /** The default bridge's subnet; by default the first of berth's pool the host does not use. */
  defaultSubnet?: string
  /** The host's files a container's own are made from. */
  hostFiles?: { resolvConf: string; hosts: string }
  /** How a host port is tested before it is taken (tests replace it). */
  probe?: PortProbe
}

/** Serialises the steps that change what berth holds (addresses, ports, records). */
class Serial {
  private tail: Promise<unknown> = Promise.resolve()
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn)
    this.tail = p.catch(() => undefined)
    return p
  }
}

/** Docker's NetworkMode, with the network it names when it names one. */
function modeOf(networkMode: string | undefined): { mode: Mode; network?: string } {
  const m = networkMode || 'default'
  if (m === 'default' || m === 'bridge') return { mode: { kind: 'bridge' }, network: 'bridge' }
  if (m === 'host') return { mode: { kind: 'host' } }
  if (m === 'none') return { mode: { kind: 'none' } }
  if (m.startsWith('container:')) {
    const ref = m.slice('container:'.length)
    if (ref === '') throw new InvalidArgument(`invalid network mode: ${m}`)
    return { mode: { kind: 'container', ref } }
  }
  return { mode: { kind: 'bridge' }, network: m }
}

export class BridgeNetworking {
  readonly manager: NetworkManager
  readonly api: NetworkApi
  private readonly files: NetworkFiles
  private readonly catalog: NetworkCatalog
  private readonly netavark: Netavark
  private readonly serial = new Serial()
  private ports!: HostPorts
  private boot = ''
  private unavailable: Error | undefined
  private readonly hostFiles: { resolvConf: string; hosts: string }
  /** host, none and container:NAME need nothing made on the host: today's modes do them. */
  private readonly local: LocalNetworks

  constructor(private readonly opts: BridgeOptions) {
    this.local = new LocalNetworks({ peers: opts.peers })
    this.files = new NetworkFiles(opts.root)
    this.catalog = new NetworkCatalog(this.files, opts)
    this.netavark = new Netavark({
      binary: opts.netavark?.binary ?? DEFAULT_NETAVARK,
      aardvark: opts.netavark?.aardvark ?? DEFAULT_AARDVARK,
      configDir: opts.netavark?.configDir ?? join(opts.root, 'netavark'),
      lockFile: opts.netavark?.lockFile ?? join(opts.root, 'netavark.lock'),
    })
    this.hostFiles = opts.hostFiles ?? { resolvConf: '/etc/resolv.conf', hosts: '/etc/hosts' }
    this.manager = {
      plan: (c) => this.serial.run(() => this.plan(c)),
      prepare: (c) => this.serial.run(() => this.prepare(c)),
      release: (c) => this.serial.run(() => this.release(c.id)),
      remove: (c) =>
        this.serial.run(async () => {
          await this.release(c.id)
          await this.files.deleteContainer(c.id)
        }),
      reconcile: (running, all) => this.serial.run(() => this.reconcile(running, all)),
      settings: async (c, running) => this.settings(c, running),
      // `docker info`'s Network plugins: this bridge, and host and none (null) from LocalNetworks.
      drivers: () => ['bridge', ...this.local.drivers()],
    }
    this.api = {
      create: (req) => this.serial.run(() => this.catalog.create(req)),
      list: async (f) => this.catalog.list(f ?? {}),
      inspect: async (ref) => this.catalog.resource(this.catalog.find(ref), true),
      remove: (ref) => this.serial.run(() => this.catalog.remove(ref)),
      connect: (ref, ctr, ep) => this.connect(ref, ctr, ep ?? {}),
      disconnect: (ref, ctr, force) => this.disconnect(ref, ctr, force === true),
      prune: (f) => this.serial.run(() => this.catalog.prune(f ?? {})),
    }
  }

  /** Loads the records, makes the predefined networks once, and re-holds running ports. */
  async init(): Promise<void> {
    await this.files.load()
    this.boot = await bootId()
    this.ports = new HostPorts(await ephemeralRange(), this.opts.probe ?? probePort)
    await this.netavark.check().catch((err: unknown) => {
      this.unavailable = err instanceof Error ? err : new Error(String(err))
    })
    await this.catalog.ensurePredefined()
    for (const rec of this.files.containers.values()) {
      if (rec.live && rec.live.bootId === this.boot) this.ports.hold(rec.id, rec.live.ports)
    }
  }

  /** Checks one attachment's settings against its network, in Docker's words. */
  private checkEndpoint(
    n: NetworkRecord,
    ep: Partial<EndpointSettings>,
    links: string[],
  ): Attachment {
    if (!n.bridge) throw new Internal(`network ${n.Name} is not a bridge`)
    const aliases = (ep.Aliases ?? []).filter((a) => a !== '')
    if (n.predefined && aliases.length > 0) {
      throw new InvalidArgument(
        'network-scoped alias is supported only for containers in user defined networks',
      )
    }
    const att: Attachment = { networkId: n.Id, aliases, links, driverOpts: ep.DriverOpts ?? null }
    const ip = ep.IPAMConfig?.IPv4Address
    if (ip) {
      if (n.predefined) {
        throw new InvalidArgument(
          'user specified IP address is supported on user defined networks only',
        )
      }
      if (!n.bridge.userSubnet) {
        throw new InvalidArgument(
          'user specified IP address is supported only when connecting to networks with user configured subnets',
        )
      }
      const v = parseIPv4(ip)
      if (v === undefined) throw new InvalidArgument(`invalid IPv4 address: ${ip}`)
      if (!contains(requireCidr(n.bridge.subnet), v)) {
        throw new InvalidArgument(
          `Invalid address ${ip}: It does not belong to any of this network's subnets`,
        )
      }
      att.ipv4 = formatIPv4(v)
    }
    if (ep.IPAMConfig?.IPv6Address) {
      throw new InvalidArgument(`berth networks are IPv4 only: ${ep.IPAMConfig.IPv6Address}`)
    }
    if (ep.MacAddress) {
      const mac = parseMac(ep.MacAddress)
      if (mac === undefined) throw new InvalidArgument(`invalid MAC address: ${ep.MacAddress}`)
      att.mac = mac
    }
    return att
  }

  /** The network an EndpointsConfig key names; the CLI says `default` for the default one. */
  private endpointNetwork(key: string): NetworkRecord {
    return this.catalog.find(key === 'default' ? 'bridge' : key)
  }

  /** The record a container's create makes: its mode and networks, all checked. */
  private recordFor(
    c: NetworkedContainer,
    opts: { atCreate?: boolean } = {},
  ): { rec: ContainerRecord; warnings: string[] } {
    const hc = c.hostConfig
    const { mode, network } = modeOf(hc.NetworkMode)
    const warnings: string[] = []
    const ports = publishesPorts(hc.PortBindings, hc.PublishAllPorts)
    // Parse the ports even where they are discarded, so a bad one is refused everywhere.
    portRequests(c.exposedPorts, hc.PortBindings, hc.PublishAllPorts)
    parseExtraHosts(hc.ExtraHosts)
    for (const d of hc.Dns ?? []) {
      if (parseIPv4(d) === undefined && !d.includes(':'))
        throw new InvalidArgument(`invalid IP address: ${d}`)
    }
    const rec: ContainerRecord = { id: c.id, name: c.name, mode, attachments: [] }
    const endpointKeys = Object.keys(c.endpoints ?? {})
    if (mode.kind === 'host') {
      if (ports) warnings.push('Published ports are discarded when using host network mode')
    } else if (mode.kind === 'container') {
      if (ports) {
        throw new InvalidArgument(
          'conflicting options: port publishing and the container type network mode',
        )
      }
    }
    if (mode.kind !== 'bridge') {
      for (const k of endpointKeys) {
        const n = this.endpointNetwork(k)
        const own = mode.kind === 'host' ? 'host' : mode.kind === 'none' ? 'none' : ''
        if (n.Name !== own) {
          throw new InvalidArgument(
            `Container cannot be connected to network endpoints: ${endpointKeys.join(', ')}`,
          )
        }
      }
      return { rec, warnings }
    }
    let primary: NetworkRecord
    try {
      primary = this.catalog.find(network as string)
    } catch (err) {
      // dockerd looks a named network up at start: create succeeds, start says not found.
      if (!opts.atCreate || !(err instanceof NotFound) || network === 'bridge') throw err
      return { rec: { ...rec, pending: network as string }, warnings }
    }
    if (primary.Driver === 'host')
      return this.recordFor({ ...c, hostConfig: { ...hc, NetworkMode: 'host' } })
    if (primary.Driver === 'null')
      return this.recordFor({ ...c, hostConfig: { ...hc, NetworkMode: 'none' } })
    const links = hc.Links ?? []
    const epFor = (n: NetworkRecord): Partial<EndpointSettings> => {
      const key = endpointKeys.find(
        (k) =>
          k === n.Name ||
          k === n.Id ||
          (k === 'default' && n.Name === 'bridge') ||
          (k.length >= 12 && n.Id.startsWith(k)),
      )
      return key ? (c.endpoints[key] ?? {}) : {}
    }
    rec.attachments.push(
      this.checkEndpoint(primary, epFor(primary), primary.predefined ? [] : links),
    )
    for (const k of endpointKeys) {
      const n = this.endpointNetwork(k)
      if (n.Id === primary.Id) continue
      if (n.Driver !== 'bridge') {
        throw new InvalidArgument(
          `Container cannot be connected to network endpoints: ${endpointKeys.join(', ')}`,
        )
      }
      rec.attachments.push(this.checkEndpoint(n, c.endpoints[k] ?? {}, n.predefined ? [] : links))
    }
    return { rec, warnings }
  }

  private async plan(asked: NetworkedContainer): Promise<NetworkPlan> {
    const { rec, warnings } = this.recordFor(asked, { atCreate: true })
    // With the host's network a container also takes the host's name, as Docker does.
    const hostname =
      asked.hostname ||
      (rec.mode.kind === 'host' ? (this.opts.hostname ?? osHostname)() : asked.id.slice(0, 12))
    const c = { ...asked, hostname }
    await this.files.saveContainer(rec)
    await this.writeEtcFor(c, rec)
    return { warnings, hostname }
  }

  /** The record of a container, made from its config when it has none (made before berth had one). */
  private async recordOf(c: NetworkedContainer): Promise<ContainerRecord> {
    const rec = this.files.containers.get(c.id)
    if (rec?.pending !== undefined) {
      // The network it names did not exist at create; it must now (NotFound otherwise).
      const made = this.recordFor(c).rec
      await this.files.saveContainer(made)
      return made
    }
    if (rec) {
      if (rec.name !== c.name) {
        rec.name = c.name
        await this.files.saveContainer(rec)
      }
      return rec
    }
    const made = this.recordFor(c).rec
    await this.files.saveContainer(made)
    return made
  }

  // ---- start ----

  private async prepare(c: NetworkedContainer): Promise<PreparedNetwork> {
    const rec = await this.recordOf(c)
    if (rec.live) await this.release(rec.id)
    if (rec.mode.kind === 'bridge') return this.prepareBridge(c, rec)
    // host, none and container:NAME: the runtime's own namespace, the host's, or the other
    // container's process's; nothing on the host to make or to take down afterwards.
    const networkMode = rec.mode.kind === 'container' ? `container:${rec.mode.ref}` : rec.mode.kind
    const prepared = await this.local.prepare({
      ...c,
      hostConfig: { ...c.hostConfig, NetworkMode: networkMode },
    })
    rec.live = { bootId: this.boot, sandboxId: randomId(), endpoints: [], ports: [], setups: [] }
    await this.files.saveContainer(rec)
    await this.writeEtcFor(c, rec)
    return prepared
  }

  private netnsPath(id: string): string {
    return join(this.files.netnsDir, id)
  }

  /** The addresses in use on a network (running containers' endpoints). */
  private usedAddresses(networkId: string): Set<number> {
    const used = new Set<number>()
    for (const { ep } of this.catalog.liveEndpoints(networkId)) used.add(parseIPv4(ep.ip) as number)
    return used
  }

  /** An address for an attachment: its static one if free, else the lowest free one. */
  private allocateAddress(n: NetworkRecord, att: Attachment, taken: Set<number>): number {
    const b = n.bridge as NonNullable<NetworkRecord['bridge']>
    const subnet = requireCidr(b.subnet)
    const gw = parseIPv4(b.gateway) as number
    if (att.ipv4) {
      const ip = parseIPv4(att.ipv4) as number
      if (taken.has(ip) || ip === gw) throw new Forbidden('Address already in use')
      return ip
    }
    const range = b.ipRange ? requireCidr(b.ipRange) : subnet
    const last = lastOf(range)
    for (let ip = range.network; ip <= last; ip++) {
      if (ip === subnet.network || ip === lastOf(subnet) || ip === gw || taken.has(ip)) continue
      return ip
    }
    throw new Forbidden(
      `no available IPv4 addresses on this network's address pools: ${n.Name} (${n.Id})`,
    )
  }

  private netavarkNetwork(n: NetworkRecord): NetavarkNetwork {
    const b = n.bridge as NonNullable<NetworkRecord['bridge']>
    const options: Record<string, string> = { isolate: 'true' }
    if (b.mtu) options.mtu = String(b.mtu)
    return {
      name: n.Name,
      id: n.Id,
      driver: 'bridge',
      network_interface: b.device,
      subnets: [{ subnet: b.subnet, gateway: b.gateway }],
      ipv6_enabled: false,
      internal: n.Internal,
      dns_enabled: b.dns,
      options,
    }
  }

  /** Makes the endpoint of one attachment (address, MAC, IDs) and the netavark call for it. */
  private endpointFor(
    c: NetworkedContainer,
    n: NetworkRecord,
    att: Attachment,
    ifname: string,
    taken: Set<number>,
  ): { ep: LiveEndpoint; setup: NetavarkOptions } {
    const b = n.bridge as NonNullable<NetworkRecord['bridge']>
    const ip = this.allocateAddress(n, att, taken)
    taken.add(ip)
    const mac = att.mac ?? macForIPv4(ip)
    const ep: LiveEndpoint = {
      networkId: n.Id,
      endpointId: randomId(),
      ifname,
      ip: formatIPv4(ip),
      prefix: requireCidr(b.subnet).prefix,
      gateway: n.Internal ? '' : b.gateway,
      mac,
    }
    const setup: NetavarkOptions = {
      container_id: c.id,
      container_name: c.name,
      networks: {
        [n.Name]: {
          interface_name: ifname,
          static_ips: [ep.ip],
          static_mac: mac,
          ...(b.dns ? { aliases: [...att.aliases, c.id.slice(0, 12)] } : {}),
        },
      },
      network_info: { [n.Name]: this.netavarkNetwork(n) },
    }
    const dns = c.hostConfig.Dns ?? []
    if (b.dns && dns.length > 0) setup.dns_servers = dns
    return { ep, setup }
  }

  private async prepareBridge(
    c: NetworkedContainer,
    rec: ContainerRecord,
  ): Promise<PreparedNetwork> {
    if (this.unavailable) throw new Internal(this.unavailable.message)
    const networks = rec.attachments.map((a) => {
      const n = this.files.networks.get(a.networkId)
      if (!n) throw new NotFound(`network ${a.networkId} not found`)
      return n
    })
    const netns = this.netnsPath(c.id)
    const live: Live = {
      bootId: this.boot,
      netns,
      sandboxId: randomId(),
      endpoints: [],
      ports: [],
      setups: [],
    }
    networks.forEach((n, i) => {
      const att = rec.attachments[i] as Attachment
      const { ep, setup } = this.endpointFor(c, n, att, `eth${i}`, this.usedAddresses(n.Id))
      live.endpoints.push(ep)
      live.setups.push(setup)
    })
    const primary = networks[0]
    const primaryEp = live.endpoints[0]
    if (primary && primaryEp && !primary.Internal) {
      const hc = c.hostConfig
      const requests = portRequests(
        c.exposedPorts,
        hc.PortBindings,
        hc.PublishAllPorts,
        primary.bridge?.hostBinding ?? '',
      )
      try {
        live.ports = await this.ports.allocate(c.id, requests, primaryEp.ip)
      } catch (err) {
        if (err instanceof PortUnavailable) {
          throw new Internal(
            `driver failed programming external connectivity on endpoint ${c.name} (${primaryEp.endpointId}): ${err.message}`,
          )
        }
        throw err
      }
      if (live.ports.length > 0)
        (live.setups[0] as NetavarkOptions).port_mappings = netavarkPorts(live.ports)
    }
    // The record says what is about to be made before it is made, so that a daemon killed
    // half way leaves enough for reconcile to take it all down.
    const done: NetavarkOptions[] = []
    rec.live = { ...live, setups: [] }
    await this.files.saveContainer(rec)
    try {
      await createNetns(netns)
      for (const setup of live.setups) {
        rec.live.setups = [...done, setup]
        await this.files.saveContainer(rec)
        await this.netavark.setup(netns, setup)
        done.push(setup)
      }
      rec.live = live
      await this.files.saveContainer(rec)
      await this.writeEtcFor(c, rec)
    } catch (err) {
      await this.release(rec.id)
      throw err
    }
    return { netnsPath: netns, etcDir: c.dir }
  }

  // ---- /etc files ----

  private async writeEtcFor(c: NetworkedContainer, rec: ContainerRecord): Promise<void> {
    const hc = c.hostConfig
    const hostname = `${c.hostname}\n`
    if (rec.mode.kind === 'container') return
    const hostResolv = await readHostFile(this.hostFiles.resolvConf)
    if (rec.mode.kind === 'host') {
      const overridden =
        (hc.Dns?.length ?? 0) + (hc.DnsSearch?.length ?? 0) + (hc.DnsOptions?.length ?? 0) > 0
      await writeEtc(c.dir, {
        hostname,
        hosts: hostNetworkHosts(
          await readHostFile(this.hostFiles.hosts),
          parseExtraHosts(hc.ExtraHosts, '127.0.0.1'),
        ),
        // The host's resolvers work as they are in its own namespace, loopback ones included.
        resolvConf: overridden
          ? resolvConf({
              hostText: hostResolv,
              dns: hc.Dns,
              dnsSearch: hc.DnsSearch,
              dnsOptions: hc.DnsOptions,
            })
          : hostResolv,
      })
      return
    }
    const ep = rec.live?.endpoints[0]
    const primary = rec.attachments[0]
      ? this.files.networks.get(rec.attachments[0].networkId)
      : undefined
    const gateway = primary?.bridge ? parseIPv4(primary.bridge.gateway) : undefined
    const embedded = ep && primary?.bridge?.dns ? primary.bridge.gateway : undefined
    await writeEtc(c.dir, {
      hostname,
      hosts: hostsFile({
        extraHosts: parseExtraHosts(hc.ExtraHosts, hostGatewayIp(gateway)),
        links: await this.linkEntries(c, rec),
        ...(ep ? { ip: ep.ip } : {}),
        hostname: c.hostname,
        domainname: c.domainname,
      }),
      resolvConf: resolvConf({
        hostText: hostResolv,
        dns: hc.Dns,
        dnsSearch: hc.DnsSearch,
        dnsOptions: hc.DnsOptions,
        ...(embedded ? { embedded } : {}),
      }),
    })
  }

  /**
   * `--link NAME:ALIAS` entries for /etc/hosts: the linked container's address on a network
   * both share, under the alias, its short ID and its name (Docker's order). On the default
   * bridge the linked container must be running there, as Docker requires; on a user network
   * a link to a container that is not (yet) reachable is left out, as Docker resolves those late.
   */
  private async linkEntries(c: NetworkedContainer, rec: ContainerRecord): Promise<HostEntry[]> {
    const out: HostEntry[] = []
    const mine = rec.live?.endpoints ?? []
    const primary = rec.attachments[0]
      ? this.files.networks.get(rec.attachments[0].networkId)
      : undefined
    if (mine.length === 0 || !primary) return out
    for (const link of c.hostConfig.Links ?? []) {
      const { name, alias } = parseLink(link)
      const { container: target, running } = await this.opts.containers.get(name)
      const theirs = running ? (this.files.containers.get(target.id)?.live?.endpoints ?? []) : []
      let shared: LiveEndpoint | undefined
      if (primary.predefined) {
        if (!running) {
          throw new Conflict(
            `Cannot link to a non running container: /${target.name} AS /${c.name}/${alias}`,
          )
        }
        shared = theirs.find((e) => e.networkId === primary.Id)
        if (!shared) {
          throw new InvalidArgument(
            `Cannot link to /${target.name}, as it does not belong to the default network`,
          )
        }
      } else {
        shared = theirs.find((e) => mine.some((m) => m.networkId === e.networkId))
        if (!shared) continue
      }
      const short = target.id.slice(0, 12)
      out.push({
        ip: shared.ip,
        names: alias === target.name ? [alias, short] : [alias, short, target.name],
      })
    }
    return out
  }

  // ---- stop, remove, daemon start ----

  /**
   * The teardown options for one setup of container id. netavark 1.4 removes a network's
   * port-forwarding chain (NETAVARK-DN-*) only in the teardown of a container with published
   * ports that leaves the network empty; when the last to leave has none and the chain is
   * there, a mapping that matches no rule makes it remove the chain all the same.
   */
  private async lastOut(id: string, setup: NetavarkOptions): Promise<NetavarkOptions> {
    if (setup.port_mappings?.length) return setup
    const nets = Object.values(setup.network_info)
    const last = nets.every((n) =>
      this.catalog.liveEndpoints(n.id).every(({ rec }) => rec.id === id),
    )
    if (!last) return setup
    const chains = await Promise.all(nets.map((n) => this.netavark.portChainExists(n.name)))
    if (!chains.some((c) => c)) return setup
    return {
      ...setup,
      port_mappings: [{ host_ip: '', container_port: 1, host_port: 1, range: 1, protocol: 'tcp' }],
    }
  }

  /** Takes down what prepare made; each step is tolerant of it being gone already. */
  private async release(id: string): Promise<void> {
    const rec = this.files.containers.get(id)
    const live = rec?.live
    if (!rec || !live) return
    if (live.bootId === this.boot && live.setups.length > 0) {
      let netns = live.netns
      let setups = [...live.setups].reverse()
      let scratch: string | undefined
      if (!netns || !(await isNetnsMounted(netns))) {
        // The namespace went. Where its network's bridge is gone too, so is everything the
        // kernel held for it (the host's network was reset, as by a reboot): tearing down
        // there would only make netavark's chains again. Elsewhere netavark still removes the
        // rules and aardvark entries when given an empty namespace.
        const present = await netDevices()
        setups = setups.filter((s) =>
          Object.values(s.network_info).every((n) => present.has(n.network_interface)),
        )
        if (setups.length > 0) {
          scratch = join(this.files.netnsDir, `scratch-${id}`)
          await createNetns(scratch)
          netns = scratch
        }
      }
      for (const setup of setups) {
        await this.netavark
          .teardown(netns as string, await this.lastOut(id, setup))
          .catch((err: unknown) => {
            this.opts.logger.warn('network teardown failed', { id, error: String(err) })
          })
      }
      if (scratch) await removeNetns(scratch)
    }
    if (live.netns) await removeNetns(live.netns)
    this.ports.release(id)
    delete rec.live
    await this.files.saveContainer(rec)
  }

  private async reconcile(running: NetworkedContainer[], all: NetworkedContainer[]): Promise<void> {
    const runningIds = new Set(running.map((c) => c.id))
    const allIds = new Set(all.map((c) => c.id))
    for (const rec of [...this.files.containers.values()]) {
      if (!allIds.has(rec.id)) {
        await this.release(rec.id)
        await this.files.deleteContainer(rec.id)
        continue
      }
      const live = rec.live
      if (!live) continue
      if (live.bootId !== this.boot) {
        // The host rebooted: the kernel holds nothing of it any more, only the file is left.
        if (live.netns) await removeNetns(live.netns)
        delete rec.live
        await this.files.saveContainer(rec)
      } else if (!runningIds.has(rec.id)) {
        await this.release(rec.id)
      } else {
        await this.rebuildMissing(rec)
      }
    }
    // Namespace files no record owns: left by a daemon killed before it wrote one.
    const owned = new Set([...this.files.containers.values()].map((r) => r.live?.netns))
    for (const f of await readdir(this.files.netnsDir)) {
      const p = join(this.files.netnsDir, f)
      if (!owned.has(p)) await removeNetns(p)
    }
    await this.ensureAardvark()
  }

  /** Whether a running container is on a network whose names aardvark-dns serves. */
  private dnsNeeded(): boolean {
    return [...this.files.containers.values()].some((r) =>
      r.live?.setups.some((s) => Object.values(s.network_info).some((n) => n.dns_enabled)),
    )
  }

  /** A running container whose bridge device went (deleted by hand) gets its network again. */
  private async rebuildMissing(rec: ContainerRecord): Promise<void> {
    const live = rec.live
    if (!live?.netns || !(await isNetnsMounted(live.netns))) return
    for (const setup of live.setups) {
      const devices = Object.values(setup.network_info).map((n) => n.network_interface)
      const present = await netDevices()
      if (devices.every((d) => present.has(d))) continue
      this.opts.logger.warn("rebuilding a running container's network", { id: rec.id })
      await this.netavark.teardown(live.netns, setup).catch(() => undefined)
      await this.netavark.setup(live.netns, setup)
    }
  }

  /** aardvark-dns runs while a running container is on a network with names. */
  private async ensureAardvark(): Promise<void> {
    if (!this.dnsNeeded()) {
      // Nothing running has names: whatever aardvark-dns's files hold was left by containers
      // that are gone (a reboot takes the process and the entries' owners, not the files).
      if ((await this.netavark.aardvarkPid()) === undefined) await this.netavark.clearAardvark()
      return
    }
    if ((await this.netavark.aardvarkPid()) !== undefined) return
    this.opts.logger.warn('aardvark-dns was not running; starting it')
    await this.netavark.startAardvark()
  }

  // ---- inspect ----

  private settings(c: NetworkedContainer, running: boolean): NetworkSettings {
    let rec = this.files.containers.get(c.id)
    if (!rec) {
      try {
        rec = this.recordFor(c).rec
      } catch {
        // A container whose network no longer exists shows none.
      }
    }
    const mode = rec?.mode ?? modeOf(c.hostConfig.NetworkMode).mode
    const own =
      mode.kind === 'host' || mode.kind === 'none' ? this.catalog.predefined(mode.kind) : undefined
    return networkSettings(c, rec, mode, running, own, (id) => this.files.networks.get(id))
  }

  // ---- the /networks API ----

  private async connect(ref: string, ctr: string, ep: Partial<EndpointSettings>): Promise<void> {
    const n = this.catalog.find(ref)
    if (n.Driver === 'host') {
      throw new InvalidArgument(
        'container cannot be disconnected from host network or connected to host network',
      )
    }
    if (n.Driver === 'null') {
      throw new InvalidArgument(
        'container cannot be connected to multiple networks with one of the networks in private (none) mode',
      )
    }
    const { container: c } = await this.opts.containers.get(ctr)
    await this.opts.containers.locked(c.id, async () => {
      // Read again under the container's lock: it may have started or stopped meanwhile.
      const { container, running } = await this.opts.containers.get(c.id)
      await this.serial.run(() => this.connectLocked(n, container, running, ep))
    })
  }

  private async connectLocked(
    n: NetworkRecord,
    c: NetworkedContainer,
    running: boolean,
    ep: Partial<EndpointSettings>,
  ): Promise<void> {
    const rec = await this.recordOf(c)
    if (rec.mode.kind === 'host') {
      throw new InvalidArgument(
        'container cannot be disconnected from host network or connected to host network',
      )
    }
    if (rec.mode.kind === 'none') {
      throw new InvalidArgument(
        'container cannot be connected to multiple networks with one of the networks in private (none) mode',
      )
    }
    if (rec.mode.kind === 'container') {
      throw new InvalidArgument(
        'container sharing network namespace with another container or host cannot be connected to any other network',
      )
    }
    const att = this.checkEndpoint(n, ep, ep.Links ?? [])
    if (rec.attachments.some((a) => a.networkId === n.Id)) {
      throw new Forbidden(`endpoint with name ${c.name} already exists in network ${n.Name}`)
    }
    const live = running ? rec.live : undefined
    if (live?.netns) {
      if (this.unavailable) throw new Internal(this.unavailable.message)
      const used = new Set(live.endpoints.map((e) => Number(e.ifname.slice(3))))
      let i = 0
      while (used.has(i)) i++
      const { ep: endpoint, setup } = this.endpointFor(
        c,
        n,
        att,
        `eth${i}`,
        this.usedAddresses(n.Id),
      )
      await this.netavark.setup(live.netns, setup)
      live.endpoints.push(endpoint)
      live.setups.push(setup)
    }
    rec.attachments.push(att)
    await this.files.saveContainer(rec)
  }

  private async disconnect(ref: string, ctr: string, force: boolean): Promise<void> {
    const { container: c } = await this.opts.containers.get(ctr)
    await this.opts.containers.locked(c.id, async () => {
      const { container, running } = await this.opts.containers.get(c.id)
      await this.serial.run(() => this.disconnectLocked(ref, container, running, force))
    })
  }

  private async disconnectLocked(
    ref: string,
    c: NetworkedContainer,
    running: boolean,
    force: boolean,
  ): Promise<void> {
    const rec = await this.recordOf(c)
    let n: NetworkRecord | undefined
    try {
      n = this.catalog.find(ref)
    } catch (err) {
      // With force, a container may leave a network that no longer exists.
      if (!force) throw err
    }
    if (n?.Driver === 'host' || (n === undefined && rec.mode.kind === 'host')) {
      throw new InvalidArgument(
        'container cannot be disconnected from host network or connected to host network',
      )
    }
    const idx = rec.attachments.findIndex((a) =>
      n ? a.networkId === n.Id : a.networkId.startsWith(ref),
    )
    if (idx < 0) {
      throw new InvalidArgument(`container ${c.id} is not connected to network ${n?.Name ?? ref}`)
    }
    const att = rec.attachments[idx] as Attachment
    const live = running ? rec.live : undefined
    if (live) {
      const sIdx = live.setups.findIndex((s) =>
        Object.values(s.network_info).some((x) => x.id === att.networkId),
      )
      const setup = live.setups[sIdx]
      if (setup && live.netns) {
        await this.netavark.teardown(live.netns, await this.lastOut(c.id, setup))
        if (setup.port_mappings) {
          this.ports.release(c.id)
          live.ports = []
        }
        live.setups.splice(sIdx, 1)
      }
      live.endpoints = live.endpoints.filter((e) => e.networkId !== att.networkId)
    }
    rec.attachments.splice(idx, 1)
    await this.files.saveContainer(rec)
  }
}

/** `NAME:ALIAS` or `NAME` (the alias is then the name); Docker's `/a:/b/c` form too. */
export function parseLink(link: string): { name: string; alias: string } {
  const colon = link.indexOf(':')
  const name = (colon < 0 ? link : link.slice(0, colon)).replace(/^\//, '')
  const rawAlias = colon < 0 ? name : link.slice(colon + 1)
  const alias = rawAlias.includes('/') ? rawAlias.slice(rawAlias.lastIndexOf('/') + 1) : rawAlias
  if (name === '' || alias === '') throw new InvalidArgument(`invalid link: ${link}`)
  return { name, alias }
}

/** The network devices of this process's namespace (/proc/net/dev, unlike /sys, follows it). */
async function netDevices(): Promise<Set<string>> {
  const text = await readFile('/proc/net/dev', 'utf8')
  return new Set(
    text
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]?.trim() ?? '')
      .filter((n) => n !== ''),
  )
}
