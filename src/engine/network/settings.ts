// A container's NetworkSettings as Docker's inspect shows them, from berth's record of it.
import { emptyNetworkSettings } from './modes.ts'
import { portMap } from './ports.ts'
import type { ContainerRecord, Mode, NetworkRecord } from './store.ts'
import type { EndpointSettings, NetworkSettings, NetworkedContainer } from './types.ts'

export function emptyEndpoint(networkId: string): EndpointSettings {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    MacAddress: '',
    DriverOpts: null,
    NetworkID: networkId,
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  }
}

/**
 * NetworkSettings: every network the container is attached to (addresses once it runs),
 * Docker's top-level fields from the default bridge's endpoint, and the published ports.
 * `own` is the predefined network of the host and none modes.
 */
export function networkSettings(
  c: NetworkedContainer,
  rec: ContainerRecord | undefined,
  mode: Mode,
  running: boolean,
  own: NetworkRecord | undefined,
  network: (id: string) => NetworkRecord | undefined,
): NetworkSettings {
  const live = running ? rec?.live : undefined
  const s: NetworkSettings = {
    ...emptyNetworkSettings(),
    SandboxID: live?.sandboxId ?? '',
    SandboxKey: live?.netns ?? '',
    Ports: live ? portMap(c.exposedPorts, live.ports) : {},
  }
  if (own) {
    s.Networks[own.Name] = emptyEndpoint(own.Id)
    return s
  }
  if (mode.kind === 'container') return s
  for (const att of rec?.attachments ?? []) {
    const n = network(att.networkId)
    if (!n) continue
    const e = emptyEndpoint(n.Id)
    if (att.ipv4 || att.ipv6) {
      e.IPAMConfig = {
        ...(att.ipv4 ? { IPv4Address: att.ipv4 } : {}),
        ...(att.ipv6 ? { IPv6Address: att.ipv6 } : {}),
      }
    }
    e.Aliases = att.aliases.length > 0 ? att.aliases : null
    if (!n.predefined && att.links.length > 0) e.Links = att.links
    e.DriverOpts = att.driverOpts
    const ep = live?.endpoints.find((x) => x.networkId === n.Id)
    if (ep) {
      e.EndpointID = ep.endpointId
      e.Gateway = ep.gateway
      e.IPAddress = ep.ip
      e.IPPrefixLen = ep.prefix
      e.MacAddress = ep.mac
      if (ep.ip6) {
        e.GlobalIPv6Address = ep.ip6
        e.GlobalIPv6PrefixLen = ep.prefix6 ?? 64
        e.IPv6Gateway = ep.gateway6 ?? ''
      }
      if (n.bridge?.dns) e.DNSNames = [c.name, ...att.aliases, c.id.slice(0, 12)]
      // Docker fills the top-level fields from the default bridge's endpoint only.
      if (n.predefined) {
        s.EndpointID = ep.endpointId
        s.Gateway = ep.gateway
        s.IPAddress = ep.ip
        s.IPPrefixLen = ep.prefix
        s.MacAddress = ep.mac
        if (ep.ip6) {
          s.GlobalIPv6Address = ep.ip6
          s.GlobalIPv6PrefixLen = ep.prefix6 ?? 64
          s.IPv6Gateway = ep.gateway6 ?? ''
        }
      }
    }
    s.Networks[n.Name] = e
  }
  return s
}
