// The Dockerfile's second stage of parsing (BuildKit's frontend/dockerfile/instructions): each
// parsed node becomes a typed instruction with its flags checked, and the instructions are grouped
// into stages, with the ARGs before the first FROM kept apart as the global ("meta") args.
import { parseGoDuration } from '../../lib/units.ts'
import { DockerfileError, goQuote } from './errors.ts'
import { chompHeredoc, parse, parseHeredoc, type Directives, type Node } from './parser.ts'

export interface Location {
  /** 1-based lines of the instruction. */
  startLine: number
  endLine: number
  /** The instruction's text, continuations joined and trimmed. */
  original: string
  /** The keyword as written. */
  keyword: string
}

export interface KeyValue {
  key: string
  value: string
  /** The legacy `KEY value` form. */
  noDelim: boolean
}

export interface ArgDef {
  key: string
  value?: string
}

/** A file given inline by a heredoc. */
export interface InlineFile {
  name: string
  data: string
  chomp: boolean
}

export interface SourceContent {
  path: string
  data: string
  expand: boolean
}

export interface HealthConfig {
  Test: string[]
  /** Nanoseconds. */
  Interval?: number
  Timeout?: number
  StartPeriod?: number
  StartInterval?: number
  Retries?: number
}

interface ShellDependent {
  cmdLine: string[]
  prependShell: boolean
  files: InlineFile[]
}

export type CopyCommand = Location & {
  kind: 'copy' | 'add'
  srcs: string[]
  contents: SourceContent[]
  dest: string
  from: string
  chown: string
  chmod: string
  link: boolean
  excludes: string[]
  parents: boolean
  checksum: string
  keepGitDir?: boolean
  unpack?: boolean
}

export type RunCommand = Location &
  ShellDependent & {
    kind: 'run'
    /** --mount values as written; parseMount reads them once variables are known. */
    mounts: string[]
    network: 'default' | 'none' | 'host'
    security: 'sandbox' | 'insecure'
  }

export type Command =
  | (Location & { kind: 'env'; env: KeyValue[] })
  | (Location & { kind: 'label'; labels: KeyValue[] })
  | (Location & { kind: 'maintainer'; maintainer: string })
  | CopyCommand
  | (Location & { kind: 'onbuild'; expression: string })
  | (Location & { kind: 'workdir'; path: string })
  | RunCommand
  | (Location & ShellDependent & { kind: 'cmd' | 'entrypoint' })
  | (Location & { kind: 'healthcheck'; health: HealthConfig })
  | (Location & { kind: 'expose'; ports: string[] })
  | (Location & { kind: 'user'; user: string })
  | (Location & { kind: 'volume'; volumes: string[] })
  | (Location & { kind: 'stopsignal'; signal: string })
  | (Location & { kind: 'arg'; args: ArgDef[] })
  | (Location & { kind: 'shell'; shell: string[] })

export type ArgCommand = Extract<Command, { kind: 'arg' }>

export interface Stage extends Location {
  /** The `AS` name, lower case; '' when the stage has none. */
  name: string
  /** As written; expanded with the global args when the build is planned. */
  baseName: string
  platform: string
  commands: Command[]
}

export interface Dockerfile {
  stages: Stage[]
  metaArgs: ArgCommand[]
  escapeToken: string
  directives: Directives
  warnings: string[]
}

const INSTRUCTIONS = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
]

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/

/** Levenshtein distance, for "did you mean" suggestions as BuildKit makes them. */
function distance(a: string, b: string): number {
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

type FlagType = 'bool' | 'string' | 'strings'

/** An instruction's `--flags`, declared by the instruction then parsed (BuildKit's BFlags). */
class Flags {
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

function errAtLeastOne(cmd: string): DockerfileError {
  return new DockerfileError(`${cmd} requires at least one argument`)
}
function errExactlyOne(cmd: string): DockerfileError {
  return new DockerfileError(`${cmd} requires exactly one argument`)
}
function errNoDestination(cmd: string): DockerfileError {
  return new DockerfileError(
    `${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`,
  )
}

function location(node: Node): Location {
  return {
    startLine: node.startLine,
    endLine: node.endLine,
    original: node.original.trim(),
    keyword: node.keyword,
  }
}

function kvps(args: string[], cmd: string): KeyValue[] {
  if (args.length === 0) throw errAtLeastOne(cmd)
  if (args.length % 3 !== 0) throw new DockerfileError(`Bad input to ${cmd}, too many arguments`)
  const out: KeyValue[] = []
  for (let i = 0; i < args.length; i += 3) {
    if (args[i] === '') throw new DockerfileError(`${cmd} names can not be blank`)
    out.push({ key: args[i]!, value: args[i + 1]!, noDelim: args[i + 2] === '' })
  }
  return out
}

function shellDependent(node: Node, emptyAsNil: boolean): ShellDependent {
  let cmdLine = node.json ? node.args : node.args.length === 0 ? [] : [node.args.join(' ')]
  if (emptyAsNil && cmdLine.length === 0) cmdLine = []
  return {
    cmdLine,
    prependShell: !node.json,
    files: node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp })),
  }
}

function sourcesAndDest(
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
function interval(flag: string, value: string): number {
  if (value === '') return 0
  const ms = parseGoDuration(value)
  if (ms === undefined) throw new DockerfileError(`time: invalid duration ${goQuote(value)}`)
  if (ms === 0) return 0
  if (ms < 1) throw new DockerfileError(`Interval ${goQuote(flag)} cannot be less than 1ms`)
  return Math.round(ms * 1e6)
}

function parseCommand(node: Node): Command | Stage {
  const loc = location(node)
  const flags = new Flags(node.flags)
  const args = node.args
  switch (node.keyword.toLowerCase()) {
    case 'env':
      flags.parse()
      return { ...loc, kind: 'env', env: kvps(args, 'ENV') }
    case 'label':
      flags.parse()
      return { ...loc, kind: 'label', labels: kvps(args, 'LABEL') }
    case 'maintainer':
      if (args.length !== 1) throw errExactlyOne('MAINTAINER')
      flags.parse()
      return { ...loc, kind: 'maintainer', maintainer: args[0]! }
    case 'add':
    case 'copy': {
      const add = node.keyword.toLowerCase() === 'add'
      const cmd = add ? 'ADD' : 'COPY'
      if (args.length < 2) throw errNoDestination(cmd)
      const chown = flags.string('chown')
      const chmod = flags.string('chmod')
      const link = flags.bool('link')
      const excludes = flags.strings('exclude')
      const from = add ? () => '' : flags.string('from')
      const parents = add ? () => false : flags.bool('parents')
      const keepGit = add ? flags.bool('keep-git-dir') : () => false
      const checksum = add ? flags.string('checksum') : () => ''
      const unpack = add ? flags.bool('unpack') : () => false
      flags.parse()
      return {
        ...loc,
        kind: add ? 'add' : 'copy',
        ...sourcesAndDest(node, cmd),
        from: from(),
        chown: chown(),
        chmod: chmod(),
        link: link(),
        excludes: excludes(),
        parents: parents(),
        checksum: checksum(),
        ...(add && flags.isUsed('keep-git-dir') ? { keepGitDir: keepGit() } : {}),
        ...(add && flags.isUsed('unpack') ? { unpack: unpack() } : {}),
      }
    }
    case 'from': {
      let name = ''
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        name = args[2]!.toLowerCase()
        if (!STAGE_NAME.test(name)) {
          throw new DockerfileError(
            `invalid name for build stage: ${goQuote(args[2]!)}, name can't start with a number or contain symbols`,
          )
        }
      } else if (args.length !== 1) {
        throw new DockerfileError('FROM requires either one or three arguments')
      }
      const platform = flags.string('platform')
      flags.parse()
      return { ...loc, name, baseName: args[0]!, platform: platform(), commands: [] }
    }
    case 'onbuild': {
      if (args.length === 0) throw errAtLeastOne('ONBUILD')
      flags.parse()
      const trigger = args[0]!.trim().toUpperCase()
      if (trigger === 'ONBUILD') {
        throw new DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
      }
      if (trigger === 'MAINTAINER' || trigger === 'FROM') {
        throw new DockerfileError(`${trigger} isn't allowed as an ONBUILD trigger`)
      }
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, '')
      for (const h of node.heredocs) expression += `\n${h.content}${h.name}`
      return { ...loc, kind: 'onbuild', expression }
    }
    case 'workdir':
      if (args.length !== 1) throw errExactlyOne('WORKDIR')
      flags.parse()
      return { ...loc, kind: 'workdir', path: args[0]! }
    case 'run': {
      const mounts = flags.strings('mount')
      const network = flags.string('network', 'default')
      const security = flags.string('security', 'sandbox')
      flags.parse()
      const net = network()
      if (net !== 'default' && net !== 'none' && net !== 'host') {
        throw new DockerfileError(`invalid network mode ${goQuote(net)}`)
      }
      const sec = security()
      if (sec !== 'sandbox' && sec !== 'insecure') {
        throw new DockerfileError(`security mode ${goQuote(sec)} not supported`)
      }
      // Checked now for what needs no variables (a from= with one is refused here, as BuildKit does).
      for (const m of mounts()) parseMount(m, undefined)
      return {
        ...loc,
        kind: 'run',
        ...shellDependent(node, false),
        mounts: mounts(),
        network: net,
        security: sec,
      }
    }
    case 'cmd':
    case 'entrypoint': {
      flags.parse()
      const kind = node.keyword.toLowerCase() as 'cmd' | 'entrypoint'
      return { ...loc, kind, ...shellDependent(node, kind === 'entrypoint') }
    }
    case 'healthcheck':
      return { ...loc, kind: 'healthcheck', health: parseHealthcheck(node, flags) }
    case 'expose':
      if (args.length === 0) throw errAtLeastOne('EXPOSE')
      flags.parse()
      return { ...loc, kind: 'expose', ports: [...args].sort() }
    case 'user':
      if (args.length !== 1) throw errExactlyOne('USER')
      flags.parse()
      return { ...loc, kind: 'user', user: args[0]! }
    case 'volume': {
      if (args.length === 0) throw errAtLeastOne('VOLUME')
      flags.parse()
      const volumes = args.map((v) => v.trim())
      if (volumes.some((v) => v === '')) {
        throw new DockerfileError('VOLUME specified can not be an empty string')
      }
      return { ...loc, kind: 'volume', volumes }
    }
    case 'stopsignal':
      if (args.length !== 1) throw errExactlyOne('STOPSIGNAL')
      return { ...loc, kind: 'stopsignal', signal: args[0]! }
    case 'arg': {
      if (args.length < 1) throw errAtLeastOne('ARG')
      const defs: ArgDef[] = args.map((a) => {
        const eq = a.indexOf('=')
        if (eq < 0) return { key: a }
        if (eq === 0) throw new DockerfileError('ARG names can not be blank')
        return { key: a.slice(0, eq), value: a.slice(eq + 1) }
      })
      return { ...loc, kind: 'arg', args: defs }
    }
    case 'shell': {
      flags.parse()
      const sd = shellDependent(node, false)
      if (sd.cmdLine.length === 0) throw errAtLeastOne('SHELL')
      if (!node.json) throw new DockerfileError('SHELL requires the arguments to be in JSON form')
      return { ...loc, kind: 'shell', shell: sd.cmdLine }
    }
  }
  throw new DockerfileError(
    withSuggestion(`unknown instruction: ${node.keyword}`, node.keyword, INSTRUCTIONS, false),
  )
}

function parseHealthcheck(node: Node, flags: Flags): HealthConfig {
  if (node.args.length === 0) throw errAtLeastOne('HEALTHCHECK')
  let typ = node.args[0]!.toUpperCase()
  const rest = node.args.slice(1)
  if (typ === 'NONE') {
    if (rest.length !== 0) throw new DockerfileError('HEALTHCHECK NONE takes no arguments')
    return { Test: ['NONE'] }
  }
  const fInterval = flags.string('interval')
  const fTimeout = flags.string('timeout')
  const fStartPeriod = flags.string('start-period')
  const fStartInterval = flags.string('start-interval')
  const fRetries = flags.string('retries')
  flags.parse()
  if (typ !== 'CMD') {
    throw new DockerfileError(`Unknown type ${goQuote(typ)} in HEALTHCHECK (try CMD)`)
  }
  const cmd = node.json ? rest : rest.length === 0 ? [] : [rest.join(' ')]
  if (cmd.length === 0) throw new DockerfileError('Missing command after HEALTHCHECK CMD')
  if (!node.json) typ = 'CMD-SHELL'
  // Zero durations and retries are left out, as Docker's JSON omits them.
  const h: HealthConfig = { Test: [typ, ...cmd] }
  const durations: [keyof HealthConfig & string, string, string][] = [
    ['Interval', 'interval', fInterval()],
    ['Timeout', 'timeout', fTimeout()],
    ['StartPeriod', 'start-period', fStartPeriod()],
    ['StartInterval', 'start-interval', fStartInterval()],
  ]
  for (const [field, flag, value] of durations) {
    const ns = interval(flag, value)
    if (ns !== 0) (h as unknown as Record<string, number>)[field] = ns
  }
  if (fRetries() !== '') {
    const r = fRetries()
    if (!/^[-+]?\d+$/.test(r)) {
      throw new DockerfileError(`strconv.ParseInt: parsing ${goQuote(r)}: invalid syntax`)
    }
    const n = Number.parseInt(r, 10)
    if (n < 0) throw new DockerfileError(`--retries cannot be negative (${n})`)
    if (n !== 0) h.Retries = n
  }
  return h
}

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh'

export interface RunMount {
  type: MountType
  from: string
  source: string
  target: string
  readOnly: boolean
  /** Bytes; 0 for no limit. */
  sizeLimit: number
  cacheId: string
  sharing: '' | 'shared' | 'private' | 'locked'
  required: boolean
  env?: string
  mode?: number
  uid?: number
  gid?: number
}

const MOUNT_TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh']
const SHARING = ['shared', 'private', 'locked']
const MOUNT_KEYS = [
  'type',
  'from',
  'source',
  'target',
  'readonly',
  'id',
  'sharing',
  'required',
  'size',
  'mode',
  'uid',
  'gid',
  'src',
  'dst',
  'destination',
  'ro',
  'rw',
  'readwrite',
  'env',
]

/** Splits one CSV record (Go's encoding/csv rules: quoted fields, "" inside quotes). */
export function csvFields(s: string): string[] {
  const out: string[] = []
  let i = 0
  for (;;) {
    let field = ''
    if (s[i] === '"') {
      i++
      for (;;) {
        if (i >= s.length)
          throw new DockerfileError(
            `failed to parse csv mounts: extraneous or missing " in quoted-field`,
          )
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"'
            i += 2
            continue
          }
          i++
          break
        }
        field += s[i++]
      }
      if (i < s.length && s[i] !== ',') {
        throw new DockerfileError(
          `failed to parse csv mounts: extraneous or missing " in quoted-field`,
        )
      }
    } else {
      while (i < s.length && s[i] !== ',') {
        if (s[i] === '"')
          throw new DockerfileError(`failed to parse csv mounts: bare " in non-quoted-field`)
        field += s[i++]
      }
    }
    out.push(field)
    if (i >= s.length) return out
    i++ // the comma
  }
}

function parseBoolGo(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false
  return undefined
}

/** go-units RAMInBytes: a size with an optional binary unit (k, m, g, ...; b and i optional). */
function ramInBytes(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)(?:[iI]?[bB])?$/.exec(v)
  if (!m) return undefined
  const mult: Record<string, number> = {
    '': 1,
    k: 1024,
    m: 1024 ** 2,
    g: 1024 ** 3,
    t: 1024 ** 4,
    p: 1024 ** 5,
  }
  return Math.floor(Number(m[1]) * mult[m[2]!.toLowerCase()]!)
}

/**
 * One `--mount` value. Without `expand`, only checks what needs no variables (as BuildKit does
 * while parsing); with it, every value is expanded and the whole mount read.
 */
export function parseMount(value: string, expand: ((w: string) => string) | undefined): RunMount {
  const m: RunMount = {
    type: 'bind',
    from: '',
    source: '',
    target: '',
    readOnly: false,
    sizeLimit: 0,
    cacheId: '',
    sharing: '',
    required: false,
  }
  let roAuto = true
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=')
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase()
    let v = eq < 0 ? '' : field.slice(eq + 1)
    if (eq < 0) {
      if (!expand) continue
      if (key === 'readonly' || key === 'ro') {
        m.readOnly = true
        roAuto = false
        continue
      }
      if (key === 'readwrite' || key === 'rw') {
        m.readOnly = false
        roAuto = false
        continue
      }
      if (key === 'required') {
        if (m.type === 'secret' || m.type === 'ssh') {
          m.required = true
          continue
        }
        throw new DockerfileError(`unexpected key '${key}' for mount type '${m.type}'`)
      }
      throw new DockerfileError(`invalid field '${field}' must be a key=value pair`)
    }
    if (expand) v = expand(v)
    else if (key === 'from') {
      const idx = v.indexOf('$')
      if (idx !== -1 && idx !== v.length - 1) {
        throw new DockerfileError(
          `'${key}' doesn't support variable expansion, define alias stage instead`,
        )
      }
      // Kept unexpanded, so the stage graph can be drawn before variables are known.
      m.from = v
      continue
    } else continue
    const bool = () => {
      const b = parseBoolGo(v)
      if (b === undefined) throw new DockerfileError(`invalid value for ${key}: ${v}`)
      return b
    }
    const uint = (base: number, what: string) => {
      const ok = base === 8 ? /^[0-7]+$/.test(v) : /^\d+$/.test(v)
      const n = Number.parseInt(v, base)
      if (!ok || n > 0xffffffff) throw new DockerfileError(`invalid value ${v} for ${what}`)
      return n
    }
    switch (key) {
      case 'type': {
        const t = v.toLowerCase()
        if (!MOUNT_TYPES.includes(t)) {
          throw new DockerfileError(
            withSuggestion(`unsupported mount type ${goQuote(v)}`, v, MOUNT_TYPES, true),
          )
        }
        m.type = t as MountType
        break
      }
      case 'from':
        m.from = v
        break
      case 'source':
      case 'src':
        m.source = v
        break
      case 'target':
      case 'dst':
      case 'destination':
        m.target = v
        break
      case 'readonly':
      case 'ro':
        m.readOnly = bool()
        roAuto = false
        break
      case 'readwrite':
      case 'rw':
        m.readOnly = !bool()
        roAuto = false
        break
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') {
          throw new DockerfileError(`unexpected key '${key}' for mount type '${m.type}'`)
        }
        m.required = bool()
        break
      case 'size': {
        if (m.type !== 'tmpfs') {
          throw new DockerfileError(`unexpected key '${key}' for mount type '${m.type}'`)
        }
        const n = ramInBytes(v)
        if (n === undefined) throw new DockerfileError(`invalid value for ${key}: ${v}`)
        m.sizeLimit = n
        break
      }
      case 'id':
        m.cacheId = v
        break
      case 'sharing': {
        const s = v.toLowerCase()
        if (!SHARING.includes(s)) {
          throw new DockerfileError(
            withSuggestion(`unsupported sharing value ${goQuote(v)}`, v, SHARING, true),
          )
        }
        m.sharing = s as RunMount['sharing']
        break
      }
      case 'mode':
        m.mode = uint(8, 'mode')
        break
      case 'uid':
        m.uid = uint(10, 'uid')
        break
      case 'gid':
        m.gid = uint(10, 'gid')
        break
      case 'env':
        m.env = v
        break
      default:
        throw new DockerfileError(
          withSuggestion(`unexpected key '${key}' in '${field}'`, key, MOUNT_KEYS, true),
        )
    }
  }
  if (!expand) return m
  if (m.type !== 'secret' && m.type !== 'ssh' && m.type !== 'cache') {
    for (const k of ['mode', 'uid', 'gid'] as const) {
      if (m[k] !== undefined)
        throw new DockerfileError(`${k} not allowed for ${goQuote(m.type)} type mounts`)
    }
  }
  if (roAuto) m.readOnly = !(m.type === 'cache' || m.type === 'tmpfs')
  if (m.type === 'secret') {
    if (m.from !== '') throw new DockerfileError('secret mount should not have a from')
    if (m.sharing !== '') throw new DockerfileError('secret mount should not define sharing')
    if (m.source === '' && m.target === '' && m.cacheId === '') {
      throw new DockerfileError('invalid secret mount. one of source, target required')
    }
    if (m.source !== '' && m.cacheId !== '')
      throw new DockerfileError("both source and id can't be set")
  }
  if (m.sharing !== '' && m.type !== 'cache') {
    throw new DockerfileError(`invalid cache sharing set for ${m.type} mount`)
  }
  return m
}

/** The line-prefixed words BuildKit wraps an instruction's parse error in. */
function parseError(err: unknown, node: Node): unknown {
  if (!(err instanceof DockerfileError)) return err
  const e = new DockerfileError(`dockerfile parse error on line ${node.startLine}: ${err.message}`)
  e.startLine = node.startLine
  e.endLine = node.endLine
  return e
}

/** Parses one instruction node (ONBUILD triggers are parsed again this way when they fire). */
export function parseInstruction(node: Node): Command | Stage {
  try {
    return parseCommand(node)
  } catch (err) {
    if (err instanceof DockerfileError && err.startLine === undefined) {
      err.startLine = node.startLine
      err.endLine = node.endLine
    }
    throw err
  }
}

/** Parses a Dockerfile into its stages and global args. */
export function parseDockerfile(text: string): Dockerfile {
  if (text.length === 0) throw new DockerfileError('the Dockerfile cannot be empty')
  const parsed = parse(text)
  const stages: Stage[] = []
  const metaArgs: ArgCommand[] = []
  for (const node of parsed.nodes) {
    let cmd: Command | Stage
    try {
      cmd = parseInstruction(node)
    } catch (err) {
      throw parseError(err, node)
    }
    if ('commands' in cmd) {
      stages.push(cmd)
      continue
    }
    if (stages.length === 0) {
      if (cmd.kind === 'arg') {
        metaArgs.push(cmd)
        continue
      }
      const e = new DockerfileError('no build stage in current context')
      e.startLine = node.startLine
      e.endLine = node.endLine
      throw e
    }
    stages[stages.length - 1]!.commands.push(cmd)
  }
  if (stages.length === 0) throw new DockerfileError('dockerfile contains no stages to build')
  return {
    stages,
    metaArgs,
    escapeToken: parsed.escapeToken,
    directives: parsed.directives,
    warnings: parsed.warnings,
  }
}
