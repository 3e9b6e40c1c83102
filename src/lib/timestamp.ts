// Docker's api/types/time: the times --since/--until and `until` filters take. A client turns
// what the user typed (a Go duration before now, a date in one of a few RFC 3339 shapes, or
// unix seconds) into "seconds[.nanoseconds]" with getTimestamp; the daemon reads that back
// with parseTimestamps.
import { parseDuration } from './duration.ts'
import { ParseError } from './errors.ts'

const RFC3339_LOCAL = '2006-01-02T15:04:05'
const RFC3339_NANO_LOCAL = '2006-01-02T15:04:05.999999999'
const RFC3339 = '2006-01-02T15:04:05Z07:00'
const RFC3339_NANO = '2006-01-02T15:04:05.999999999Z07:00'
const DATE_WITH_ZONE = '2006-01-02Z07:00'
const DATE_LOCAL = '2006-01-02'

/**
 * timetypes.GetTimestamp: `value` as a timestamp string the daemon takes. A duration means
 * that long before `nowMs` (whole seconds, as Docker sends it); a date without a zone is in
 * the local zone; anything else must be unix seconds, passed through as it is.
 */
export function getTimestamp(value: string, nowMs = Date.now()): string {
  if (value !== '0') {
    let d: bigint | undefined
    try {
      d = parseDuration(value)
    } catch {
      d = undefined
    }
    if (d !== undefined) {
      const ns = BigInt(Math.round(nowMs)) * 1_000_000n - d
      return String(floorDiv(ns, 1_000_000_000n))
    }
  }
  const parseInLocation = !(/[zZ+]/.test(value) || count(value, '-') === 3)
  let layout: string
  if (value.includes('.')) {
    layout = parseInLocation ? RFC3339_NANO_LOCAL : RFC3339_NANO
  } else if (value.includes('T')) {
    let colons = count(value, ':')
    // A zone offset (+07:00) brings a colon of its own.
    if (!parseInLocation && !/[zZ]/.test(value) && colons > 0) colons--
    if (parseInLocation) {
      layout = colons === 0 ? '2006-01-02T15' : colons === 1 ? '2006-01-02T15:04' : RFC3339_LOCAL
    } else {
      layout =
        colons === 0 ? '2006-01-02T15Z07:00' : colons === 1 ? '2006-01-02T15:04Z07:00' : RFC3339
    }
  } else {
    layout = parseInLocation ? DATE_LOCAL : DATE_WITH_ZONE
  }
  // A date without a zone is in the zone the local clock has now (time.FixedZone(ref.Zone())).
  const localOffset = -new Date(nowMs).getTimezoneOffset() * 60
  let t: { sec: bigint; nsec: number }
  try {
    t = parseGoTime(layout, value, parseInLocation ? localOffset : undefined)
  } catch (err) {
    // With a dash it was meant as a date, and the date parser's words are the useful ones.
    if (value.includes('-')) throw err
    try {
      parseTimestamp(value)
    } catch {
      throw new ParseError(`failed to parse value as time or duration: "${value}"`)
    }
    return value
  }
  return `${t.sec}.${String(t.nsec).padStart(9, '0')}`
}

/**
 * timetypes.ParseTimestamps: "seconds[.fraction]" as unix nanoseconds; `def` seconds when
 * the value is empty. Throws strconv's words for anything else.
 */
export function parseTimestamps(value: string, def = 0n): bigint {
  if (value === '') return def * 1_000_000_000n
  const { sec, nsec } = parseTimestamp(value)
  return sec * 1_000_000_000n + nsec
}

/**
 * What the daemon's `until` filters do with a value (GetTimestamp, then ParseTimestamps): any
 * of the client's forms, as unix nanoseconds.
 */
export function timestampNanos(value: string, nowMs = Date.now()): bigint {
  return parseTimestamps(getTimestamp(value, nowMs))
}

function parseTimestamp(value: string): { sec: bigint; nsec: bigint } {
  const dot = value.indexOf('.')
  const s = dot < 0 ? value : value.slice(0, dot)
  const sec = parseInt64(s)
  if (dot < 0) return { sec, nsec: 0n }
  const n = value.slice(dot + 1)
  const frac = parseInt64(n)
  // Go scales by 10^(9-len) in float64; for the usual 1 to 9 digits that is exact.
  const nsec = BigInt(Math.trunc(Number(frac) * Math.pow(10, 9 - n.length)))
  return { sec, nsec }
}

/** strconv.ParseInt(s, 10, 64) with its error words. */
function parseInt64(s: string): bigint {
  if (!/^[+-]?\d+$/.test(s)) {
    throw new ParseError(`strconv.ParseInt: parsing "${s}": invalid syntax`)
  }
  const v = BigInt(s)
  if (v > (1n << 63n) - 1n || v < -(1n << 63n)) {
    throw new ParseError(`strconv.ParseInt: parsing "${s}": value out of range`)
  }
  return v
}

function count(s: string, c: string): number {
  return s.split(c).length - 1
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q
}

// The layout elements the formats above use, as Go's time.Parse reads them.
const ELEMENTS = ['2006', '01', '02', '15', '04', '05', '.999999999', 'Z07:00']

function parseError(layout: string, value: string, elem: string, rest: string): ParseError {
  return new ParseError(
    `parsing time "${value}" as "${layout}": cannot parse "${rest}" as "${elem}"`,
  )
}

/**
 * Go's time.Parse for the layouts above: `zone` is the offset in seconds for a layout
 * without one. Returns unix seconds and nanoseconds.
 */
function parseGoTime(
  layout: string,
  value: string,
  zone: number | undefined,
): { sec: bigint; nsec: number } {
  const f = { year: 0, month: 1, day: 1, hour: 0, min: 0, sec: 0, nsec: 0, offset: zone ?? 0 }
  let rest = value
  let l = layout
  // Go reads the hour with one or two digits, every other number with exactly its width.
  const num = (elem: string, digits: number): number => {
    const m = (elem === '15' ? /^\d\d?/ : new RegExp(`^\\d{${digits}}`)).exec(rest)
    if (!m) throw parseError(layout, value, elem, rest)
    rest = rest.slice(m[0].length)
    return Number(m[0])
  }
  while (l !== '') {
    const elem = ELEMENTS.find((e) => l.startsWith(e))
    if (elem === undefined) {
      // A literal: it must be there as it is.
      const lit = l[0]!
      if (!rest.startsWith(lit)) throw parseError(layout, value, l.split(/(?=\d|\.|Z)/)[0]!, rest)
      rest = rest.slice(1)
      l = l.slice(1)
      continue
    }
    l = l.slice(elem.length)
    switch (elem) {
      case '2006':
        f.year = num(elem, 4)
        break
      case '01':
        f.month = num(elem, 2)
        if (f.month < 1 || f.month > 12) throw rangeError(value, 'month')
        break
      case '02':
        f.day = num(elem, 2)
        break
      case '15':
        f.hour = num(elem, 2)
        if (f.hour > 23) throw rangeError(value, 'hour')
        break
      case '04':
        f.min = num(elem, 2)
        if (f.min > 59) throw rangeError(value, 'minute')
        break
      case '05':
        f.sec = num(elem, 2)
        if (f.sec > 59) throw rangeError(value, 'second')
        break
      case '.999999999': {
        // Optional: a fraction of any length, kept to the nanosecond.
        const m = /^[.,](\d+)/.exec(rest)
        if (m) {
          f.nsec = Number(m[1]!.slice(0, 9).padEnd(9, '0'))
          rest = rest.slice(m[0].length)
        }
        break
      }
      case 'Z07:00': {
        if (rest[0] === 'Z') {
          f.offset = 0
          rest = rest.slice(1)
          break
        }
        const m = /^([+-])(\d\d):(\d\d)/.exec(rest)
        if (!m) throw parseError(layout, value, elem, rest)
        const hh = Number(m[2])
        const mm = Number(m[3])
        if (hh > 24 || mm > 60) throw rangeError(value, 'time zone offset')
        f.offset = (m[1] === '-' ? -1 : 1) * (hh * 3600 + mm * 60)
        rest = rest.slice(m[0].length)
        break
      }
    }
  }
  if (rest !== '') throw new ParseError(`parsing time "${value}": extra text: "${rest}"`)
  const daysIn = new Date(Date.UTC(f.year, f.month, 0)).getUTCDate()
  if (f.day < 1 || f.day > daysIn) throw rangeError(value, 'day')
  const utc = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.min, f.sec)
  // Date.UTC maps years 0-99 to 1900-1999; Go does not.
  const fixed = f.year < 100 ? new Date(utc).setUTCFullYear(f.year) : utc
  return { sec: BigInt(fixed / 1000) - BigInt(f.offset), nsec: f.nsec }
}

function rangeError(value: string, what: string): ParseError {
  return new ParseError(`parsing time "${value}": ${what} out of range`)
}
