// A container's /etc/hostname, /etc/hosts and /etc/resolv.conf, written as Docker writes them.
// The builders are pure; writeEtc puts the three files in the container's directory, from
// where the runtime binds them over the image's.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgument } from '../errors.ts'
import { writeFileAtomic } from '../fsutil.ts'
import { formatIPv4, parseIPv4 } from './ipv4.ts'

/** The host's own names and resolvers, as they are (the host's network: loopback ones work). */
export async function writeHostEtcFiles(dir: string, hostname: string): Promise<void> {
  await writeFile(join(dir, 'hostname'), `${hostname}\n`)
  await writeFile(join(dir, 'hosts'), await readFile('/etc/hosts').catch(() => ''))
  await writeFile(join(dir, 'resolv.conf'), await readFile('/etc/resolv.conf').catch(() => ''))
}

/** A namespace of the container's own with loopback only: its name on 127.0.1.1. */
export async function writeOwnEtcFiles(dir: string, hostname: string): Promise<void> {
  await writeFile(join(dir, 'hostname'), `${hostname}\n`)
  await writeFile(join(dir, 'hosts'), hostsFile({ extraHosts: [], ip: '127.0.1.1', hostname }))
  await writeFile(join(dir, 'resolv.conf'), resolvConfFor(await readHostFile('/etc/resolv.conf')))
}

/** The host's resolv.conf without loopback resolvers (Google's when none is left). */
export function resolvConfFor(host: string): string {
  return resolvConf({ hostText: host })
}

/** The part of /etc/hosts every container gets (Docker's defaults). */
const HOSTS_DEFAULTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
]

export interface HostEntry {
  ip: string
  names: string[]
}

/**
 * `--add-host NAME:IP` entries (IP may be IPv6, or `host-gateway`, which becomes hostGateway).
 * Checked at create in Docker's words.
 */
export function parseExtraHosts(
  extra: string[] | null | undefined,
  hostGateway?: string,
): HostEntry[] {
  return (extra ?? []).map((e) => {
    const sep = e.indexOf(':')
    const eq = e.indexOf('=')
    const at = sep < 0 ? eq : eq < 0 ? sep : Math.min(sep, eq)
    if (at <= 0) throw new InvalidArgument(`bad format for add-host: "${e}"`)
    const name = e.slice(0, at)
    let ip = e.slice(at + 1).replace(/^\[(.*)\]$/, '$1')
    if (ip === 'host-gateway') {
      if (hostGateway === undefined) return { ip: 'host-gateway', names: [name] }
      ip = hostGateway
    } else if (parseIPv4(ip) === undefined && !isIPv6(ip)) {
      throw new InvalidArgument(`invalid IP address in add-host: "${ip}"`)
    }
    return { ip, names: [name] }
  })
}

function isIPv6(s: string): boolean {
  return /^[0-9a-fA-F:.]+$/.test(s) && s.includes(':') && s.split('::').length <= 2
}

/** Docker's /etc/hosts: defaults, added hosts, links, then the container's own name. */
export function hostsFile(opts: {
  extraHosts: HostEntry[]
  links?: HostEntry[]
  /** The container's address; none for `--network none`. */
  ip?: string
  /** Its IPv6 address on an --ipv6 network: a second line, as Docker writes it. */
  ip6?: string
  hostname: string
  domainname?: string
}): string {
  const lines = [...HOSTS_DEFAULTS]
  for (const e of [...opts.extraHosts, ...(opts.links ?? [])]) {
    lines.push(`${e.ip}\t${e.names.join(' ')}`)
  }
  if (opts.ip !== undefined) {
    const names = opts.domainname
      ? [`${opts.hostname}.${opts.domainname}`, opts.hostname]
      : [opts.hostname]
    lines.push(`${opts.ip}\t${names.join(' ')}`)
    if (opts.ip6 !== undefined) lines.push(`${opts.ip6}\t${names.join(' ')}`)
  }
  return lines.join('\n') + '\n'
}

/** The host's /etc/hosts with the added hosts after it (`--network host`). */
export function hostNetworkHosts(hostText: string, extraHosts: HostEntry[]): string {
  const base = hostText.replace(/\n*$/, '\n')
  return base + extraHosts.map((e) => `${e.ip}\t${e.names.join(' ')}\n`).join('')
}

interface ResolvParts {
  nameservers: string[]
  search: string[]
  options: string[]
  /** The host's file as it is, for the case where nothing is overridden. */
  text: string
}

export function parseResolvConf(text: string): ResolvParts {
  const parts: ResolvParts = { nameservers: [], search: [], options: [], text }
  for (const raw of text.split('\n')) {
    const f = raw.trim().split(/\s+/)
    if (f[0] === 'nameserver' && f[1]) parts.nameservers.push(f[1])
    else if ((f[0] === 'search' || f[0] === 'domain') && f.length > 1) parts.search = f.slice(1)
    else if (f[0] === 'options') parts.options.push(...f.slice(1))
  }
  return parts
}

function isLoopback(ns: string): boolean {
  return ns.startsWith('127.') || ns === '::1'
}

/** Google's resolvers, which Docker falls back to when the host names only loopback ones. */
const FALLBACK_DNS = ['8.8.8.8', '8.8.4.4']

/**
 * The resolvers a container on the default bridge uses, and the upstream servers that the
 * DNS server of a user network forwards to: --dns, or the host's without loopback ones.
 */
export function upstreamServers(hostText: string, dns: string[] | null | undefined): string[] {
  if (dns && dns.length > 0) return dns
  const own = parseResolvConf(hostText).nameservers.filter((n) => !isLoopback(n))
  return own.length > 0 ? own : FALLBACK_DNS
}

/**
 * Docker's /etc/resolv.conf. Without overrides, the host's file minus loopback resolvers;
 * with --dns, --dns-search or --dns-option, a file built from them (the host's parts where
 * one is not given). On a network with its own DNS server (`embedded`), that server is the
 * only nameserver and `ndots:0` is added unless an ndots option is given, as Docker does for
 * its 127.0.0.11.
 */
export function resolvConf(opts: {
  hostText: string
  dns?: string[] | null
  dnsSearch?: string[] | null
  dnsOptions?: string[] | null
  embedded?: string
}): string {
  const host = parseResolvConf(opts.hostText)
  const overridden =
    (opts.dns?.length ?? 0) > 0 ||
    (opts.dnsSearch?.length ?? 0) > 0 ||
    (opts.dnsOptions?.length ?? 0) > 0
  if (!overridden && opts.embedded === undefined) {
    const lines = host.text
      .split('\n')
      .filter((l) => !/^\s*nameserver\s/.test(l) || !isLoopback(l.trim().split(/\s+/)[1] ?? ''))
    let out = lines.join('\n').replace(/\n*$/, '\n')
    if (out === '\n') out = ''
    if (!host.nameservers.some((n) => !isLoopback(n))) {
      out += FALLBACK_DNS.map((n) => `nameserver ${n}\n`).join('')
    }
    return out
  }
  // Docker's `--dns-search .` means no search domains at all.
  const search = opts.dnsSearch?.length ? opts.dnsSearch.filter((s) => s !== '.') : host.search
  let options = opts.dnsOptions?.length ? [...opts.dnsOptions] : [...host.options]
  const nameservers =
    opts.embedded !== undefined ? [opts.embedded] : upstreamServers(opts.hostText, opts.dns)
  if (opts.embedded !== undefined && !options.some((o) => o.startsWith('ndots:'))) {
    options = [...options, 'ndots:0']
  }
  const lines: string[] = []
  if (search.length > 0) lines.push(`search ${search.join(' ')}`)
  for (const n of nameservers) lines.push(`nameserver ${n}`)
  if (options.length > 0) lines.push(`options ${options.join(' ')}`)
  return lines.join('\n') + '\n'
}

/** The three files, in dir (the container's directory). */
export interface EtcFiles {
  hostname: string
  hosts: string
  resolvConf: string
}

/**
 * Each file is replaced whole (the container may be reading it) but not synced: all three are
 * written again at every start, before the process that reads them runs, and no process outlives
 * the machine; so a crash that loses them loses nothing (six fsyncs less a start).
 */
export async function writeEtc(dir: string, files: EtcFiles): Promise<void> {
  const opts = { durable: false }
  await writeFileAtomic(join(dir, 'hostname'), files.hostname, 0o644, opts)
  await writeFileAtomic(join(dir, 'hosts'), files.hosts, 0o644, opts)
  await writeFileAtomic(join(dir, 'resolv.conf'), files.resolvConf, 0o644, opts)
}

export async function readHostFile(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '')
}

/** The address an `--add-host NAME:host-gateway` entry gets. */
export function hostGatewayIp(gateway: number | undefined): string {
  return gateway === undefined ? '127.0.0.1' : formatIPv4(gateway)
}
