// What each instruction does to a stage's state, as BuildKit's dispatch does it: which fields are
// expanded and with which variables, and how ENV, ARG, LABEL, USER, WORKDIR, CMD, ENTRYPOINT,
// SHELL, VOLUME, EXPOSE, STOPSIGNAL, HEALTHCHECK, MAINTAINER and ONBUILD change the image config
// and its history. Pure: the instructions that change files (RUN, COPY, ADD, and WORKDIR's mkdir)
// are carried out in build.ts.
import { posix } from 'node:path'
import { parseSignal } from '../../lib/signal.ts'
import type { HistoryEntry, ImageConfig, ImageRunConfig } from '../image/types.ts'
import { DockerfileError, goQuote } from './errors.ts'
import type { ArgDef, Command, CopyCommand } from './instructions.ts'
import { EnvList, formatPlatform, givenArgs, type Platform } from './plan.ts'
import { Lexer } from './shell.ts'
import type { LayerRef } from './types.ts'

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
export const DEFAULT_SHELL = ['/bin/sh', '-c']

export interface StageState {
  config: ImageConfig & { config: ImageRunConfig }
  /** The environment steps see and variables expand in: the image's Env and the ARGs. */
  env: EnvList
  /** ARGs declared so far, with their values (RUN's history and cache key carry them). */
  buildArgs: ArgDef[]
  layers: LayerRef[]
  /** Whether this stage set CMD (an ENTRYPOINT after it keeps it). */
  cmdSet: boolean
}

function cloneConfig(c: ImageConfig): ImageConfig & { config: ImageRunConfig } {
  const copy = JSON.parse(JSON.stringify(c)) as ImageConfig
  return { ...copy, config: copy.config ?? {} }
}

/** The empty image a `FROM scratch` stage starts with. */
export function emptyConfig(p: Platform): ImageConfig & { config: ImageRunConfig } {
  return {
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    config: { Env: [DEFAULT_PATH], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  }
}

/** The state a stage starts in: from an image's config and layers, or from an earlier stage. */
export function initialState(
  base: { config: ImageConfig; layers: LayerRef[] } | StageState,
  fromStage: boolean,
): StageState {
  const config = cloneConfig(base.config)
  delete config.created
  delete config.container
  delete config.container_config
  delete config.docker_version
  const env = fromStage
    ? (base as StageState).env.clone()
    : EnvList.fromStrings(config.config.Env ?? [])
  if (!(config.config.Env ?? []).some((e) => e.startsWith('PATH='))) {
    config.config.Env = [...(config.config.Env ?? []), DEFAULT_PATH]
    if (env.get('PATH') === undefined) env.set('PATH', DEFAULT_PATH.slice(5))
  }
  // ONBUILD triggers run once, in the stage that builds on the image; they are not inherited.
  delete config.config.OnBuild
  return {
    config,
    env,
    buildArgs: fromStage ? [...(base as StageState).buildArgs] : [],
    layers: [...base.layers],
    cmdSet: false,
  }
}

/** Replaces KEY's entry in an image Env list in place, or appends it. */
export function addEnv(list: string[], k: string, v: string): string[] {
  const out = [...list]
  const i = out.findIndex((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e) === k)
  if (i >= 0) out[i] = `${k}=${v}`
  else out.push(`${k}=${v}`)
  return out
}

/** The shell form's argv: the image's SHELL (or /bin/sh -c) and the command. */
export function withShell(config: ImageRunConfig, args: string[]): string[] {
  const shell = config.Shell && config.Shell.length > 0 ? config.Shell : DEFAULT_SHELL
  return [...shell, args.join(' ')]
}

function goStrings(a: string[]): string {
  return `[${a.map(goQuote).join(' ')}]`
}

/**
 * The instruction with its variables expanded, for the instructions BuildKit expands (RUN's
 * command line is left to the shell; CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER
 * are taken as written; ARG expands its default when it is dispatched; EXPOSE splits words).
 */
export function expandCommand(cmd: Command, lex: Lexer, env: EnvList): Command {
  const x = (w: string) => lex.processWord(w, env)
  switch (cmd.kind) {
    case 'env':
      return { ...cmd, env: cmd.env.map((kv) => ({ ...kv, key: x(kv.key), value: x(kv.value) })) }
    case 'label':
      return {
        ...cmd,
        labels: cmd.labels.map((kv) => ({ ...kv, key: x(kv.key), value: x(kv.value) })),
      }
    case 'workdir':
      return { ...cmd, path: x(cmd.path) }
    case 'user':
      return { ...cmd, user: x(cmd.user) }
    case 'volume':
      return { ...cmd, volumes: cmd.volumes.map(x) }
    case 'stopsignal':
      return { ...cmd, signal: x(cmd.signal) }
    case 'copy':
    case 'add': {
      // Heredoc contents expand without quote processing, with the default escape.
      const raw = new Lexer('\\', { skipProcessQuotes: true })
      const c: CopyCommand = {
        ...cmd,
        chown: x(cmd.chown),
        chmod: x(cmd.chmod),
        checksum: cmd.kind === 'add' ? x(cmd.checksum) : cmd.checksum,
        srcs: cmd.srcs.map(x),
        dest: x(cmd.dest),
        contents: cmd.contents.map((s) =>
          s.expand ? { ...s, data: raw.processWord(s.data, env) } : s,
        ),
      }
      return c
    }
    case 'expose':
      return { ...cmd, ports: cmd.ports.flatMap((p) => lex.processWords(p, env)) }
    default:
      return cmd
  }
}

/** Docker's exposed-port syntax (moby nat.ParsePortSpecs as BuildKit uses it): "80/tcp" keys. */
export function parsePorts(ports: string[]): string[] {
  const out: string[] = []
  for (const raw of ports) {
    const parts = raw.split(':')
    const container = parts[parts.length - 1]!
    const slash = container.indexOf('/')
    const port = slash < 0 ? container : container.slice(0, slash)
    let proto = slash < 0 ? '' : container.slice(slash + 1)
    if (port === '') throw new DockerfileError(`invalid port: ${goQuote(raw)}: no port specified`)
    if (proto === '') proto = 'tcp'
    else if (!['tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) {
      throw new DockerfileError(`invalid port: ${goQuote(raw)}: invalid proto: ${proto}`)
    }
    const m = /^(\d+)(?:-(\d+))?$/.exec(port)
    const start = m ? Number(m[1]) : Number.NaN
    const end = m?.[2] !== undefined ? Number(m[2]) : start
    if (!m || start > 65535 || end > 65535 || end < start) {
      throw new DockerfileError(`invalid containerPort: ${port}`)
    }
    for (let p = start; p <= end; p++) out.push(`${p}/${proto.toLowerCase()}`)
  }
  return out
}

/** Go's Duration.String for the history line of HEALTHCHECK. */
function goDuration(ns: number | undefined): string {
  if (!ns) return '0s'
  const s = ns / 1e9
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = +(s % 60).toFixed(9)
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${sec}s`
}

export interface ArgContext {
  globalArgs: EnvList
  buildArgs: Record<string, string | null>
  lex: Lexer
  /** Names of the build args some ARG declared, for the "not consumed" warning. */
  used: Set<string>
}

/**
 * Applies a metadata instruction (already expanded) to the state; returns the history line, or
 * undefined for ONBUILD, which BuildKit records in the config only.
 */
export function applyMetadata(s: StageState, cmd: Command, args: ArgContext): string | undefined {
  const rc = s.config.config
  switch (cmd.kind) {
    case 'maintainer':
      s.config.author = cmd.maintainer
      return `MAINTAINER ${cmd.maintainer}`
    case 'env':
      for (const kv of cmd.env) {
        s.env.set(kv.key, kv.value)
        rc.Env = addEnv(rc.Env ?? [], kv.key, kv.value)
      }
      return `ENV ${cmd.env.map((kv) => `${kv.key}=${kv.value}`).join(' ')}`
    case 'label':
      rc.Labels = { ...(rc.Labels ?? {}) }
      for (const kv of cmd.labels) rc.Labels[kv.key] = kv.value
      return `LABEL ${cmd.labels.map((kv) => `${kv.key}=${kv.value}`).join(' ')}`
    case 'arg': {
      const given = givenArgs(args.buildArgs)
      const parts: string[] = []
      for (const a of cmd.args) {
        args.used.add(a.key)
        let value = a.value
        const hasValue = given.has(a.key)
        if (value === undefined && !hasValue) value = args.globalArgs.get(a.key)
        if (hasValue) value = given.get(a.key)
        else if (a.value !== undefined) value = args.lex.processWord(a.value, s.env)
        if (value !== undefined) s.env.set(a.key, value)
        s.buildArgs.push(value === undefined ? { key: a.key } : { key: a.key, value })
        parts.push(value === undefined ? a.key : `${a.key}=${value}`)
      }
      return `ARG ${parts.join(' ')}`
    }
    case 'user':
      rc.User = cmd.user
      return `USER ${cmd.user}`
    case 'volume':
      rc.Volumes = { ...(rc.Volumes ?? {}) }
      for (const v of cmd.volumes) {
        if (v === '') throw new DockerfileError('VOLUME specified can not be an empty string')
        rc.Volumes[v] = {}
      }
      return `VOLUME [${cmd.volumes.join(' ')}]`
    case 'stopsignal':
      try {
        parseSignal(cmd.signal)
      } catch {
        throw new DockerfileError(`Invalid signal: ${cmd.signal}`)
      }
      rc.StopSignal = cmd.signal
      return `STOPSIGNAL ${cmd.signal}`
    case 'shell':
      rc.Shell = [...cmd.shell]
      return `SHELL [${cmd.shell.join(' ')}]`
    case 'cmd': {
      const a = cmd.prependShell ? withShell(rc, cmd.cmdLine) : [...cmd.cmdLine]
      rc.Cmd = a
      s.cmdSet = true
      return `CMD ${goStrings(a)}`
    }
    case 'entrypoint': {
      const a = cmd.prependShell ? withShell(rc, cmd.cmdLine) : [...cmd.cmdLine]
      rc.Entrypoint = a.length === 0 ? null : a
      if (!s.cmdSet) rc.Cmd = null
      return `ENTRYPOINT ${goStrings(a)}`
    }
    case 'healthcheck': {
      const h = cmd.health
      rc.Healthcheck = { ...h, Test: [...h.Test] }
      if (h.Test[0] === 'NONE') return `HEALTHCHECK {Test:[NONE]}`
      return `HEALTHCHECK {Test:[${h.Test.join(' ')}] Interval:${goDuration(h.Interval)} Timeout:${goDuration(h.Timeout)} StartPeriod:${goDuration(h.StartPeriod)} StartInterval:${goDuration(h.StartInterval)} Retries:${h.Retries ?? 0}}`
    }
    case 'expose': {
      const ports = parsePorts(cmd.ports)
      rc.ExposedPorts = { ...(rc.ExposedPorts ?? {}) }
      for (const p of ports) rc.ExposedPorts[p] = {}
      return `EXPOSE [${ports.join(' ')}]`
    }
    case 'onbuild':
      rc.OnBuild = [...(rc.OnBuild ?? []), cmd.expression]
      return undefined
    default:
      throw new Error(`not a metadata instruction: ${cmd.kind}`)
  }
}

/** BuildKit's NormalizeWorkdir: relative to the current one, cleaned, absolute. */
export function normalizeWorkdir(current: string, requested: string): string {
  const p = requested.startsWith('/') ? requested : posix.join(current || '/', requested)
  const clean = posix.normalize(p)
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean
}

/** A COPY/ADD destination made absolute against the working directory, keeping a trailing slash. */
export function copyDestination(workdir: string, dest: string): string {
  const keepSlash = dest.endsWith('/') || dest === '.' || dest === ''
  const abs = posix.normalize(
    dest.startsWith('/') ? dest : posix.join(workdir || '/', dest === '' ? '.' : dest),
  )
  const trimmed = abs.length > 1 && abs.endsWith('/') ? abs.slice(0, -1) : abs
  return keepSlash && trimmed !== '/' ? `${trimmed}/` : trimmed
}

/** BuildKit's history line for RUN: `|N K=V ...` before the command when ARGs are set. */
export function runHistory(args: string[], buildArgs: ArgDef[], env: EnvList): string {
  const seen = new Map<string, number>()
  const kv: string[] = []
  for (const a of buildArgs) {
    const v = env.get(a.key) ?? a.value ?? ''
    const i = seen.get(a.key)
    if (i !== undefined) kv[i] = `${a.key}=${v}`
    else {
      seen.set(a.key, kv.length)
      kv.push(`${a.key}=${v}`)
    }
  }
  const prefix = kv.length > 0 ? [`|${kv.length}`, ...kv] : []
  return ['RUN', ...prefix, ...args].join(' ')
}

/** The history entry for a step, its time set when the image is made. */
export function historyEntry(createdBy: string, withLayer: boolean): HistoryEntry {
  return withLayer ? { created_by: createdBy } : { created_by: createdBy, empty_layer: true }
}

export function platformOf(s: StageState): Platform {
  return {
    os: s.config.os,
    architecture: s.config.architecture,
    ...(s.config.variant ? { variant: s.config.variant } : {}),
  }
}

export { formatPlatform }
