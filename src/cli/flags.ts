// Flag parsing with cobra/pflag's rules and error words: long flags with '=' or a separate
// value, combined shorthands (-it, -e=X, -eX), '--' terminator, and (for run/create/exec) flags
// stopping at the first positional argument.

export type FlagKind = 'bool' | 'string' | 'list' | 'int' | 'uint'

export interface FlagDef {
  long: string
  short?: string
  kind: FlagKind
  /** type name shown in help ("string", "list", "filter", "int"...); bool flags show none */
  typeName?: string
  def?: string | number | boolean
  /** the help's "(default ...)" where def does not give it (pflag prints the value's String()) */
  defText?: string
  desc: string
  hidden?: boolean
  /** int and uint: the bit size Go parses the value with (its range); 64 when not given */
  bits?: number
  /**
   * Checks one value as the flag's pflag Value.Set does, and returns what is stored (the same
   * string, or docker's normal form of it); throws an Error whose message docker prints after
   * `invalid argument "VALUE" for "FLAG" flag: `.
   */
  value?: (raw: string) => string
  /** stores into the flag named here (pflag: two names bound to one variable, e.g. --net) */
  into?: string
  /** docker's "version" annotation: the daemon API version the flag needs */
  minAPI?: string
  /** docker's "ostype" annotation: the daemon OS the flag is for */
  osType?: string
  /** docker's "experimental" annotation: needs a daemon with experimental features */
  experimental?: boolean
  /** docker's "swarm" annotation: only for a swarm manager (docker hides it otherwise) */
  swarm?: boolean
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>

export interface ParsedFlags {
  values: FlagValues
  changed: Set<string>
  args: string[]
  help: boolean
}

export class FlagError extends Error {}

/** strconv.ParseInt/ParseUint with base 0 (as pflag parses), as a bigint, or Go's error. */
export function parseGoInt(raw: string, signed: boolean, bits: number): bigint {
  const fn = signed ? 'strconv.ParseInt' : 'strconv.ParseUint'
  const err = (why: string) => new Error(`${fn}: parsing ${JSON.stringify(raw)}: ${why}`)
  const m =
    /^([+-]?)(0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)$/.exec(
      raw,
    )
  if (!m || (!signed && m[1] !== '')) throw err('invalid syntax')
  let digits = m[2].replaceAll('_', '')
  if (/^0[0-7]/.test(digits)) digits = '0o' + digits.slice(1)
  const v = m[1] === '-' ? -BigInt(digits) : BigInt(digits)
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n
  if (v > max || v < min) throw err('value out of range')
  return v
}

const trueWords = new Set(['1', 't', 'T', 'TRUE', 'true', 'True'])
const falseWords = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False'])

function flagName(f: FlagDef): string {
  return f.short ? `-${f.short}, --${f.long}` : `--${f.long}`
}

export function parseFlags(defs: FlagDef[], argv: string[], interspersed = true): ParsedFlags {
  const values: FlagValues = {}
  const changed = new Set<string>()
  const args: string[] = []
  let help = false
  for (const d of defs)
    values[d.long] =
      d.kind === 'list'
        ? []
        : (d.def ?? (d.kind === 'bool' ? false : d.kind === 'int' || d.kind === 'uint' ? 0 : ''))
  const byLong = new Map(defs.map((d) => [d.long, d]))
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short as string, d]))

  const set = (flag: FlagDef, raw: string) => {
    const d = (flag.into !== undefined ? byLong.get(flag.into) : undefined) ?? flag
    const invalid = (why: string) =>
      new FlagError(`invalid argument "${raw}" for "${flagName(flag)}" flag: ${why}`)
    changed.add(flag.long)
    changed.add(d.long)
    if (d.kind === 'bool') {
      if (trueWords.has(raw)) values[d.long] = true
      else if (falseWords.has(raw)) values[d.long] = false
      else throw invalid(`strconv.ParseBool: parsing "${raw}": invalid syntax`)
      return
    }
    let v = raw
    try {
      if (d.kind === 'int' || d.kind === 'uint') {
        values[d.long] = Number(parseGoInt(raw, d.kind === 'int', d.bits ?? 64))
        return
      }
      if (d.value) v = d.value(raw)
    } catch (e) {
      throw invalid((e as Error).message)
    }
    if (d.kind === 'list') (values[d.long] as string[]).push(v)
    else values[d.long] = v
  }

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') {
      args.push(...argv.slice(i + 1))
      break
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=')
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2)
      if (name === 'help') {
        help = true
        continue
      }
      const d = byLong.get(name)
      if (!d) throw new FlagError(`unknown flag: --${name}`)
      if (eq >= 0) set(d, a.slice(eq + 1))
      else if (d.kind === 'bool') set(d, 'true')
      else if (i + 1 < argv.length) set(d, argv[++i])
      else throw new FlagError(`flag needs an argument: --${name}`)
      continue
    }
    if (a.startsWith('-') && a.length > 1) {
      let rest = a.slice(1)
      while (rest.length > 0) {
        const c = rest[0]
        if (c === 'h' && !byShort.has('h')) {
          help = true
          rest = rest.slice(1)
          continue
        }
        const d = byShort.get(c)
        if (!d) throw new FlagError(`unknown shorthand flag: '${c}' in ${a}`)
        if (rest.length > 2 && rest[1] === '=') {
          set(d, rest.slice(2))
          rest = ''
        } else if (d.kind === 'bool') {
          set(d, 'true')
          rest = rest.slice(1)
        } else if (rest.length > 1) {
          set(d, rest.slice(1))
          rest = ''
        } else if (i + 1 < argv.length) {
          set(d, argv[++i])
          rest = ''
        } else throw new FlagError(`flag needs an argument: '${c}' in -${c}`)
      }
      continue
    }
    args.push(a)
    if (!interspersed) {
      args.push(...argv.slice(i + 1))
      break
    }
  }
  return { values, changed, args, help }
}

// pflag's wrap/wrapN, so help text breaks where docker's does
function wrapN(i: number, slop: number, s: string): [string, string] {
  if (i + slop > s.length) return [s, '']
  const head = s.slice(0, i)
  const w = Math.max(head.lastIndexOf(' '), head.lastIndexOf('\t'), head.lastIndexOf('\n'))
  if (w <= 0) return [s, '']
  const nl = head.lastIndexOf('\n')
  if (nl > 0 && nl < w) return [s.slice(0, nl), s.slice(nl + 1)]
  return [s.slice(0, w), s.slice(w + 1)]
}

function wrap(i: number, w: number, s: string): string {
  let r = ''
  let wr = w - i
  if (wr < 24) {
    i = 16
    wr = w - i
    r += '\n' + ' '.repeat(i)
  }
  if (wr < 24) return s.replace(/\n/g, r)
  const slop = 5
  wr -= slop
  const first = wrapN(wr, slop, s)
  const l = first[0]
  let rest = first[1]
  r += l.replace(/\n/g, '\n' + ' '.repeat(i))
  while (rest !== '') {
    let t: string
    ;[t, rest] = wrapN(wr, slop, rest)
    r += '\n' + ' '.repeat(i) + t.replace(/\n/g, '\n' + ' '.repeat(i))
  }
  return r
}

export function flagUsages(defs: FlagDef[], cols: number): string {
  const lines: string[] = []
  let maxlen = 0
  const visible = [...defs].filter((d) => !d.hidden).sort((a, b) => (a.long < b.long ? -1 : 1))
  for (const d of visible) {
    let line = d.short ? `  -${d.short}, --${d.long}` : `      --${d.long}`
    const tn = d.kind === 'bool' ? '' : (d.typeName ?? (d.kind === 'list' ? 'list' : d.kind))
    if (tn) line += ' ' + tn
    line += '\x00'
    if (line.length > maxlen) maxlen = line.length
    let usage = d.desc
    if (d.defText !== undefined) usage += ` (default ${d.defText})`
    else if (d.def !== undefined && d.def !== '' && d.def !== false && d.def !== 0) {
      usage += d.kind === 'string' ? ` (default "${d.def}")` : ` (default ${d.def})`
    }
    lines.push(line + usage)
  }
  let out = ''
  for (const line of lines) {
    const sidx = line.indexOf('\x00')
    out +=
      line.slice(0, sidx) +
      ' ' +
      ' '.repeat(maxlen - sidx) +
      ' ' +
      wrap(maxlen + 2, cols, line.slice(sidx + 1)) +
      '\n'
  }
  return out
}
