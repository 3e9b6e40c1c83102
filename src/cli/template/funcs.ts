// Go's builtin template functions plus the ones docker adds (templates.basicFunctions).
import { formatValue, isTrue, NO_VALUE, toPlain } from './exec.ts'
import type { Func } from './exec.ts'

function str(v: unknown): string {
  return typeof v === 'string' ? v : formatValue(v)
}

function num(v: unknown, fn: string): number {
  if (typeof v === 'number') return v
  throw new Error(`${fn}: expected a number, got ${formatValue(v)}`)
}

function goJSON(v: unknown): string {
  return JSON.stringify(toPlain(v)) ?? 'null'
}

function compareBasic(a: unknown, b: unknown): boolean {
  if (a === NO_VALUE) a = null
  if (b === NO_VALUE) b = null
  if (typeof a !== typeof b && !(a === null || b === null))
    throw new Error('incompatible types for comparison')
  return a === b
}

function ordered(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0
  throw new Error('incompatible types for comparison')
}

/** A subset of Go's fmt verbs: %v %s %d %q %t %x %X %f %e %g %c %%, with width, '-' and precision. */
export function sprintf(format: string, ...args: unknown[]): string {
  let ai = 0
  return format.replace(
    /%([-+ #0]*)(\d+|\*)?(?:\.(\d+|\*))?([a-zA-Z%])/g,
    (m, flags: string, w, p, verb: string) => {
      if (verb === '%') return '%'
      if (w === '*') w = String(args[ai++])
      if (p === '*') p = String(args[ai++])
      if (ai >= args.length) return `%!${verb}(MISSING)`
      const a = args[ai++]
      let s: string
      switch (verb) {
        case 'v':
        case 's':
          s = str(a)
          if (p !== undefined) s = [...s].slice(0, Number(p)).join('')
          break
        case 'd':
          s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${typeof a}=${str(a)})`
          break
        case 'q':
          s = JSON.stringify(str(a))
          break
        case 't':
          s = typeof a === 'boolean' ? String(a) : `%!t(${typeof a}=${str(a)})`
          break
        case 'x':
        case 'X':
          s = typeof a === 'number' ? a.toString(16) : Buffer.from(str(a)).toString('hex')
          if (verb === 'X') s = s.toUpperCase()
          break
        case 'f':
        case 'F':
          s = num(a, 'printf').toFixed(p === undefined ? 6 : Number(p))
          break
        case 'e':
          s = num(a, 'printf')
            .toExponential(p === undefined ? 6 : Number(p))
            .replace(/e([+-])(\d)$/, 'e$10$2')
          break
        case 'g':
          s = str(a)
          break
        case 'c':
          s = String.fromCodePoint(num(a, 'printf'))
          break
        default:
          return m
      }
      const width = w === undefined ? 0 : Number(w)
      const len = [...s].length
      if (len < width)
        s = flags.includes('-') ? s + ' '.repeat(width - len) : ' '.repeat(width - len) + s
      return s
    },
  )
}

export const builtinFuncs: Record<string, Func> = {
  and: (...a) => {
    for (const x of a) if (!isTrue(x)) return x
    return a[a.length - 1]
  },
  or: (...a) => {
    for (const x of a) if (isTrue(x)) return x
    return a[a.length - 1]
  },
  not: (a) => !isTrue(a),
  len: (a) => {
    if (typeof a === 'string') return Buffer.byteLength(a)
    if (Array.isArray(a)) return a.length
    if (a && typeof a === 'object') return Object.keys(a).length
    throw new Error(`len of type ${typeof a}`)
  },
  index: (item, ...keys) => {
    let v = item
    for (const k of keys) {
      if (Array.isArray(v)) {
        const i = num(k, 'index')
        if (i < 0 || i >= v.length) throw new Error(`index out of range: ${i}`)
        v = v[i]
      } else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>
        if (Object.prototype.hasOwnProperty.call(o, String(k))) v = o[String(k)]
        else {
          // a missing key yields the map's zero value: "" for string maps such as Labels
          const vals = Object.values(o)
          v = vals.length > 0 && vals.every((x) => typeof x === 'string') ? '' : NO_VALUE
        }
      } else if (v === null || v === NO_VALUE || v === undefined) {
        throw new Error('index of untyped nil')
      } else throw new Error(`can't index item of type ${typeof v}`)
    }
    return v
  },
  slice: (item, ...idx) => {
    if (typeof item !== 'string' && !Array.isArray(item))
      throw new Error(`can't slice item of type ${typeof item}`)
    const [a, b] = idx.map((x) => num(x, 'slice'))
    return item.slice(a ?? 0, b)
  },
  eq: (a, ...bs) => {
    if (bs.length === 0) throw new Error('missing argument for comparison')
    return bs.some((b) => compareBasic(a, b))
  },
  ne: (a, b) => !compareBasic(a, b),
  lt: (a, b) => ordered(a, b) < 0,
  le: (a, b) => ordered(a, b) <= 0,
  gt: (a, b) => ordered(a, b) > 0,
  ge: (a, b) => ordered(a, b) >= 0,
  print: (...a) =>
    a
      .map(
        (x, i) =>
          (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + str(x),
      )
      .join(''),
  println: (...a) => a.map(str).join(' ') + '\n',
  printf: (f, ...a) => sprintf(str(f), ...a),
  html: (...a) =>
    a
      .map(str)
      .join('')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&#34;')
      .replace(/'/g, '&#39;'),
  js: (...a) => JSON.stringify(a.map(str).join('')).slice(1, -1),
  urlquery: (...a) => encodeURIComponent(a.map(str).join('')),
  call: (f, ...a) => {
    if (typeof f !== 'function') throw new Error('non-function of type ' + typeof f)
    return (f as Func)(...a)
  },
}

// docker's templates.basicFunctions
export const dockerFuncs: Record<string, Func> = {
  ...builtinFuncs,
  json: (v) => goJSON(v),
  split: (s, sep) => {
    const a = str(s)
    const b = str(sep)
    return b === '' ? [...a] : a.split(b)
  },
  join: (a, sep) => {
    if (!Array.isArray(a))
      throw new Error(`wrong type for value; expected []string; got ${typeof a}`)
    return a.map(str).join(str(sep))
  },
  title: (s) =>
    str(s).replace(
      /(^|[^\p{L}\p{N}_'])(\p{L})/gu,
      (_m, p: string, c: string) => p + c.toUpperCase(),
    ),
  lower: (s) => str(s).toLowerCase(),
  upper: (s) => str(s).toUpperCase(),
  pad: (s, prefix, suffix) => {
    const v = str(s)
    if (v === '') return v
    return ' '.repeat(num(prefix, 'pad')) + v + ' '.repeat(num(suffix, 'pad'))
  },
  truncate: (s, n) => {
    const v = str(s)
    const l = num(n, 'truncate')
    return Buffer.byteLength(v) < l ? v : Buffer.from(v).subarray(0, l).toString()
  },
}

// docker's templates.HeaderFunctions: applied when a table header row is rendered, so that
// functions used on values leave the header names readable.
export const headerFuncs: Record<string, Func> = {
  ...dockerFuncs,
  json: () => '',
  split: (s) => s,
  join: (s) => s,
  title: (s) => s,
  lower: (s) => s,
  upper: (s) => s,
  pad: (s) => s,
  truncate: (s) => s,
}
