// What the network seam is told about a container; the container module knows nothing of modes.
import type { EndpointSettings, NetworkedContainer, PortBinding } from '../network/types.ts'
import type { ContainerConfig, HostConfig } from './types.ts'

function stringList(v: unknown): string[] | null {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : null
}

function portBindings(v: unknown): Record<string, PortBinding[] | null> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, PortBinding[] | null>)
    : null
}

/** A container (or one being created, whose record is in `dir`) as networking needs it. */
export function networked(
  c: {
    id: string
    name: string
    config: ContainerConfig
    hostConfig: HostConfig
    endpoints?: Record<string, Partial<EndpointSettings>>
  },
  dir: string,
): NetworkedContainer {
  const hc = c.hostConfig
  return {
    id: c.id,
    name: c.name,
    hostname: c.config.Hostname ?? '',
    domainname: c.config.Domainname ?? '',
    dir,
    exposedPorts: c.config.ExposedPorts ?? {},
    env: c.config.Env ?? [],
    hostConfig: {
      NetworkMode: typeof hc.NetworkMode === 'string' ? hc.NetworkMode : 'default',
      PortBindings: portBindings(hc.PortBindings),
      PublishAllPorts: hc.PublishAllPorts === true,
      Dns: stringList(hc.Dns),
      DnsSearch: stringList(hc.DnsSearch),
      DnsOptions: stringList(hc.DnsOptions),
      ExtraHosts: stringList(hc.ExtraHosts),
      Links: stringList(hc.Links),
    },
    endpoints: c.endpoints ?? {},
  }
}

/** NetworkingConfig.EndpointsConfig from a create request, kept for the network seam. */
export function endpointsOf(networkingConfig: unknown): Record<string, Partial<EndpointSettings>> {
  if (networkingConfig === null || typeof networkingConfig !== 'object') return {}
  const eps = (networkingConfig as { EndpointsConfig?: unknown }).EndpointsConfig
  if (eps === null || typeof eps !== 'object' || Array.isArray(eps)) return {}
  return eps as Record<string, Partial<EndpointSettings>>
}
