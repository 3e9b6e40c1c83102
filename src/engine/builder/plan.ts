// From a parsed Dockerfile to what must be built, as BuildKit's dockerfile2llb decides it: the
// global args (predefined platform args, ARGs before FROM, --build-arg), each stage's base (an
// image, scratch, or an earlier stage), the stages its COPY --from and RUN --mount from= need, the
// target, and only the stages the target reaches. No I/O: images are named, not looked up.
import { DockerfileError, goQuote } from './errors.ts'
import {
  parseMount,
  withSuggestion,
  type ArgCommand,
  type Command,
  type Dockerfile,
  type Stage,
} from './instructions.ts'
import { Lexer, type EnvGetter } from './shell.ts'

/** An ordered environment where setting a name again moves it to the end (BuildKit's EnvList). */
export class EnvList implements EnvGetter {
  private entries: [string, string][] = []

  constructor(list: readonly [string, string][] = []) {
    for (const [k, v] of list) this.set(k, v)
  }

  static fromStrings(env: readonly string[]): EnvList {
    const e = new EnvList()
    for (const kv of env) {
      const eq = kv.indexOf('=')
      e.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1))
    }
    return e
  }

  set(k: string, v: string): void {
    this.entries = this.entries.filter(([key]) => key !== k)
    this.entries.push([k, v])
  }

  get(k: string): string | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--)
      if (this.entries[i]![0] === k) return this.entries[i]![1]
    return undefined
  }

  keys(): string[] {
    return this.entries.map(([k]) => k)
  }

  toStrings(): string[] {
    return this.entries.map(([k, v]) => `${k}=${v}`)
  }

  clone(): EnvList {
    return new EnvList(this.entries)
  }
}

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join('/')
}

/** containerd's platform parsing for what a build can ask: os/arch[/variant], normalised. */
export function parsePlatform(s: string): Platform {
  const parts = s.toLowerCase().split('/')
  if (parts.length < 1 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_-]+$/.test(p))) {
    throw new DockerfileError(
      `${goQuote(s)}: unknown operating system or architecture: invalid argument`,
    )
  }
  const archNames: Record<string, string> = {
    x86_64: 'amd64',
    'x86-64': 'amd64',
    aarch64: 'arm64',
    armhf: 'arm',
    i386: '386',
  }
  if (parts.length === 1) {
    const only = archNames[parts[0]!] ?? parts[0]!
    if (only === 'linux') return { os: 'linux', architecture: hostPlatform().architecture }
    return { os: 'linux', architecture: only }
  }
  const arch = archNames[parts[1]!] ?? parts[1]!
  const p: Platform = { os: parts[0]!, architecture: arch }
  if (
    parts[2] !== undefined &&
    !(arch === 'arm64' && parts[2] === 'v8') &&
    !(arch === 'amd64' && parts[2] === 'v1')
  ) {
    p.variant = parts[2]
  }
  return p
}

export function hostPlatform(): Platform {
  const arch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  }
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch }
}

export type Source = { kind: 'stage'; index: number } | { kind: 'image'; ref: string }

export interface PlannedCommand {
  cmd: Command
  /** COPY --from's source. */
  from?: Source
  /** RUN --mount's from= sources, by mount index (none for mounts without from=). */
  mountFrom?: (Source | undefined)[]
  /** An ONBUILD trigger of the base. */
  onbuild: boolean
}

export type Base =
  { kind: 'scratch' } | { kind: 'stage'; index: number } | { kind: 'image'; ref: string }

export interface StagePlan {
  index: number
  stage: Stage
  /** The AS name, or "stage-N". */
  displayName: string
  /** FROM's argument with the global args expanded. */
  baseName: string
  base: Base
  commands: PlannedCommand[]
  /** Stages this one needs finished first (its base, COPY --from and mount sources). */
  deps: Set<number>
}

export interface BuildPlan {
  stages: StagePlan[]
  target: number
  /** The global args (predefined ones, ARGs before the first FROM, with --build-arg applied). */
  globalArgs: EnvList
  /** Names the ARGs before FROM declare. */
  metaArgNames: Set<string>
  escapeToken: string
}

export interface PlanOptions {
  buildArgs: Record<string, string | null>
  target?: string
  platform: Platform
}

function withLines<T extends DockerfileError>(
  err: T,
  loc: { startLine: number; endLine: number },
): T {
  if (err.startLine === undefined) {
    err.startLine = loc.startLine
    err.endLine = loc.endLine
  }
  return err
}

function located(err: unknown, loc: { startLine: number; endLine: number }): unknown {
  return err instanceof DockerfileError ? withLines(err, loc) : err
}

/** The build args given with a value (a name given without one is as if not given). */
export function givenArgs(buildArgs: Record<string, string | null>): Map<string, string> {
  const m = new Map<string, string>()
  for (const [k, v] of Object.entries(buildArgs)) if (v !== null) m.set(k, v)
  return m
}

/** BuildKit's defaultArgs and buildMetaArgs. */
function globalArgs(
  metaArgs: ArgCommand[],
  opts: PlanOptions,
  target: string,
  lex: Lexer,
): EnvList {
  const given = givenArgs(opts.buildArgs)
  const p = opts.platform
  const env = new EnvList()
  const defaults: [string, string][] = [
    ['BUILDPLATFORM', formatPlatform(p)],
    ['BUILDOS', p.os],
    ['BUILDOSVERSION', ''],
    ['BUILDARCH', p.architecture],
    ['BUILDVARIANT', p.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(p)],
    ['TARGETOS', p.os],
    ['TARGETOSVERSION', ''],
    ['TARGETARCH', p.architecture],
    ['TARGETVARIANT', p.variant ?? ''],
    ['TARGETSTAGE', target === '' ? 'default' : target],
  ]
  for (const [k, v] of defaults) env.set(k, given.get(k) ?? v)
  for (const cmd of metaArgs) {
    for (const a of cmd.args) {
      const v = given.get(a.key)
      if (v !== undefined) env.set(a.key, v)
      else if (a.value !== undefined) {
        try {
          env.set(a.key, lex.processWord(a.value, env))
        } catch (err) {
          throw located(err, cmd)
        }
      }
    }
  }
  return env
}

/** Plans the build: errors come in BuildKit's words with the lines they concern. */
export function planBuild(df: Dockerfile, opts: PlanOptions): BuildPlan {
  const lex = new Lexer(df.escapeToken)
  const lastName = df.stages[df.stages.length - 1]!.name
  const args = globalArgs(df.metaArgs, opts, opts.target || lastName, lex)
  const byName = new Map<string, number>()
  const stages: StagePlan[] = []

  df.stages.forEach((stage, index) => {
    let baseName: string
    try {
      baseName = lex.processWord(stage.baseName, args)
    } catch (err) {
      throw located(err, stage)
    }
    if (baseName === '') {
      throw withLines(
        new DockerfileError(`base name (${stage.baseName}) should not be blank`),
        stage,
      )
    }
    if (stage.platform !== '') {
      let p: string
      try {
        p = lex.processWord(stage.platform, args)
      } catch (err) {
        throw withLines(
          new DockerfileError(
            `failed to process arguments for platform ${stage.platform}: ${(err as Error).message}`,
          ),
          stage,
        )
      }
      if (p === '')
        throw withLines(
          new DockerfileError(`empty platform value from expression ${stage.platform}`),
          stage,
        )
      const parsed = parsePlatform(p)
      if (formatPlatform(parsed) !== formatPlatform(opts.platform)) {
        throw withLines(
          new DockerfileError(
            `FROM --platform=${formatPlatform(parsed)}: berth builds for ${formatPlatform(opts.platform)} only, and cannot run another platform's programs`,
          ),
          stage,
        )
      }
    }
    // A base naming an earlier stage (exactly as written, as BuildKit looks it up) builds on it.
    const baseStage = byName.get(baseName)
    const base: Base =
      baseStage !== undefined
        ? { kind: 'stage', index: baseStage }
        : baseName === 'scratch'
          ? { kind: 'scratch' }
          : { kind: 'image', ref: baseName }
    stages.push({
      index,
      stage,
      displayName: stage.name || `stage-${index}`,
      baseName,
      base,
      commands: stage.commands.map((cmd) => ({ cmd, onbuild: false })),
      deps: new Set(base.kind === 'stage' ? [base.index] : []),
    })
    if (stage.name !== '') byName.set(stage.name, index)
  })

  let target = stages.length - 1
  if (opts.target) {
    const t = byName.get(opts.target.toLowerCase())
    if (t === undefined) {
      throw new DockerfileError(
        withSuggestion(
          `target stage ${goQuote(opts.target)} could not be found`,
          opts.target,
          [...byName.keys()],
          true,
        ),
      )
    }
    target = t
  }

  for (const sp of stages) for (const pc of sp.commands) linkSources(pc, sp, stages, byName)
  checkCycles(stages)
  return {
    stages,
    target,
    globalArgs: args,
    metaArgNames: new Set(df.metaArgs.flatMap((c) => c.args.map((a) => a.key))),
    escapeToken: df.escapeToken,
  }
}

/** Finds a stage for `--from` / `from=` (by name, any case, or by number), or names an image. */
function sourceFor(
  name: string,
  stages: StagePlan[],
  byName: Map<string, number>,
  loc: Command,
): Source {
  if (/^-?\d+$/.test(name)) {
    const i = Number.parseInt(name, 10)
    if (i < 0 || i >= stages.length)
      throw withLines(new DockerfileError(`invalid stage index ${i}`), loc)
    return { kind: 'stage', index: i }
  }
  const s = byName.get(name.toLowerCase())
  return s !== undefined ? { kind: 'stage', index: s } : { kind: 'image', ref: name }
}

/** Records the stages and images a command reads from (COPY --from, RUN --mount from=). */
export function linkSources(
  pc: PlannedCommand,
  sp: StagePlan,
  stages: StagePlan[],
  byName: Map<string, number>,
): void {
  const c = pc.cmd
  if (c.kind === 'copy' && c.from !== '') {
    // --from is never expanded: a variable in it is refused before anything is built.
    if (new Lexer('\\').processWord(c.from, { get: () => undefined, keys: () => [] }) !== c.from) {
      throw withLines(
        new DockerfileError(
          `dockerfile parse error on line ${c.startLine}: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround`,
        ),
        c,
      )
    }
    pc.from = sourceFor(c.from, stages, byName, c)
    if (pc.from.kind === 'stage') sp.deps.add(pc.from.index)
  }
  if (c.kind === 'run') {
    pc.mountFrom = c.mounts.map((m) => {
      const raw = parseMount(m, undefined).from
      if (raw === '') return undefined
      const src = sourceFor(raw, stages, byName, c)
      if (src.kind === 'stage') sp.deps.add(src.index)
      return src
    })
  }
}

function checkCycles(stages: StagePlan[]): void {
  const state = new Map<number, 'visiting' | 'done'>()
  const visit = (i: number): void => {
    const s = state.get(i)
    if (s === 'done') return
    if (s === 'visiting') {
      throw new DockerfileError(`circular dependency detected on stage: ${stages[i]!.displayName}`)
    }
    state.set(i, 'visiting')
    for (const d of stages[i]!.deps) visit(d)
    state.set(i, 'done')
  }
  for (const s of stages) visit(s.index)
}

/** The stages the target needs, in Dockerfile order. */
export function reachable(plan: BuildPlan): number[] {
  const seen = new Set<number>()
  const visit = (i: number): void => {
    if (seen.has(i)) return
    seen.add(i)
    for (const d of plan.stages[i]!.deps) visit(d)
  }
  visit(plan.target)
  return [...seen].sort((a, b) => a - b)
}

/**
 * Checks what BuildKit checks as it walks the reachable stages in order: a stage can copy from
 * and mount only stages defined before it.
 */
export function checkOrder(plan: BuildPlan, order: number[]): void {
  for (const i of order) {
    const sp = plan.stages[i]!
    for (const pc of sp.commands) {
      const c = pc.cmd
      if (pc.from?.kind === 'stage' && pc.from.index >= i && c.kind === 'copy') {
        throw withLines(
          new DockerfileError(
            `cannot copy from stage ${goQuote(c.from)}, it needs to be defined before current stage ${goQuote(sp.displayName)}`,
          ),
          c,
        )
      }
      pc.mountFrom?.forEach((src, k) => {
        if (src?.kind === 'stage' && src.index >= i && c.kind === 'run') {
          const m = parseMount(c.mounts[k]!, (w) => w)
          throw withLines(
            new DockerfileError(
              `cannot mount from stage ${goQuote(m.from)} to ${goQuote(m.target)}, stage needs to be defined before current command`,
            ),
            c,
          )
        }
      })
    }
  }
}
