// Where an image lives: a registry name (docker.io, localhost:5000) to the URLs tried for it, with
// Docker's rules for insecure registries (moby registry/config.go, service_v2.go): loopback and the
// daemon's --insecure-registry entries skip TLS verification and fall back to plain HTTP.
import { BlockList, isIP } from 'node:net'
import { lookup as dnsLookup } from 'node:dns/promises'
import { InvalidArgument } from '../errors.ts'
import { DEFAULT_DOMAIN } from '../reference/reference.ts'
import type { Endpoint } from './types.ts'

/** Where Docker Hub's credentials are filed, in config.json and in AuthConfig.serveraddress. */
export const INDEX_SERVER = 'https://index.docker.io/v1/'
/** The host Docker Hub's v2 API answers on. */
export const DEFAULT_V2_REGISTRY = 'https://registry-1.docker.io'

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const hostPortRe = new RegExp(
  `^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
)

/** The parsed --insecure-registry list. */
export interface InsecureRegistries {
  /** Registry names given as host[:port]. */
  names: ReadonlySet<string>
  /** Address ranges, 127.0.0.0/8 and ::1/128 always among them. */
  cidrs: BlockList
}

/** Splits "host:port", "[v6]:port", "host" into host and port ("" when none). */
export function splitHostPort(name: string): { host: string; port: string } {
  if (name.startsWith('[')) {
    const end = name.indexOf(']')
    if (end > 0) {
      const rest = name.slice(end + 1)
      return { host: name.slice(1, end), port: rest.startsWith(':') ? rest.slice(1) : '' }
    }
  }
  const i = name.lastIndexOf(':')
  if (i >= 0 && name.indexOf(':') === i) return { host: name.slice(0, i), port: name.slice(i + 1) }
  return { host: name, port: '' }
}

function parseCidr(s: string): { addr: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const slash = s.indexOf('/')
  if (slash < 0) return null
  const addr = s.slice(0, slash)
  const bits = s.slice(slash + 1)
  const fam = isIP(addr)
  if (fam === 0 || !/^[0-9]{1,3}$/.test(bits)) return null
  const prefix = Number(bits)
  if (prefix > (fam === 4 ? 32 : 128)) return null
  return { addr, prefix, family: fam === 4 ? 'ipv4' : 'ipv6' }
}

/** moby's loadInsecureRegistries: validates each entry with Docker's words. */
export function parseInsecureRegistries(entries: readonly string[]): InsecureRegistries {
  const names = new Set<string>()
  const cidrs = new BlockList()
  cidrs.addSubnet('127.0.0.0', 8, 'ipv4')
  cidrs.addSubnet('::1', 128, 'ipv6')
  for (const raw of entries) {
    let r = raw === 'index.docker.io' ? DEFAULT_DOMAIN : raw
    if (r.startsWith('-') || r.endsWith('-'))
      throw new InvalidArgument(`invalid index name (${r}). Cannot begin or end with a hyphen`)
    const lower = r.toLowerCase()
    // Docker strips a scheme with a warning; anything else with :// is refused.
    if (lower.startsWith('http://')) r = r.slice(7)
    else if (lower.startsWith('https://')) r = r.slice(8)
    else if (r.includes('://'))
      throw new InvalidArgument(`insecure registry ${r} should not contain '://'`)
    const cidr = parseCidr(r)
    if (cidr) {
      cidrs.addSubnet(cidr.addr, cidr.prefix, cidr.family)
      continue
    }
    const { host, port } = splitHostPort(r)
    if (!hostPortRe.test(r) && isIP(host) === 0)
      throw new InvalidArgument(`insecure registry ${r} is not valid: invalid host "${host}"`)
    if (port !== '' && (!/^[0-9]+$/.test(port) || Number(port) > 65535))
      throw new InvalidArgument(`insecure registry ${r} is not valid: invalid port "${port}"`)
    // docker.io is always secure.
    if (r !== DEFAULT_DOMAIN) names.add(r)
  }
  return { names, cidrs }
}

async function defaultLookup(host: string): Promise<string[]> {
  const addrs = await dnsLookup(host, { all: true })
  return addrs.map((a) => a.address)
}

/**
 * moby's isSecureIndex: a registry is insecure when it is listed by name, or when an address its
 * host resolves to lies in an insecure range. A host that does not resolve is checked as an IP.
 */
export async function isSecure(
  name: string,
  insecure: InsecureRegistries,
  lookup: (host: string) => Promise<string[]> = defaultLookup,
): Promise<boolean> {
  if (name === DEFAULT_DOMAIN) return true
  if (insecure.names.has(name)) return false
  const { host } = splitHostPort(name)
  let addrs: string[]
  if (isIP(host) !== 0) addrs = [host]
  else {
    try {
      addrs = await lookup(host)
    } catch {
      // Unresolvable here (offline, or behind a proxy): only the name list can make it insecure.
      addrs = []
    }
  }
  for (const a of addrs) {
    const fam = isIP(a)
    if (fam !== 0 && insecure.cidrs.check(a, fam === 4 ? 'ipv4' : 'ipv6')) return false
  }
  return true
}

/** The URLs to try for a registry, in Docker's order: HTTPS, then plain HTTP if insecure. */
export async function endpointsFor(
  name: string,
  insecure: InsecureRegistries,
  lookup?: (host: string) => Promise<string[]>,
): Promise<Endpoint[]> {
  if (name === DEFAULT_DOMAIN || name === 'index.docker.io') {
    return [{ name: DEFAULT_DOMAIN, url: DEFAULT_V2_REGISTRY, insecure: false, official: true }]
  }
  if (await isSecure(name, insecure, lookup)) {
    return [{ name, url: `https://${name}`, insecure: false, official: false }]
  }
  return [
    { name, url: `https://${name}`, insecure: true, official: false },
    { name, url: `http://${name}`, insecure: true, official: false },
  ]
}

/**
 * The registry an AuthConfig's serveraddress names: "https://index.docker.io/v1/" and other
 * URLs to their host, a bare host[:port] as is, empty to Docker Hub (moby's Auth).
 */
export function registryOfServerAddress(address: string | undefined): string {
  if (!address) return DEFAULT_DOMAIN
  const withScheme = /^https?:\/\//i.test(address) ? address : `https://${address}`
  let host: string
  try {
    host = new URL(withScheme).host
  } catch (err) {
    throw new InvalidArgument(`unable to parse server address: ${address}`, { cause: err })
  }
  if (host === '') throw new InvalidArgument(`unable to parse server address: ${address}`)
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === DEFAULT_DOMAIN)
    return DEFAULT_DOMAIN
  return host
}

/**
 * moby's ValidateMirror: an http(s) URL with no path, query, fragment or credentials, returned
 * with one trailing slash as `docker info` shows it.
 */
export function validateMirror(value: string): string {
  let u: URL
  try {
    u = new URL(value)
  } catch (err) {
    throw new InvalidArgument(`invalid mirror: ${JSON.stringify(value)} is not a valid URI`, {
      cause: err,
    })
  }
  const scheme = u.protocol.slice(0, -1)
  if (scheme !== 'http' && scheme !== 'https') {
    throw new InvalidArgument(
      `invalid mirror: unsupported scheme ${JSON.stringify(scheme)} in ${JSON.stringify(value)}`,
    )
  }
  if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') {
    throw new InvalidArgument(
      `invalid mirror: path, query, or fragment at end of the URI ${JSON.stringify(value)}`,
    )
  }
  if (u.username !== '' || u.password !== '') {
    throw new InvalidArgument(
      `invalid mirror: username/password not allowed in URI ${JSON.stringify(value)}`,
    )
  }
  return `${value.replace(/\/+$/, '')}/`
}
