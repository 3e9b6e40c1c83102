// Which proxy a registry request goes through, with the rules of Go's net/http (httpproxy, which
// dockerd's registry client uses): HTTP_PROXY for http URLs, HTTPS_PROXY for https URLs (no
// fallback from one to the other), NO_PROXY's hosts, domains, IPs and CIDRs go direct, and so do
// localhost and loopback addresses, always.
import { BlockList, isIP } from 'node:net'
import { InvalidArgument } from '../errors.ts'
import type { ProxySettings } from './types.ts'

/** Go's getEnvAny: the upper-case name first, then the lower-case one. */
export function proxiesFromEnv(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const any = (...names: string[]): string => {
    for (const n of names) {
      const v = env[n]
      if (v !== undefined && v !== '') return v
    }
    return ''
  }
  return {
    httpProxy: any('HTTP_PROXY', 'http_proxy'),
    httpsProxy: any('HTTPS_PROXY', 'https_proxy'),
    noProxy: any('NO_PROXY', 'no_proxy'),
  }
}

/**
 * A proxy setting as a URL: Go's parseProxy reads "host:port" (no scheme, or one it does not
 * proxy through) as http://host:port.
 */
export function parseProxyUrl(value: string): URL {
  const tryParse = (s: string): URL | undefined => {
    try {
      return new URL(s)
    } catch {
      return undefined
    }
  }
  const direct = tryParse(value)
  if (direct && ['http:', 'https:', 'socks5:'].includes(direct.protocol) && direct.host !== '') {
    return direct
  }
  const withScheme = tryParse(`http://${value}`)
  if (withScheme && withScheme.host !== '') return withScheme
  throw new InvalidArgument(`invalid proxy address ${JSON.stringify(value)}`)
}

/**
 * A proxy URL as `docker info` shows it: dockerd 20.10 hides the user name and the password
 * (http://xxxxx:xxxxx@host:port).
 */
export function maskProxyUrl(value: string): string {
  if (value === '') return ''
  let u: URL
  try {
    u = new URL(value)
  } catch {
    return value
  }
  if (u.username === '' && u.password === '') return value
  u.username = 'xxxxx'
  u.password = 'xxxxx'
  return u.href.endsWith('/') && !value.endsWith('/') ? u.href.slice(0, -1) : u.href
}

interface DomainRule {
  /** With a leading dot. */
  suffix: string
  /** "foo.com" also matches foo.com itself; ".foo.com" and "*.foo.com" only what is under it. */
  exact: boolean
  port: string
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' }

/** The proxies for requests, chosen per URL. */
export class ProxyChooser {
  private readonly http: URL | InvalidArgument | undefined
  private readonly https: URL | InvalidArgument | undefined
  private readonly all: boolean
  private readonly cidrs = new BlockList()
  private readonly ips: { ip: string; port: string }[] = []
  private readonly domains: DomainRule[] = []

  constructor(settings: ProxySettings) {
    // A bad value fails the requests it would carry (as in Go), not the daemon's start.
    const parse = (v: string | undefined): URL | InvalidArgument | undefined => {
      if (!v) return undefined
      try {
        return parseProxyUrl(v)
      } catch (err) {
        return err as InvalidArgument
      }
    }
    this.http = parse(settings.httpProxy)
    this.https = parse(settings.httpsProxy)
    this.all = false
    for (const raw of (settings.noProxy ?? '').split(',')) {
      const p = raw.trim().toLowerCase()
      if (p === '') continue
      if (p === '*') {
        this.all = true
        break
      }
      if (this.addCidr(p)) continue
      let host = p
      let port = ''
      const m = /^(\[[^\]]*\]|[^:]*):([0-9]*)$/.exec(p)
      if (m) {
        host = m[1]!
        port = m[2]!
        if (host === '') continue
        if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
      }
      if (isIP(host) !== 0) {
        this.ips.push({ ip: host, port })
        continue
      }
      if (host === '') continue
      if (host.startsWith('*.')) host = host.slice(1)
      const exact = !host.startsWith('.')
      this.domains.push({ suffix: exact ? `.${host}` : host, exact, port })
    }
  }

  /** Whether any proxy is set at all. */
  get enabled(): boolean {
    return this.http !== undefined || this.https !== undefined
  }

  private addCidr(p: string): boolean {
    const slash = p.indexOf('/')
    if (slash < 0) return false
    const addr = p.slice(0, slash)
    const bits = p.slice(slash + 1)
    const fam = isIP(addr)
    if (fam === 0 || !/^[0-9]{1,3}$/.test(bits) || Number(bits) > (fam === 4 ? 32 : 128)) {
      return false
    }
    this.cidrs.addSubnet(addr, Number(bits), fam === 4 ? 'ipv4' : 'ipv6')
    return true
  }

  /** The proxy for a request to `url`, or undefined to go direct; throws for a bad setting. */
  proxyFor(url: URL): URL | undefined {
    const proxy =
      url.protocol === 'https:' ? this.https : url.protocol === 'http:' ? this.http : undefined
    if (!proxy || this.all) return undefined
    let host = url.hostname.toLowerCase()
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
    const port = url.port || DEFAULT_PORTS[url.protocol] || ''
    if (host === 'localhost') return undefined
    const fam = isIP(host)
    if (fam !== 0) {
      const type = fam === 4 ? 'ipv4' : 'ipv6'
      if (isLoopback(host, fam)) return undefined
      if (this.cidrs.check(host, type)) return undefined
      for (const r of this.ips) {
        if (sameIp(r.ip, host) && (r.port === '' || r.port === port)) return undefined
      }
    }
    for (const d of this.domains) {
      if (host.endsWith(d.suffix) || (d.exact && host === d.suffix.slice(1))) {
        if (d.port === '' || d.port === port) return undefined
      }
    }
    if (proxy instanceof InvalidArgument) throw proxy
    return proxy
  }
}

function isLoopback(ip: string, fam: number): boolean {
  if (fam === 4) return ip.startsWith('127.')
  const b = new BlockList()
  b.addAddress('::1', 'ipv6')
  b.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')
  return b.check(ip, 'ipv6')
}

function sameIp(a: string, b: string): boolean {
  if (a === b) return true
  const fa = isIP(a)
  const fb = isIP(b)
  if (fa !== fb) return false
  const l = new BlockList()
  l.addAddress(a, fa === 4 ? 'ipv4' : 'ipv6')
  return l.check(b, fb === 4 ? 'ipv4' : 'ipv6')
}
