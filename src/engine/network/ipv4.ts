// IPv4 addresses and subnets as unsigned 32-bit numbers: parsing in Docker's words, overlap
// tests, and the host's routes from /proc/net/route (the kernel's own table, no tool spawned).
import { readFile } from 'node:fs/promises'
import { InvalidArgument } from '../errors.ts'

/** A subnet: its network address (host bits zero) and prefix length. */
export interface Cidr {
  network: number
  prefix: number
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/

/** The address as a number, or undefined when it is not dotted-quad IPv4. */
export function parseIPv4(s: string): number | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  let n = 0
  for (const p of parts) {
    if (!OCTET.test(p)) return undefined
    const v = Number(p)
    if (v > 255) return undefined
    n = n * 256 + v
  }
  return n
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

/** Parses `A.B.C.D/N`; the address may have host bits set (Docker keeps the network part). */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/')
  if (slash < 0) return undefined
  const addr = parseIPv4(s.slice(0, slash))
  const bits = s.slice(slash + 1)
  if (addr === undefined || !/^[0-9]{1,2}$/.test(bits)) return undefined
  const prefix = Number(bits)
  if (prefix > 32) return undefined
  return { network: (addr & maskOf(prefix)) >>> 0, prefix }
}

/** Like parseCidr, but throws Docker's words for a subnet that does not parse. */
export function requireCidr(s: string, what = 'subnet'): Cidr {
  const c = parseCidr(s)
  if (c === undefined) {
    if (s.includes(':')) throw new InvalidArgument(`berth networks are IPv4 only: ${what} ${s}`)
    throw new InvalidArgument(`invalid ${what} ${s}: invalid CIDR address: ${s}`)
  }
  return c
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.network)}/${c.prefix}`
}

/** The last address of the subnet (its broadcast address). */
export function lastOf(c: Cidr): number {
  return (c.network | ~maskOf(c.prefix)) >>> 0
}

export function contains(c: Cidr, ip: number): boolean {
  return (ip & maskOf(c.prefix)) >>> 0 === c.network
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix)
  return (a.network & maskOf(p)) >>> 0 === (b.network & maskOf(p)) >>> 0
}

/** The 2nd address of a subnet, where Docker puts the gateway by default. */
export function defaultGateway(c: Cidr): number {
  return c.network + 1
}

/**
 * The host's IPv4 routes in the main table, default routes left out: the subnets a new
 * network must not take. The kernel writes addresses in /proc/net/route in host byte order
 * (little endian here) as 8 hex digits.
 */
export async function hostRoutes(path = '/proc/net/route'): Promise<Cidr[]> {
  const text = await readFile(path, 'utf8').catch(() => '')
  return parseProcRoutes(text)
}

export function parseProcRoutes(text: string): Cidr[] {
  const out: Cidr[] = []
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 8) continue
    const dst = leHex(f[1] as string)
    const mask = leHex(f[7] as string)
    if (dst === undefined || mask === undefined || mask === 0) continue
    const prefix = popcount(mask)
    out.push({ network: (dst & maskOf(prefix)) >>> 0, prefix })
  }
  return out
}

function leHex(h: string): number | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(h)) return undefined
  const v = Number.parseInt(h, 16)
  return (
    (((v & 0xff) << 24) | (((v >>> 8) & 0xff) << 16) | (((v >>> 16) & 0xff) << 8) | (v >>> 24)) >>>
    0
  )
}

function popcount(n: number): number {
  let c = 0
  for (let v = n >>> 0; v !== 0; v = (v & (v - 1)) >>> 0) c++
  return c
}

/** Docker's MAC for an address: 02:42 then the address's four bytes. */
export function macForIPv4(ip: number): string {
  const b = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255]
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':')
}

const MAC = /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/

/** A MAC address in Docker's canonical form (lower case, colons), or undefined. */
export function parseMac(s: string): string | undefined {
  if (!MAC.test(s)) return undefined
  return s.toLowerCase().replace(/-/g, ':')
}
