// Go's time.ParseDuration, the one duration grammar Docker uses everywhere (healthcheck
// options, --since/--until, `until` filters). Exact to the nanosecond, with Go's overflow
// rules and error words, so a value berth accepts is one dockerd accepts, and vice versa.
import { ParseError, goTimeQuote } from './errors.ts'

const UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
}

const MAX = 1n << 63n

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9'
}

/**
 * A Go duration ("300ms", "-1.5h", "2h45m") in nanoseconds. Throws ParseError with Go's
 * message: `time: invalid duration "x"`, `time: missing unit in duration "3"`,
 * `time: unknown unit "d" in duration "1d"`.
 */
export function parseDuration(orig: string): bigint {
  const invalid = (): ParseError => new ParseError(`time: invalid duration ${goTimeQuote(orig)}`)
  let s = orig
  let neg = false
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-'
    s = s.slice(1)
  }
  if (s === '0') return 0n
  if (s === '') throw invalid()
  let d = 0n
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) throw invalid()
    // [0-9]*: an integer that overflows is an error.
    let i = 0
    let v = 0n
    for (; isDigit(s[i]); i++) {
      if (v > MAX / 10n) throw invalid()
      v = v * 10n + BigInt(s.charCodeAt(i) - 48)
      if (v > MAX) throw invalid()
    }
    const pre = i > 0
    s = s.slice(i)
    // (\.[0-9]*)?: a fraction that overflows only stops gaining precision.
    let f = 0n
    let scale = 1
    let post = false
    if (s[0] === '.') {
      s = s.slice(1)
      let j = 0
      let overflow = false
      for (; isDigit(s[j]); j++) {
        if (overflow) continue
        if (f > (MAX - 1n) / 10n) {
          overflow = true
          continue
        }
        const y = f * 10n + BigInt(s.charCodeAt(j) - 48)
        if (y > MAX) {
          overflow = true
          continue
        }
        f = y
        scale *= 10
      }
      post = j > 0
      s = s.slice(j)
    }
    if (!pre && !post) throw invalid()
    let u = 0
    while (u < s.length && s[u] !== '.' && !isDigit(s[u])) u++
    if (u === 0) throw new ParseError(`time: missing unit in duration ${goTimeQuote(orig)}`)
    const name = s.slice(0, u)
    s = s.slice(u)
    const unit = UNITS[name]
    if (unit === undefined) {
      throw new ParseError(
        `time: unknown unit ${goTimeQuote(name)} in duration ${goTimeQuote(orig)}`,
      )
    }
    if (v > MAX / unit) throw invalid()
    v *= unit
    if (f > 0n) {
      // Go computes the fraction in float64 (exact to the nanosecond up to hours).
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)))
      if (v > MAX) throw invalid()
    }
    d += v
    if (d > MAX) throw invalid()
  }
  if (neg) return -d
  if (d > MAX - 1n) throw invalid()
  return d
}

/** parseDuration in milliseconds (a double: exact for any duration a person types). */
export function parseDurationMs(s: string): number {
  return Number(parseDuration(s)) / 1e6
}

/** Go's Duration.String: "0s", "500ms", "1.5µs", "1m30s", "1h0m0s" (nanoseconds in). */
export function formatDuration(nanos: number | bigint): string {
  let ns = BigInt(nanos)
  const sign = ns < 0n ? '-' : ''
  if (ns < 0n) ns = -ns
  if (ns === 0n) return '0s'
  const frac = (v: bigint, unit: bigint): string => {
    const whole = v / unit
    const rest = (v % unit).toString().padStart(unit.toString().length - 1, '0')
    const f = rest.replace(/0+$/, '')
    return f === '' ? `${whole}` : `${whole}.${f}`
  }
  if (ns < 1_000n) return `${sign}${ns}ns`
  if (ns < 1_000_000n) return `${sign}${frac(ns, 1_000n)}µs`
  if (ns < 1_000_000_000n) return `${sign}${frac(ns, 1_000_000n)}ms`
  const h = ns / 3_600_000_000_000n
  const m = (ns / 60_000_000_000n) % 60n
  const s = frac(ns % 60_000_000_000n, 1_000_000_000n)
  if (h > 0n) return `${sign}${h}h${m}m${s}s`
  if (m > 0n) return `${sign}${m}m${s}s`
  return `${sign}${s}s`
}
