// Create, start and stop: a container's record and /etc files, its namespace, addresses, ports and plumbing setups, and their teardown.
import { hostname as osHostname } from 'node:os'
import { join } from 'node:path'
import { Forbidden, Internal, NotFound } from '../errors.ts'
import { formatIPv4, lastOf, macForIPv4, parseIPv4, requireCidr } from './ipv4.ts'
import { randomId } from './catalog.ts'
import { formatIPv6, lastOf6, parseIPv6, requireCidr6 } from './ipv6.ts'
import { PortUnavailable } from './hostports.ts'
import type { NetavarkNetwork, NetavarkOptions } from './netavark.ts'
import { netDevices, removeNetns } from './netns.ts'
import { netavarkPorts, portRequests } from './ports.ts'
import type { Attachment, ContainerRecord, Live, LiveEndpoint, NetworkRecord } from './store.ts'
import type { NetworkPlan, NetworkedContainer, PreparedNetwork } from './types.ts'
import type { BridgeContext } from './context.ts'
import type { TeardownScope } from './plumbing.ts'
import { recordFor, recordOf } from './records.ts'
import { resolveLinks, writeEtcFor } from './etcfor.ts'
import { linkEnv } from './links.ts'

export async function plan(ctx: BridgeContext, asked: NetworkedContainer): Promise<NetworkPlan> {
  const { rec, warnings } = recordFor(ctx, asked, { atCreate: true })
  // With the host's network a container also takes the host's name, as Docker does.
  const hostname =
    asked.hostname ||
    (rec.mode.kind === 'host' ? (ctx.opts.hostname ?? osHostname)() : asked.id.slice(0, 12))
  const c = { ...asked, hostname }
  await ctx.files.saveContainer(rec)
  await writeEtcFor(ctx, c, rec)
  return { warnings, hostname }
}

export async function prepare(ctx: BridgeContext, c: NetworkedContainer): Promise<PreparedNetwork> {
  const rec = await recordOf(ctx, c)
  if (rec.live) await release(ctx, rec.id)
  if (rec.mode.kind === 'bridge') return prepareBridge(ctx, c, rec)
  // host, none and container:NAME: the runtime's own namespace, the host's, or the other
  // container's process's; nothing on the host to make or to take down afterwards.
  const networkMode = rec.mode.kind === 'container' ? `container:${rec.mode.ref}` : rec.mode.kind
  const prepared = await ctx.local.prepare({
    ...c,
    hostConfig: { ...c.hostConfig, NetworkMode: networkMode },
  })
  rec.live = { bootId: ctx.boot, sandboxId: randomId(), endpoints: [], ports: [], setups: [] }
  await ctx.files.saveContainer(rec, { live: true })
  await writeEtcFor(ctx, c, rec)
  for (const n of modeNetworks(ctx, rec)) ctx.catalog.event('connect', n, { container: c.id })
  return prepared
}

/**
 * The predefined network a container of mode host or none is on (dockerd tells its connect
 * and disconnect too); none for container:NAME, which joins another's namespace.
 */
function modeNetworks(ctx: BridgeContext, rec: ContainerRecord): NetworkRecord[] {
  if (rec.mode.kind !== 'host' && rec.mode.kind !== 'none') return []
  const n = [...ctx.files.networks.values()].find((x) => x.predefined && x.Name === rec.mode.kind)
  return n ? [n] : []
}

function netnsPath(ctx: BridgeContext, id: string): string {
  return join(ctx.files.netnsDir, id)
}

/** The addresses in use on a network (running containers' endpoints). */
export function usedAddresses(ctx: BridgeContext, networkId: string): Set<number> {
  const used = new Set<number>()
  for (const { ep } of ctx.catalog.liveEndpoints(networkId)) used.add(parseIPv4(ep.ip) as number)
  return used
}

/** An address for an attachment: its static one if free, else the lowest free one. */
function allocateAddress(
  ctx: BridgeContext,
  n: NetworkRecord,
  att: Attachment,
  taken: Set<number>,
): number {
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

/** An IPv6 address on an --ipv6 network: the static one if free, else the lowest free one. */
function allocateAddress6(ctx: BridgeContext, n: NetworkRecord, att: Attachment): bigint {
  const b = n.bridge as NonNullable<NetworkRecord['bridge']>
  const subnet = requireCidr6(b.subnet6 as string)
  const gw = parseIPv6(b.gateway6 as string) as bigint
  const taken = new Set<bigint>()
  for (const { ep } of ctx.catalog.liveEndpoints(n.Id)) {
    if (ep.ip6) taken.add(parseIPv6(ep.ip6) as bigint)
  }
  if (att.ipv6) {
    const ip = parseIPv6(att.ipv6) as bigint
    if (taken.has(ip) || ip === gw) throw new Forbidden('Address already in use')
    return ip
  }
  const last = lastOf6(subnet)
  // The subnet's first address (the subnet-router anycast) is never a host's.
  for (let ip = subnet.network + 1n; ip <= last; ip++) {
    if (ip !== gw && !taken.has(ip)) return ip
  }
  throw new Forbidden(
    `no available IPv6 addresses on this network's address pools: ${n.Name} (${n.Id})`,
  )
}

function netavarkNetwork(ctx: BridgeContext, n: NetworkRecord): NetavarkNetwork {
  const b = n.bridge as NonNullable<NetworkRecord['bridge']>
  const options: Record<string, string> = { isolate: 'true' }
  if (b.mtu) options.mtu = String(b.mtu)
  return {
    name: n.Name,
    id: n.Id,
    driver: 'bridge',
    network_interface: b.device,
    subnets: [
      { subnet: b.subnet, gateway: b.gateway },
      ...(b.subnet6 ? [{ subnet: b.subnet6, gateway: b.gateway6 as string }] : []),
    ],
    ipv6_enabled: b.subnet6 !== undefined,
    internal: n.Internal,
    dns_enabled: b.dns,
    options,
  }
}

/** Makes the endpoint of one attachment (address, MAC, IDs) and the netavark call for it. */
export function endpointFor(
  ctx: BridgeContext,
  c: NetworkedContainer,
  n: NetworkRecord,
  att: Attachment,
  ifname: string,
  taken: Set<number>,
): { ep: LiveEndpoint; setup: NetavarkOptions } {
  const b = n.bridge as NonNullable<NetworkRecord['bridge']>
  const ip = allocateAddress(ctx, n, att, taken)
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
  if (b.subnet6) {
    ep.ip6 = formatIPv6(allocateAddress6(ctx, n, att))
    ep.prefix6 = requireCidr6(b.subnet6).prefix
    ep.gateway6 = n.Internal ? '' : (b.gateway6 ?? '')
  }
  const setup: NetavarkOptions = {
    container_id: c.id,
    container_name: c.name,
    networks: {
      [n.Name]: {
        interface_name: ifname,
        static_ips: ep.ip6 ? [ep.ip, ep.ip6] : [ep.ip],
        static_mac: mac,
        ...(b.dns ? { aliases: [...att.aliases, c.id.slice(0, 12)] } : {}),
      },
    },
    network_info: { [n.Name]: netavarkNetwork(ctx, n) },
  }
  const dns = c.hostConfig.Dns ?? []
  if (b.dns && dns.length > 0) setup.dns_servers = dns
  return { ep, setup }
}

async function prepareBridge(
  ctx: BridgeContext,
  c: NetworkedContainer,
  rec: ContainerRecord,
): Promise<PreparedNetwork> {
  if (ctx.unavailable) throw new Internal(ctx.unavailable.message)
  const networks = rec.attachments.map((a) => {
    const n = ctx.files.networks.get(a.networkId)
    if (!n) throw new NotFound(`network ${a.networkId} not found`)
    return n
  })
  const netns = netnsPath(ctx, c.id)
  const live: Live = {
    bootId: ctx.boot,
    netns,
    sandboxId: randomId(),
    endpoints: [],
    ports: [],
    setups: [],
    plumbing: 'berth',
  }
  networks.forEach((n, i) => {
    const att = rec.attachments[i] as Attachment
    const { ep, setup } = endpointFor(ctx, c, n, att, `eth${i}`, usedAddresses(ctx, n.Id))
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
      live.ports = await ctx.ports.allocate(c.id, requests, primaryEp.ip)
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
  await ctx.files.saveContainer(rec, { live: true })
  try {
    for (const [i, setup] of live.setups.entries()) {
      rec.live.setups = [...done, setup]
      await ctx.files.saveContainer(rec, { live: true })
      // The first setup makes the namespace, in the same process as its side of the work.
      await ctx.plumbing.setup(netns, setup, { create: i === 0 })
      done.push(setup)
    }
    rec.live = live
    await ctx.files.saveContainer(rec, { live: true })
    await writeEtcFor(ctx, c, rec)
    for (const n of networks) ctx.catalog.event('connect', n, { container: c.id })
    const env = (await resolveLinks(ctx, c, rec))
      .filter((l) => l.legacy)
      .flatMap((l) =>
        linkEnv({
          parent: c.name,
          alias: l.alias,
          ip: l.ip,
          exposedPorts: l.target.exposedPorts,
          env: l.target.env ?? [],
        }),
      )
    return { netnsPath: netns, etcDir: c.dir, ...(env.length > 0 ? { env } : {}) }
  } catch (err) {
    await release(ctx, rec.id)
    throw err
  }
}

/**
 * How far one teardown of container id reaches: its network's bridge and rules go with the
 * network's last container, berth's nftables table with the last container of all (final:
 * this is the container's last setup to go).
 */
export function teardownScope(
  ctx: BridgeContext,
  id: string,
  setup: NetavarkOptions,
  final: boolean,
): TeardownScope {
  const others = (networkId: string) =>
    ctx.catalog.liveEndpoints(networkId).some(({ rec }) => rec.id !== id)
  const last = Object.values(setup.network_info).every((n) => !others(n.id))
  const lastOfAll =
    final &&
    [...ctx.files.containers.values()].every((r) => r.id === id || !r.live?.endpoints.length)
  return { last, lastOfAll }
}

/** Live records whose disconnects were told ahead of their release. */
const told = new WeakSet<Live>()

/** Takes down what prepare made; each step is tolerant of it being gone already. */
export async function release(ctx: BridgeContext, id: string): Promise<void> {
  const rec = ctx.files.containers.get(id)
  const live = rec?.live
  if (!rec || !live) return
  if (live.bootId === ctx.boot && live.setups.length > 0) {
    const setups = [...live.setups].reverse()
    for (const [i, setup] of setups.entries()) {
      // A set-up netavark made (an older berthd started the container) goes through netavark
      // first, so that its iptables rules go; berth's own teardown then finds little to do.
      // Set-ups of this berth carry its mark and are never netavark's.
      if (live.plumbing === undefined && live.netns && (await ctx.plumbing.madeByNetavark(setup))) {
        await ctx.plumbing.netavarkTeardown(live.netns, setup).catch((err: unknown) => {
          ctx.opts.logger.warn('netavark teardown failed', { id, error: String(err) })
        })
      }
      const scope = teardownScope(ctx, id, setup, i === setups.length - 1)
      await ctx.plumbing.teardown(setup, scope).catch((err: unknown) => {
        ctx.opts.logger.warn('network teardown failed', { id, error: String(err) })
      })
    }
  }
  if (live.netns) await removeNetns(live.netns)
  ctx.ports.release(id)
  delete rec.live
  await ctx.files.saveContainer(rec, { live: true })
  if (!told.has(live)) tellDisconnect(ctx, rec, live)
}

/** Tells the disconnects of a container whose release comes later (see NetworkManager). */
export function disconnected(ctx: BridgeContext, id: string): void {
  const rec = ctx.files.containers.get(id)
  if (!rec?.live || told.has(rec.live)) return
  told.add(rec.live)
  tellDisconnect(ctx, rec, rec.live)
}

function tellDisconnect(ctx: BridgeContext, rec: ContainerRecord, live: Live): void {
  const left = live.netns
    ? live.endpoints.flatMap((ep) => ctx.files.networks.get(ep.networkId) ?? [])
    : modeNetworks(ctx, rec)
  for (const n of left) ctx.catalog.event('disconnect', n, { container: rec.id })
}

export { netDevices }
