// A container's network record: its mode and attachments checked from its config, and its inspect settings.
import { Internal, InvalidArgument, NotFound } from '../errors.ts'
import { contains, formatIPv4, parseIPv4, parseMac, requireCidr } from './ipv4.ts'
import { parseExtraHosts } from './etc.ts'
import { contains6, formatIPv6, parseIPv6, requireCidr6 } from './ipv6.ts'
import { networkSettings } from './settings.ts'
import { portRequests, publishesPorts } from './ports.ts'
import type { Attachment, ContainerRecord, NetworkRecord } from './store.ts'
import type { EndpointSettings, NetworkSettings, NetworkedContainer } from './types.ts'
import { modeOf, type BridgeContext } from './context.ts'

interface AddressFamily<A> {
  label: string
  parse(s: string): A | undefined
  inSubnet(subnet: string, a: A): boolean
  format(a: A): string
}

const IPV4: AddressFamily<number> = {
  label: 'IPv4',
  parse: parseIPv4,
  inSubnet: (subnet, a) => contains(requireCidr(subnet), a),
  format: formatIPv4,
}

const IPV6: AddressFamily<bigint> = {
  label: 'IPv6',
  parse: parseIPv6,
  inSubnet: (subnet, a) => contains6(requireCidr6(subnet), a),
  format: formatIPv6,
}

/** An address asked for (--ip, --ip6): only on a user network with a subnet the user gave, inside it. */
function requestedAddress<A>(
  n: NetworkRecord,
  ip: string,
  userSubnet: string | undefined,
  family: AddressFamily<A>,
): string {
  if (n.predefined) {
    throw new InvalidArgument(
      'user specified IP address is supported on user defined networks only',
    )
  }
  if (!userSubnet) {
    throw new InvalidArgument(
      'user specified IP address is supported only when connecting to networks with user configured subnets',
    )
  }
  const v = family.parse(ip)
  if (v === undefined) throw new InvalidArgument(`invalid ${family.label} address: ${ip}`)
  if (!family.inSubnet(userSubnet, v)) {
    throw new InvalidArgument(
      `Invalid address ${ip}: It does not belong to any of this network's subnets`,
    )
  }
  return family.format(v)
}

/** Checks one attachment's settings against its network, in Docker's words. */
export function checkEndpoint(
  ctx: BridgeContext,
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
  if (ip)
    att.ipv4 = requestedAddress(n, ip, n.bridge.userSubnet ? n.bridge.subnet : undefined, IPV4)
  const ip6 = ep.IPAMConfig?.IPv6Address
  if (ip6) {
    att.ipv6 = requestedAddress(n, ip6, n.bridge.userSubnet6 ? n.bridge.subnet6 : undefined, IPV6)
  }
  if (ep.MacAddress) {
    const mac = parseMac(ep.MacAddress)
    if (mac === undefined) throw new InvalidArgument(`invalid MAC address: ${ep.MacAddress}`)
    att.mac = mac
  }
  return att
}

/** The network an EndpointsConfig key names; the CLI says `default` for the default one. */
function endpointNetwork(ctx: BridgeContext, key: string): NetworkRecord {
  return ctx.catalog.find(key === 'default' ? 'bridge' : key)
}

/** The record a container's create makes: its mode and networks, all checked. */
export function recordFor(
  ctx: BridgeContext,
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
      const n = endpointNetwork(ctx, k)
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
    primary = ctx.catalog.find(network as string)
  } catch (err) {
    // dockerd looks a named network up at start: create succeeds, start says not found.
    if (!opts.atCreate || !(err instanceof NotFound) || network === 'bridge') throw err
    return { rec: { ...rec, pending: network as string }, warnings }
  }
  if (primary.Driver === 'host')
    return recordFor(ctx, { ...c, hostConfig: { ...hc, NetworkMode: 'host' } })
  if (primary.Driver === 'null')
    return recordFor(ctx, { ...c, hostConfig: { ...hc, NetworkMode: 'none' } })
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
  rec.attachments.push(checkEndpoint(ctx, primary, epFor(primary), primary.predefined ? [] : links))
  for (const k of endpointKeys) {
    const n = endpointNetwork(ctx, k)
    if (n.Id === primary.Id) continue
    if (n.Driver !== 'bridge') {
      throw new InvalidArgument(
        `Container cannot be connected to network endpoints: ${endpointKeys.join(', ')}`,
      )
    }
    rec.attachments.push(checkEndpoint(ctx, n, c.endpoints[k] ?? {}, n.predefined ? [] : links))
  }
  return { rec, warnings }
}

/** The record of a container, made from its config when it has none (made before berth had one). */
export async function recordOf(
  ctx: BridgeContext,
  c: NetworkedContainer,
): Promise<ContainerRecord> {
  const rec = ctx.files.containers.get(c.id)
  if (rec?.pending !== undefined) {
    // The network it names did not exist at create; it must now (NotFound otherwise).
    const made = recordFor(ctx, c).rec
    await ctx.files.saveContainer(made)
    return made
  }
  if (rec) {
    if (rec.name !== c.name) {
      rec.name = c.name
      await ctx.files.saveContainer(rec)
    }
    return rec
  }
  const made = recordFor(ctx, c).rec
  await ctx.files.saveContainer(made)
  return made
}

export function settings(
  ctx: BridgeContext,
  c: NetworkedContainer,
  running: boolean,
): NetworkSettings {
  let rec = ctx.files.containers.get(c.id)
  if (!rec) {
    try {
      rec = recordFor(ctx, c).rec
    } catch {
      // A container whose network no longer exists shows none.
    }
  }
  const mode = rec?.mode ?? modeOf(c.hostConfig.NetworkMode).mode
  const own =
    mode.kind === 'host' || mode.kind === 'none' ? ctx.catalog.predefined(mode.kind) : undefined
  return networkSettings(c, rec, mode, running, own, (id) => ctx.files.networks.get(id))
}
