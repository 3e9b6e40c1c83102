// IPv6 addresses and subnets as bigints (pure): parsing, the canonical text (RFC 5952, what
// Docker prints), containment and overlap, for user networks made with --ipv6.
import { randomBytes } from 'node:crypto'
import { isIPv6 } from 'node:net'
import { InvalidArgument } from '../errors.ts'

export interface Cidr6 {
  network: bigint
  prefix: number
}

const ALL = (1n << 128n) - 1n

/** An IPv6 address (no zone, no brackets), or undefined. */
export function parseIPv6(s: string): bigint | undefined {
  if (!isIPv6(s) || s.includes('%')) return undefined
  let text = s
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number]
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const groups = (t: string) => (t === '' ? [] : t.split(':'))
  const h = groups(head)
  const t = tail === undefined ? [] : groups(tail)
  const all =
    tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n)
}

/** RFC 5952's text: lower case, the longest run of two or more zero groups as `::`. */
export function formatIPv6(n: bigint): string {
  const g = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn))
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) {
      best = i
      bestLen = j - i
    }
    i = j
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':')
  if (best < 0) return hex(g)
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`
}

function maskOf(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL
}

/** `ADDR/PREFIX` with the host bits cleared, or undefined. */
export function parseCidr6(s: string): Cidr6 | undefined {
  const [addr, p, extra] = s.split('/')
  if (addr === undefined || p === undefined || extra !== undefined || !/^\d{1,3}$/.test(p))
    return undefined
  const prefix = Number(p)
  const ip = parseIPv6(addr)
  if (ip === undefined || prefix > 128) return undefined
  return { network: ip & maskOf(prefix), prefix }
}

export function requireCidr6(s: string, what = 'subnet'): Cidr6 {
  const c = parseCidr6(s)
  if (!c) throw new InvalidArgument(`invalid ${what} ${s}: invalid CIDR address: ${s}`)
  return c
}

export function formatCidr6(c: Cidr6): string {
  return `${formatIPv6(c.network)}/${c.prefix}`
}

export function contains6(c: Cidr6, ip: bigint): boolean {
  return (ip & maskOf(c.prefix)) === c.network
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const p = Math.min(a.prefix, b.prefix)
  return (a.network & maskOf(p)) === (b.network & maskOf(p))
}

export function lastOf6(c: Cidr6): bigint {
  return c.network | (~maskOf(c.prefix) & ALL)
}

/** Whether a string is meant as an IPv6 subnet (it has a colon). */
export function isV6Text(s: string): boolean {
  return s.includes(':')
}

/** A random unique local /64 (fdXX:XXXX:XXXX:XXXX::/64), as Docker 27+ picks for --ipv6. */
export function randomUla64(): Cidr6 {
  const b = randomBytes(7)
  let n = 0xfdn
  for (const x of b) n = (n << 8n) | BigInt(x)
  return { network: n << 64n, prefix: 64 }
}
