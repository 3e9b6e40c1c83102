// `docker import --change` / `docker commit --change`: a few Dockerfile instructions applied to
// an image's run config, with the words and rules of moby's BuildFromConfig.
import { posix } from 'node:path'
import { parseDuration } from '../../lib/duration.ts'
import { InvalidArgument } from '../errors.ts'
import { parsed } from '../grammar.ts'
import type { HealthConfig, ImageRunConfig } from './types.ts'

const VALID = new Set([
  'cmd',
  'entrypoint',
  'healthcheck',
  'env',
  'expose',
  'label',
  'onbuild',
  'user',
  'volume',
  'workdir',
])

interface Instruction {
  cmd: string // lower case
  rest: string // everything after the keyword, trimmed
  original: string
}

/** Splits the changes as one Dockerfile: comments, blank lines and backslash continuations. */
function parseInstructions(changes: string[]): Instruction[] {
  const lines = changes.join('\n').split('\n')
  const out: Instruction[] = []
  let buf = ''
  const flush = () => {
    const line = buf.trim()
    buf = ''
    if (line === '') return
    const m = /^(\S+)\s*([\s\S]*)$/.exec(line)
    if (!m) return
    out.push({ cmd: m[1].toLowerCase(), rest: m[2].trim(), original: line })
  }
  for (const raw of lines) {
    const trimmed = raw.trimStart()
    if (buf === '' && trimmed.startsWith('#')) continue
    if (buf !== '' && (trimmed === '' || trimmed.startsWith('#'))) continue
    if (/\\\s*$/.test(raw)) {
      buf += raw.replace(/\\\s*$/, '')
      continue
    }
    buf += raw
    flush()
  }
  flush()
  return out
}

/** Splits on unquoted whitespace, keeping quotes and escapes for expandWord. */
function splitWords(s: string): string[] {
  const words: string[] = []
  let cur = ''
  let quote = ''
  let inWord = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (quote === '' && /\s/.test(c)) {
      if (inWord) words.push(cur)
      cur = ''
      inWord = false
      continue
    }
    inWord = true
    cur += c
    if (c === '\\' && quote !== "'" && i + 1 < s.length) {
      cur += s[++i]
    } else if (quote === '' && (c === '"' || c === "'")) {
      quote = c
    } else if (c === quote) {
      quote = ''
    }
  }
  if (inWord) words.push(cur)
  return words
}

function lookup(env: string[], name: string): string | undefined {
  for (let i = env.length - 1; i >= 0; i--) {
    const e = env[i]
    if (e.startsWith(name + '=')) return e.slice(name.length + 1)
  }
  return undefined
}

/** Quote removal and $VAR / ${VAR} / ${VAR:-x} / ${VAR:+x} expansion, as the Dockerfile lexer. */
export function expandWord(w: string, env: string[]): string {
  let out = ''
  let quote = ''
  for (let i = 0; i < w.length; i++) {
    const c = w[i]
    if (quote === "'") {
      if (c === "'") quote = ''
      else out += c
      continue
    }
    if (c === '\\' && i + 1 < w.length) {
      const n = w[i + 1]
      // Inside double quotes a backslash only escapes what the shell would.
      if (quote === '"' && !'"\\$'.includes(n)) out += c
      out += n
      i++
      continue
    }
    if (quote === '' && (c === '"' || c === "'")) {
      quote = c
      continue
    }
    if (quote === '"' && c === '"') {
      quote = ''
      continue
    }
    if (c === '$') {
      if (w[i + 1] === '{') {
        const end = w.indexOf('}', i + 2)
        if (end < 0) throw new InvalidArgument(`missing '}' in '${w}'`)
        const body = w.slice(i + 2, end)
        i = end
        const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([\s\S]*))?$/.exec(body)
        if (!m) throw new InvalidArgument(`invalid variable expansion: \${${body}}`)
        const v = lookup(env, m[1])
        if (m[2] === '-') out += v !== undefined && v !== '' ? v : expandWord(m[3], env)
        else if (m[2] === '+') out += v !== undefined && v !== '' ? expandWord(m[3], env) : ''
        else out += v ?? ''
        continue
      }
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(w.slice(i + 1))
      if (m) {
        out += lookup(env, m[0]) ?? ''
        i += m[0].length
        continue
      }
    }
    out += c
  }
  return out
}

function parseJsonArray(s: string): string[] | undefined {
  if (!s.startsWith('[')) return undefined
  try {
    const v: unknown = JSON.parse(s)
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[]
  } catch {
    // not JSON: the shell form
  }
  return undefined
}

/** name=value pairs (ENV, LABEL), or the legacy "name value" form. */
function parseNameVal(ins: Instruction, what: string, env: string[]): [string, string][] {
  const words = splitWords(ins.rest)
  if (words.length === 0) throw new InvalidArgument(`${what} requires at least one argument`)
  if (!words[0].includes('=')) {
    const m = /^(\S+)\s+([\s\S]+)$/.exec(ins.rest)
    if (!m) throw new InvalidArgument(`${what} must have two arguments`)
    return [[expandWord(m[1], env), expandWord(m[2], env)]]
  }
  return words.map((w) => {
    const eq = w.indexOf('=')
    if (eq < 0) {
      throw new InvalidArgument(
        `Syntax error - can't find = in "${w}". Must be of the form: name=value`,
      )
    }
    if (eq === 0) throw new InvalidArgument(`${what} names can not be blank`)
    return [expandWord(w.slice(0, eq), env), expandWord(w.slice(eq + 1), env)]
  })
}

function parsePorts(spec: string): string[] {
  const m = /^(?:(.*):)?([^/:]*)(?:\/(.*))?$/.exec(spec)
  const port = m?.[2] ?? ''
  const proto = (m?.[3] ?? 'tcp').toLowerCase()
  const range = /^(\d+)(?:-(\d+))?$/.exec(port)
  if (!range) throw new InvalidArgument(`Invalid containerPort: ${port}`)
  const lo = Number(range[1])
  const hi = range[2] !== undefined ? Number(range[2]) : lo
  if (lo > 65535 || hi > 65535 || hi < lo)
    throw new InvalidArgument(`Invalid containerPort: ${port}`)
  const out: string[] = []
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`)
  return out
}

/** Go's time.ParseDuration, in nanoseconds; InvalidArgument in Go's words. */
export function parseGoDuration(s: string): number {
  return Number(parsed(() => parseDuration(s)))
}

function parseHealthcheck(rest: string): HealthConfig {
  const words = splitWords(rest)
  const hc: HealthConfig = {}
  let i = 0
  for (; i < words.length && words[i].startsWith('--'); i++) {
    const m = /^--([a-z-]+)=(.*)$/.exec(words[i])
    if (!m) throw new InvalidArgument(`Unknown flag: ${words[i].slice(2)}`)
    const v = expandWord(m[2], [])
    switch (m[1]) {
      case 'interval':
        hc.Interval = parseGoDuration(v)
        break
      case 'timeout':
        hc.Timeout = parseGoDuration(v)
        break
      case 'start-period':
        hc.StartPeriod = parseGoDuration(v)
        break
      case 'start-interval':
        hc.StartInterval = parseGoDuration(v)
        break
      case 'retries':
        if (!/^-?\d+$/.test(v))
          throw new InvalidArgument(`strconv.ParseInt: parsing "${v}": invalid syntax`)
        hc.Retries = Number(v)
        if (hc.Retries < 0) throw new InvalidArgument('--retries cannot be negative')
        break
      default:
        throw new InvalidArgument(`Unknown flag: ${m[1]}`)
    }
  }
  const kind = (words[i] ?? '').toUpperCase()
  const after = rest.slice(rest.indexOf(words[i] ?? '') + (words[i] ?? '').length).trim()
  if (kind === 'NONE') {
    if (i !== 0 || after !== '') throw new InvalidArgument('HEALTHCHECK NONE takes no arguments')
    return { Test: ['NONE'] }
  }
  if (kind !== 'CMD') {
    if (kind === '') throw new InvalidArgument('HEALTHCHECK requires at least one argument')
    throw new InvalidArgument(`Unknown type "${kind}" in HEALTHCHECK (try CMD)`)
  }
  if (after === '') throw new InvalidArgument('Missing command after HEALTHCHECK CMD')
  const json = parseJsonArray(after)
  hc.Test = json ? ['CMD', ...json] : ['CMD-SHELL', after]
  return hc
}

/**
 * Applies the change lines to a copy of `base`. Throws InvalidArgument in Docker's words for a
 * command import/commit does not allow ("from is not a valid change command") or a bad argument.
 */
export function applyChanges(base: ImageRunConfig, changes: string[]): ImageRunConfig {
  const cfg: ImageRunConfig = structuredClone(base)
  if (changes.length === 0) return cfg
  const instructions = parseInstructions(changes)
  for (const ins of instructions) {
    if (!VALID.has(ins.cmd)) throw new InvalidArgument(`${ins.cmd} is not a valid change command`)
  }
  const shell = () => cfg.Shell ?? ['/bin/sh', '-c']
  let cmdSet = false
  for (const ins of instructions) {
    const env = cfg.Env ?? []
    switch (ins.cmd) {
      case 'cmd': {
        const json = parseJsonArray(ins.rest)
        cfg.Cmd = json ?? (ins.rest === '' ? shell() : [...shell(), ins.rest])
        cmdSet = true
        break
      }
      case 'entrypoint': {
        const json = parseJsonArray(ins.rest)
        if (json) cfg.Entrypoint = json
        else if (ins.rest === '') cfg.Entrypoint = null
        else cfg.Entrypoint = [...shell(), ins.rest]
        // An ENTRYPOINT resets a CMD inherited from before these changes, as in a build.
        if (!cmdSet) cfg.Cmd = null
        break
      }
      case 'env': {
        const out = [...env]
        for (const [k, v] of parseNameVal(ins, 'ENV', env)) {
          const i = out.findIndex((e) => e.split('=', 1)[0] === k)
          if (i >= 0) out[i] = `${k}=${v}`
          else out.push(`${k}=${v}`)
        }
        cfg.Env = out
        break
      }
      case 'label': {
        cfg.Labels = { ...(cfg.Labels ?? {}) }
        for (const [k, v] of parseNameVal(ins, 'LABEL', env)) cfg.Labels[k] = v
        break
      }
      case 'expose': {
        const words = splitWords(ins.rest)
        if (words.length === 0) throw new InvalidArgument('EXPOSE requires at least one argument')
        cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}) }
        for (const w of words)
          for (const p of parsePorts(expandWord(w, env))) cfg.ExposedPorts[p] = {}
        break
      }
      case 'user':
        if (ins.rest === '') throw new InvalidArgument('USER requires exactly one argument')
        cfg.User = expandWord(ins.rest, env)
        break
      case 'workdir': {
        if (ins.rest === '') throw new InvalidArgument('WORKDIR requires exactly one argument')
        const dir = expandWord(ins.rest, env)
        cfg.WorkingDir = dir.startsWith('/') ? dir : posix.join('/', cfg.WorkingDir ?? '', dir)
        break
      }
      case 'volume': {
        const vols = parseJsonArray(ins.rest) ?? splitWords(ins.rest).map((w) => expandWord(w, env))
        if (vols.length === 0) throw new InvalidArgument('VOLUME requires at least one argument')
        cfg.Volumes = { ...(cfg.Volumes ?? {}) }
        for (const v of vols) {
          if (v.trim() === '')
            throw new InvalidArgument('VOLUME specified can not be an empty string')
          cfg.Volumes[v.trim()] = {}
        }
        break
      }
      case 'onbuild': {
        const trigger = (/^\S+/.exec(ins.rest)?.[0] ?? '').toUpperCase()
        if (trigger === '') throw new InvalidArgument('ONBUILD requires at least one argument')
        if (trigger === 'ONBUILD')
          throw new InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if (trigger === 'FROM' || trigger === 'MAINTAINER') {
          throw new InvalidArgument(`${trigger} isn't allowed as an ONBUILD trigger`)
        }
        cfg.OnBuild = [...(cfg.OnBuild ?? []), ins.rest]
        break
      }
      case 'healthcheck':
        cfg.Healthcheck = parseHealthcheck(ins.rest)
        break
    }
  }
  return cfg
}
