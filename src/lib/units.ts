// Ports of the docker/go-units helpers the docker CLI uses for sizes and ages, so that
// berth prints and reads exactly what docker prints and reads.
import { parseDurationMs } from './duration.ts'

const decimalAbbrs = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB']

// Go's %.*g: shortest of %e/%f at the given precision, trailing zeros removed.
export function goFormatG(v: number, precision: number): string {
  if (v === 0) return '0'
  const p = Math.max(precision, 1)
  const exp = Math.floor(Math.log10(Math.abs(Number(v.toPrecision(p)))))
  if (exp < -4 || exp >= p) {
    const [mant, e] = v.toExponential(p - 1).split('e')
    const m = mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant
    const n = Number(e)
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`
  }
  const s = v.toFixed(Math.max(p - 1 - exp, 0))
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s
}

export function humanSizeWithPrecision(size: number, precision: number): string {
  let i = 0
  while (size >= 1000 && i < decimalAbbrs.length - 1) {
    size /= 1000
    i++
  }
  return goFormatG(size, precision) + decimalAbbrs[i]
}

export function humanSize(size: number): string {
  return humanSizeWithPrecision(size, 4)
}

/** go-units HumanDuration; `ms` is a duration in milliseconds. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000)
  if (seconds < 1) return 'Less than a second'
  if (seconds === 1) return '1 second'
  if (seconds < 60) return `${seconds} seconds`
  const minutes = Math.trunc(ms / 60000)
  if (minutes === 1) return 'About a minute'
  if (minutes < 60) return `${minutes} minutes`
  const hoursF = ms / 3600000
  const hours = Math.trunc(hoursF + 0.5)
  if (hours === 1) return 'About an hour'
  if (hours < 48) return `${hours} hours`
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`
  return `${Math.trunc(Math.trunc(hoursF) / 24 / 365)} years`
}

/** "N ago" for a unix time in seconds, as docker's CreatedSince/RunningFor print it. */
export function since(unixSeconds: number, now = Date.now()): string {
  return humanDuration(now - unixSeconds * 1000) + ' ago'
}

/** Go's time.Time.String() for a unix time in UTC: "2006-01-02 15:04:05 +0000 UTC". */
export function goTimeString(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000)
  const p = (n: number) => String(n).padStart(2, '0')
  return (
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`
  )
}

/** RFC 3339 in UTC without fractional seconds, as Go's time.RFC3339 prints it. */
export function rfc3339(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
}

/** stringid.TruncateID */
export function truncateID(id: string): string {
  const i = id.indexOf(':')
  if (i >= 0) id = id.slice(i + 1)
  return id.length > 12 ? id.slice(0, 12) : id
}

/** docker's formatter.Ellipsis for plain strings (counts code points). */
export function ellipsis(s: string, max: number): string {
  if (max <= 0) return ''
  const rs = [...s]
  if (max === 1) return rs[0] ?? ''
  if (rs.length <= max) return s
  return rs.slice(0, max - 1).join('') + '…'
}

/** Go's strconv.Quote for the printable subset docker shows. */
export function goQuote(s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0
    if (ch === '"') out += '\\"'
    else if (ch === '\\') out += '\\\\'
    else if (ch === '\n') out += '\\n'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\r') out += '\\r'
    else if (c === 7) out += '\\a'
    else if (c === 8) out += '\\b'
    else if (c === 12) out += '\\f'
    else if (c === 11) out += '\\v'
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0')
    else out += ch
  }
  return out + '"'
}

/** Go's time.ParseDuration in milliseconds; undefined when it is not a duration. */
export function parseGoDuration(s: string): number | undefined {
  try {
    return parseDurationMs(s)
  } catch {
    return undefined
  }
}

const binaryAbbrs = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB']

/** go-units BytesSize: binary units, 4 significant digits. */
export function bytesSize(size: number): string {
  let i = 0
  while (size >= 1024 && i < binaryAbbrs.length - 1) {
    size /= 1024
    i++
  }
  return goFormatG(size, 4) + binaryAbbrs[i]
}

const sizeRe = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/

function parseSize(s: string, base: number): number | undefined {
  const m = sizeRe.exec(s)
  const n = Number(m?.[1])
  if (!m || Number.isNaN(n)) return undefined
  const unit = m[2] ? 'kmgtp'.indexOf(m[2].toLowerCase()) + 1 : 0
  return Math.trunc(n * base ** unit)
}

/** go-units RAMInBytes: "32m", "1.5g", "512" in binary units; undefined when not a size. */
export function ramInBytes(s: string): number | undefined {
  return parseSize(s, 1024)
}
