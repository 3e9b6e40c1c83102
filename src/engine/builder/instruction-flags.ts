// Helpers for parsing instructions: flags, locations, key=value lists, sources, suggestions.
import { parseGoDuration } from '../../lib/units.ts'
import { DockerfileError, goQuote } from './errors.ts'
import { chompHeredoc, parseHeredoc, type Node } from './parser.ts'
import type { Location, KeyValue, SourceContent, ShellDependent } from './instruction-types.ts'

/** Levenshtein distance, for "did you mean" suggestions as BuildKit makes them. */
export function distance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!
    d[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return d[b.length]!
}

/** BuildKit's suggest.Search: the closest option within distance 2, in the value's case. */
export function suggest(value: string, options: readonly string[], caseSensitive: boolean): string {
  const v = caseSensitive ? value : value.toLowerCase()
  let match = ''
  let min = 3
  for (const o of options) {
    const opt = caseSensitive ? o : o.toLowerCase()
    if (v === opt) return ''
    const dist = distance(v, opt)
    if (dist < min) {
      min = dist
      match = caseSensitive
        ? opt
        : value === value.toLowerCase()
          ? opt.toLowerCase()
          : value === value.toUpperCase()
            ? opt.toUpperCase()
            : opt
    }
  }
  return match
}

export function withSuggestion(
  message: string,
  value: string,
  options: readonly string[],
  caseSensitive: boolean,
): string {
  const s = suggest(value, options, caseSensitive)
  return s === '' ? message : `${message} (did you mean ${s}?)`
}

export type FlagType = 'bool' | 'string' | 'strings'

/** An instruction's `--flags`, declared by the instruction then parsed (BuildKit's BFlags). */
export class Flags {
  private readonly defs = new Map<string, { type: FlagType; value: string; values: string[] }>()
  private readonly used = new Set<string>()

  constructor(private readonly args: string[]) {}

  bool(name: string, def = false): () => boolean {
    this.defs.set(name, { type: 'bool', value: def ? 'true' : 'false', values: [] })
    return () => this.defs.get(name)!.value === 'true'
  }
  string(name: string, def = ''): () => string {
    this.defs.set(name, { type: 'string', value: def, values: [] })
    return () => this.defs.get(name)!.value
  }
  strings(name: string): () => string[] {
    this.defs.set(name, { type: 'strings', value: '', values: [] })
    return () => this.defs.get(name)!.values
  }
  isUsed(name: string): boolean {
    return this.used.has(name)
  }

  parse(): void {
    for (const a of this.args) {
      if (a === '--') return
      if (!a.startsWith('--')) throw new DockerfileError(`arg should start with -- : ${a}`)
      const eq = a.indexOf('=')
      const flagName = eq < 0 ? a : a.slice(0, eq)
      const hasValue = eq >= 0
      const value = eq < 0 ? '' : a.slice(eq + 1)
      const name = flagName.slice(2)
      const def = this.defs.get(name)
      if (!def) {
        throw new DockerfileError(
          withSuggestion(`unknown flag: ${flagName}`, name, [...this.defs.keys()], true),
        )
      }
      if (this.used.has(name) && def.type !== 'strings') {
        throw new DockerfileError(`duplicate flag specified: ${flagName}`)
      }
      this.used.add(name)
      if (def.type === 'bool') {
        if (hasValue && value === '')
          throw new DockerfileError(`missing a value on flag: ${flagName}`)
        const v = value.toLowerCase()
        if (v === 'true' || v === '') def.value = 'true'
        else if (v === 'false') def.value = 'false'
        else
          throw new DockerfileError(`expecting boolean value for flag ${flagName}, not: ${value}`)
      } else {
        if (!hasValue) throw new DockerfileError(`missing a value on flag: ${flagName}`)
        if (def.type === 'string') def.value = value
        else def.values.push(value)
      }
    }
  }
}

export function errAtLeastOne(cmd: string): DockerfileError {
  return new DockerfileError(`${cmd} requires at least one argument`)
}
export function errExactlyOne(cmd: string): DockerfileError {
  return new DockerfileError(`${cmd} requires exactly one argument`)
}
export function errNoDestination(cmd: string): DockerfileError {
  return new DockerfileError(
    `${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`,
  )
}

export function location(node: Node): Location {
  return {
    startLine: node.startLine,
    endLine: node.endLine,
    original: node.original.trim(),
    keyword: node.keyword,
  }
}

export function kvps(args: string[], cmd: string): KeyValue[] {
  if (args.length === 0) throw errAtLeastOne(cmd)
  if (args.length % 3 !== 0) throw new DockerfileError(`Bad input to ${cmd}, too many arguments`)
  const out: KeyValue[] = []
  for (let i = 0; i < args.length; i += 3) {
    if (args[i] === '') throw new DockerfileError(`${cmd} names can not be blank`)
    out.push({ key: args[i]!, value: args[i + 1]!, noDelim: args[i + 2] === '' })
  }
  return out
}

export function shellDependent(node: Node, emptyAsNil: boolean): ShellDependent {
  let cmdLine = node.json ? node.args : node.args.length === 0 ? [] : [node.args.join(' ')]
  if (emptyAsNil && cmdLine.length === 0) cmdLine = []
  return {
    cmdLine,
    prependShell: !node.json,
    files: node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp })),
  }
}

export function sourcesAndDest(
  node: Node,
  cmd: string,
): { srcs: string[]; contents: SourceContent[]; dest: string } {
  const srcs = node.args.slice(0, -1)
  const dest = node.args[node.args.length - 1]!
  if (parseHeredoc(dest))
    throw new DockerfileError(`${cmd} cannot accept a heredoc as a destination`)
  const byName = new Map(node.heredocs.map((h) => [h.name, h]))
  const out = { srcs: [] as string[], contents: [] as SourceContent[], dest }
  for (const src of srcs) {
    const h = parseHeredoc(src)
    if (h) {
      let data = byName.get(h.name)?.content ?? ''
      if (h.chomp) data = chompHeredoc(data)
      out.contents.push({ path: h.name, data, expand: h.expand })
    } else {
      out.srcs.push(src)
    }
  }
  return out
}

/** Go's time.ParseDuration for HEALTHCHECK's flags, in nanoseconds; 0 when empty. */
export function interval(flag: string, value: string): number {
  if (value === '') return 0
  const ms = parseGoDuration(value)
  if (ms === undefined) throw new DockerfileError(`time: invalid duration ${goQuote(value)}`)
  if (ms === 0) return 0
  if (ms < 1) throw new DockerfileError(`Interval ${goQuote(flag)} cannot be less than 1ms`)
  return Math.round(ms * 1e6)
}
