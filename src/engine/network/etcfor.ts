// A container's /etc/hosts, /etc/resolv.conf and /etc/hostname, with its --link entries.
import { Conflict, InvalidArgument } from '../errors.ts'
import { parseIPv4 } from './ipv4.ts'
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
import type { ContainerRecord, LiveEndpoint } from './store.ts'
import type { NetworkedContainer } from './types.ts'
import type { BridgeContext } from './context.ts'

export async function writeEtcFor(
  ctx: BridgeContext,
  c: NetworkedContainer,
  rec: ContainerRecord,
): Promise<void> {
  const hc = c.hostConfig
  const hostname = `${c.hostname}\n`
  if (rec.mode.kind === 'container') return
  const hostResolv = await readHostFile(ctx.hostFiles.resolvConf)
  if (rec.mode.kind === 'host') {
    const overridden =
      (hc.Dns?.length ?? 0) + (hc.DnsSearch?.length ?? 0) + (hc.DnsOptions?.length ?? 0) > 0
    await writeEtc(c.dir, {
      hostname,
      hosts: hostNetworkHosts(
        await readHostFile(ctx.hostFiles.hosts),
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
    ? ctx.files.networks.get(rec.attachments[0].networkId)
    : undefined
  const gateway = primary?.bridge ? parseIPv4(primary.bridge.gateway) : undefined
  const embedded = ep && primary?.bridge?.dns ? primary.bridge.gateway : undefined
  await writeEtc(c.dir, {
    hostname,
    hosts: hostsFile({
      extraHosts: parseExtraHosts(hc.ExtraHosts, hostGatewayIp(gateway)),
      links: await linkEntries(ctx, c, rec),
      ...(ep ? { ip: ep.ip } : {}),
      ...(ep?.ip6 ? { ip6: ep.ip6 } : {}),
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

/** A `--link` resolved: the linked container, its alias and its address on a shared network. */
export interface ResolvedLink {
  target: NetworkedContainer
  alias: string
  ip: string
  /** A legacy link (on the default bridge), which also sets environment variables. */
  legacy: boolean
}

/**
 * The container's `--link`s with the linked containers' addresses on a network both share.
 * On the default bridge the linked container must be running there, as Docker requires; on a
 * user network a link to a container that is not (yet) reachable is left out, as Docker
 * resolves those late.
 */
export async function resolveLinks(
  ctx: BridgeContext,
  c: NetworkedContainer,
  rec: ContainerRecord,
): Promise<ResolvedLink[]> {
  const out: ResolvedLink[] = []
  const mine = rec.live?.endpoints ?? []
  const primary = rec.attachments[0]
    ? ctx.files.networks.get(rec.attachments[0].networkId)
    : undefined
  if (mine.length === 0 || !primary) return out
  for (const link of c.hostConfig.Links ?? []) {
    const { name, alias } = parseLink(link)
    const { container: target, running } = await ctx.opts.containers.get(name)
    const theirs = running ? (ctx.files.containers.get(target.id)?.live?.endpoints ?? []) : []
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
    out.push({ target, alias, ip: shared.ip, legacy: primary.predefined })
  }
  return out
}

/** `--link NAME:ALIAS` entries for /etc/hosts: alias, short ID and name (Docker's order). */
async function linkEntries(
  ctx: BridgeContext,
  c: NetworkedContainer,
  rec: ContainerRecord,
): Promise<HostEntry[]> {
  return (await resolveLinks(ctx, c, rec)).map(({ target, alias, ip }) => {
    const short = target.id.slice(0, 12)
    return { ip, names: alias === target.name ? [alias, short] : [alias, short, target.name] }
  })
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
