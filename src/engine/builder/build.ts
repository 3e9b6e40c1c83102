// The build: unpack the context, parse and plan the Dockerfile, resolve base images, run the
// stages the target needs (independent ones at once), each instruction against the cache, and
// record the result. Steps that change files run in a snapshot of the stage's layers through the
// executor; each gives at most one reproducible layer.
//
// Cache keys are digests of what a step's result depends on, never of times: the parent's layers
// (their diffIDs), the instruction with its variables expanded, the environment, user and working
// directory a RUN sees, the build args it uses, and for COPY/ADD the names, modes and contents of
// every source after .dockerignore (or, from a stage or image, that source's layers).
import { createHash, randomBytes } from 'node:crypto'
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises'
import { join, posix } from 'node:path'
import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'
import { InvalidArgument, NotFound, errnoCode } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import type { ContentCollector, ContentRoot, ImageConfig } from '../image/types.ts'
import { BuildCache, cacheKey } from './cache.ts'
import { BuildContext, hasWildcards } from './context.ts'
import { copyInto, parseChmod, type Owner } from './copy.ts'
import {
  applyMetadata,
  copyDestination,
  emptyConfig,
  expandCommand,
  historyEntry,
  initialState,
  normalizeWorkdir,
  runHistory,
  withShell,
  type ArgContext,
  type StageState,
} from './dispatch.ts'
import { PatternMatcher } from '../../lib/dockerignore.ts'
import { familiarString, parseDockerRef, tagNameOnly } from '../../lib/reference.ts'
import { parsed } from '../grammar.ts'
import { DockerfileError, StepFailed, goQuote } from './errors.ts'
import {
  parseDockerfile,
  parseInstruction,
  parseMount,
  type Command,
  type CopyCommand,
  type RunCommand,
} from './instructions.ts'
import { chompHeredoc, parse, parseHeredoc } from './parser.ts'
import {
  EnvList,
  checkOrder,
  formatPlatform,
  hostPlatform,
  linkSources,
  parsePlatform,
  planBuild,
  reachable,
  type BuildPlan,
  type PlannedCommand,
  type Source,
  type StagePlan,
} from './plan.ts'
import { Lexer } from './shell.ts'
import type {
  BaseImage,
  BuildApi,
  BuildEventSink,
  BuildExecutor,
  BuildImages,
  BuildOptions,
  BuildResult,
  CacheRecordInfo,
  ImagePuller,
  LayerRef,
  NetworkMode,
  Snapshot,
  StepInfo,
  StepMount,
  StepProcess,
} from './types.ts'

export interface BuilderDeps {
  executor: BuildExecutor
  images: BuildImages
  cache: BuildCache
  /** Where contexts are unpacked and step files are made, on the data root's filesystem. */
  tmpDir: string
  /** Layers images use: a cache record on one is shared (system df, builder prune). */
  imageLayers: () => Promise<Set<string>>
  /**
   * Fetches FROM images that are not here (and all of them with --pull). Absent until the
   * registry client is wired in (daemon/wire.ts); FROM of a missing image then says so.
   */
  puller?: ImagePuller
  /** Frees what pruned records held, unless an image (or another record) still holds it. */
  content: ContentCollector
}

const PROXY_ARGS = ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY']

/** One stage of a running build. */
interface StageRun {
  plan: StagePlan
  /** Index of the stage's FROM step in the step list. */
  firstStep: number
  done: Promise<StageState>
}

/** Everything one build shares between its stages. */
interface Run {
  opts: BuildOptions
  plan: BuildPlan
  ctx: BuildContext
  lex: Lexer
  images: Map<string, BaseImage>
  /** Layers of cache records this build uses (system df's "in use"). */
  used: Set<string>
  stages: Map<number, StageRun>
  steps: StepInfo[]
  emit: BuildEventSink
  signal: AbortSignal
  argCtx: ArgContext
  /** SOURCE_DATE_EPOCH, or 0: layer times and the image's dates are clamped to it. */
  epoch: number
  tmp: string
  /** Stops every stage (a stage failed, or the client went away). */
  abort: () => void
}

/** What a running build holds: the images it reads and the cache records' layers it uses. */
interface Live {
  images: Map<string, BaseImage>
  used: Set<string>
}

/** Many builds at once, or one prune alone: a prune waits for running builds, and builds for it. */
class Gate {
  private active = 0
  private idle: (() => void)[] = []
  private exclusive: Promise<void> | undefined

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive
    this.active++
    try {
      return await fn()
    } finally {
      if (--this.active === 0) for (const wake of this.idle.splice(0)) wake()
    }
  }

  async alone<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive
    let done!: () => void
    this.exclusive = new Promise((r) => (done = r))
    try {
      if (this.active > 0) await new Promise<void>((r) => this.idle.push(r))
      return await fn()
    } finally {
      this.exclusive = undefined
      done()
    }
  }
}

/** Docker's words for a missing image, and what to do about it while berth cannot pull. */
function missingImage(ref: string): string {
  let shown = ref
  try {
    shown = familiarString(tagNameOnly(parseDockerRef(ref)))
  } catch {
    // An ID or a reference of another shape: shown as written.
  }
  return `No such image: ${shown}: berth cannot pull images yet; load or import it first (docker load, docker import)`
}

function shortId(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12)
}

export class Builder implements BuildApi, ContentRoot {
  private readonly locks = new Map<string, Promise<void>>()
  private readonly gate = new Gate()
  /** The running builds: the images they read (held) and the cached layers they use. */
  private readonly running = new Set<Live>()
  /** Cache mounts steps are using now, and how many. */
  private readonly inUse = new Map<string, number>()

  constructor(private readonly deps: BuilderDeps) {}

  /** Removes what builds cut short by a dying daemon left in the temp directory. */
  async init(): Promise<void> {
    await rm(this.deps.tmpDir, { recursive: true, force: true })
    await mkdir(this.deps.tmpDir, { recursive: true, mode: 0o700 })
    await this.deps.cache.init()
  }

  build(context: Readable, opts: BuildOptions, emit: BuildEventSink): Promise<BuildResult> {
    return this.gate.shared(() => this.buildNow(context, opts, emit))
  }

  /**
   * What the build cache holds (every record's layer) and what running builds read: the image
   * store's garbage collection and removals keep these.
   */
  async held(): Promise<{ layers: Set<Digest>; blobs: Set<Digest> }> {
    await this.deps.cache.load()
    const layers = new Set<Digest>()
    const blobs = new Set<Digest>()
    const hold = (l: LayerRef) => {
      layers.add(l.diffID)
      blobs.add(l.blob)
    }
    for (const r of this.deps.cache.list()) if (r.layer) hold(r.layer)
    for (const live of this.running)
      for (const img of live.images.values()) img.layers.forEach(hold)
    return { layers, blobs }
  }

  private async buildNow(
    context: Readable,
    opts: BuildOptions,
    emit: BuildEventSink,
  ): Promise<BuildResult> {
    const platform = hostPlatform()
    if (opts.platform) {
      const want = parsePlatform(opts.platform)
      if (formatPlatform(want) !== formatPlatform(platform)) {
        throw new InvalidArgument(
          `berth builds for ${formatPlatform(platform)} only; --platform ${opts.platform} asks for another, which needs emulation`,
        )
      }
    }
    await this.deps.cache.load()
    if (opts.pull && !this.deps.puller) {
      throw new InvalidArgument(
        '--pull needs the registry client, which this berthd does not have yet',
      )
    }
    const controller = new AbortController()
    const onAbort = () => controller.abort(opts.signal?.reason)
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    const id = randomBytes(12).toString('hex')
    await mkdir(this.deps.tmpDir, { recursive: true, mode: 0o700 })
    const tmp = await mkdtemp(join(this.deps.tmpDir, `build-${id}-`))
    const images = new Map<string, BaseImage>()
    const live: Live = { images, used: new Set() }
    this.running.add(live)
    try {
      const ctx = await BuildContext.fromTar(context, join(tmp, 'context'), controller.signal)
      const dockerfile = opts.dockerfile || 'Dockerfile'
      const text = await ctx.readText(dockerfile)
      if (text === undefined) {
        throw new InvalidArgument(`Cannot locate specified Dockerfile: ${dockerfile}`)
      }
      await ctx.loadIgnore(dockerfile)
      const df = parseDockerfile(text)
      const plan = planBuild(df, { buildArgs: opts.buildArgs, target: opts.target, platform })
      const epochArg = opts.buildArgs.SOURCE_DATE_EPOCH
      const epoch = epochArg ? Number.parseInt(epochArg, 10) : 0
      if (Number.isNaN(epoch) || epoch < 0) {
        throw new InvalidArgument(`invalid SOURCE_DATE_EPOCH: ${epochArg ?? ''}`)
      }
      const run: Run = {
        opts,
        plan,
        ctx,
        lex: new Lexer(plan.escapeToken),
        images,
        used: live.used,
        stages: new Map(),
        steps: [],
        emit,
        signal: controller.signal,
        argCtx: {
          globalArgs: plan.globalArgs,
          buildArgs: opts.buildArgs,
          lex: new Lexer(plan.escapeToken),
          used: new Set(),
        },
        epoch,
        tmp,
        abort: () => controller.abort(new Error('another stage failed')),
      }
      const order = await this.resolve(run, platform)
      run.steps = stepList(plan, order)
      emit({ type: 'plan', steps: run.steps })
      const syntax = df.directives.syntax
      if (syntax && !/^(docker\.io\/)?docker\/dockerfile(-upstream)?([:@]|$)/.test(syntax)) {
        emit({
          type: 'warning',
          message: `berth parses Dockerfiles itself; the syntax directive (${syntax}) is ignored`,
        })
      }
      const result = await this.runStages(run, order)
      const image = await this.finish(run, result)
      return {
        imageId: image,
        tags: opts.tags,
        unusedArgs: Object.keys(opts.buildArgs)
          .filter((k) => !run.argCtx.used.has(k) && !plan.metaArgNames.has(k))
          .filter((k) => !PROXY_ARGS.includes(k.toUpperCase()) && k !== 'SOURCE_DATE_EPOCH')
          .sort(),
      }
    } finally {
      opts.signal?.removeEventListener('abort', onAbort)
      controller.abort()
      this.running.delete(live)
      await rm(tmp, { recursive: true, force: true })
    }
  }

  /**
   * Looks up the images the reachable stages start from or copy from, adds their ONBUILD
   * triggers, and returns the reachable stages in order (triggers can reach new stages).
   */
  private async resolve(run: Run, platform: ReturnType<typeof hostPlatform>): Promise<number[]> {
    const { plan } = run
    const triggered = new Set<number>()
    for (;;) {
      const order = reachable(plan)
      checkOrder(plan, order)
      const refs = new Set<string>()
      for (const i of order) {
        const sp = plan.stages[i]!
        if (sp.base.kind === 'image') refs.add(sp.base.ref)
        for (const pc of sp.commands) {
          if (pc.from?.kind === 'image') refs.add(pc.from.ref)
          for (const m of pc.mountFrom ?? [])
            if (m?.kind === 'image' && m.ref !== 'scratch') refs.add(m.ref)
        }
      }
      await Promise.all(
        [...refs]
          .filter((r) => !run.images.has(r))
          .map(async (ref) => run.images.set(ref, await this.baseImage(run, ref, platform))),
      )
      let added = false
      for (const i of order) {
        if (triggered.has(i)) continue
        triggered.add(i)
        const sp = plan.stages[i]!
        const triggers =
          sp.base.kind === 'image'
            ? (run.images.get(sp.base.ref)!.config.config?.OnBuild ?? [])
            : sp.base.kind === 'stage'
              ? plan.stages[sp.base.index]!.commands.flatMap((pc) =>
                  pc.cmd.kind === 'onbuild' && !pc.onbuild ? [pc.cmd.expression] : [],
                )
              : []
        if (triggers.length === 0) continue
        const cmds: PlannedCommand[] = []
        for (const t of triggers) {
          const nodes = parse(t).nodes
          if (nodes.length !== 1)
            throw new DockerfileError('onbuild trigger should be a single expression')
          const node = { ...nodes[0]!, startLine: sp.stage.startLine, endLine: sp.stage.endLine }
          const cmd = parseInstruction(node)
          if ('commands' in cmd)
            throw new DockerfileError(`FROM isn't allowed as an ONBUILD trigger`)
          const pc: PlannedCommand = { cmd, onbuild: true }
          const byName = new Map(
            plan.stages.filter((s) => s.stage.name).map((s) => [s.stage.name, s.index]),
          )
          const before = sp.deps.size
          linkSources(pc, sp, plan.stages, byName)
          if (sp.deps.size !== before || pc.from?.kind === 'image') added = true
          cmds.push(pc)
        }
        sp.commands = [...cmds, ...sp.commands]
      }
      if (!added) return order
    }
  }

  private async baseImage(
    run: Run,
    ref: string,
    platform: ReturnType<typeof hostPlatform>,
  ): Promise<BaseImage> {
    if (!run.opts.pull) {
      const found = await this.deps.images.find(ref)
      if (found) return found
    }
    const puller = this.deps.puller
    if (!puller) throw new NotFound(missingImage(ref))
    return puller.pull(ref, formatPlatform(platform), run.signal, (status) =>
      run.emit({ type: 'pull', ref, status }),
    )
  }

  private runStages(run: Run, order: number[]): Promise<StageState> {
    let first = 0
    for (const i of order) {
      const plan = run.plan.stages[i]!
      const sr: StageRun = {
        plan,
        firstStep: first,
        done: undefined as unknown as Promise<StageState>,
      }
      first += 1 + plan.commands.length
      run.stages.set(i, sr)
    }
    // Each stage starts once the stages it needs are done; a failure stops the others.
    for (const i of order) {
      const sr = run.stages.get(i)!
      sr.done = (async () => {
        const deps = [...sr.plan.deps].map((d) => run.stages.get(d)!.done)
        await Promise.all(deps)
        return this.runStage(run, sr)
      })()
      sr.done.catch(() => undefined)
    }
    const all = order.map((i) => run.stages.get(i)!.done)
    return new Promise((resolve, reject) => {
      let failed = false
      for (const p of all) {
        p.catch((err: unknown) => {
          if (failed) return
          failed = true
          // Stop every other stage, then report this failure once they have wound down.
          void Promise.allSettled(all).then(() => reject(err))
          run.abort()
        })
      }
      void Promise.allSettled(all).then(() => {
        if (!failed) resolve(run.stages.get(run.plan.target)!.done)
      })
    })
  }

  private async runStage(run: Run, sr: StageRun): Promise<StageState> {
    const { plan } = sr
    let step = sr.firstStep
    const started = Date.now()
    run.emit({ type: 'start', step })
    let state: StageState
    if (plan.base.kind === 'stage') {
      state = initialState(await run.stages.get(plan.base.index)!.done, true)
    } else if (plan.base.kind === 'scratch') {
      state = initialState({ config: emptyConfig(hostPlatform()), layers: [] }, false)
    } else {
      state = initialState(run.images.get(plan.base.ref)!, false)
    }
    run.emit({
      type: 'done',
      step,
      cached: false,
      durationMs: Date.now() - started,
      ...(plan.base.kind === 'image' ? { id: run.images.get(plan.base.ref)!.id } : {}),
    })
    for (const pc of plan.commands) {
      step++
      if (run.signal.aborted) throw run.signal.reason ?? new Error('build cancelled')
      const t0 = Date.now()
      run.emit({ type: 'start', step })
      try {
        const cached = await this.dispatch(run, state, pc, step)
        run.emit({
          type: 'done',
          step,
          cached,
          durationMs: Date.now() - t0,
          id: configId(run, state),
        })
      } catch (err) {
        const e =
          err instanceof DockerfileError && err.startLine === undefined
            ? Object.assign(err, { startLine: pc.cmd.startLine, endLine: pc.cmd.endLine })
            : err
        run.emit({
          type: 'error',
          step,
          message: (e as Error).message,
          ...(e instanceof StepFailed ? { exitCode: e.exitCode } : {}),
        })
        throw e
      }
    }
    return state
  }

  /** Carries out one instruction; true when its result came from the cache. */
  private async dispatch(
    run: Run,
    s: StageState,
    pc: PlannedCommand,
    step: number,
  ): Promise<boolean> {
    const raw = pc.cmd
    if (raw.kind === 'run') return this.runStep(run, s, raw, pc, step)
    const cmd = raw.kind === 'arg' ? raw : expandCommand(raw, run.lex, s.env)
    if (cmd.kind === 'copy' || cmd.kind === 'add') return this.copyStep(run, s, cmd, pc)
    if (cmd.kind === 'workdir') return this.workdirStep(run, s, cmd.path)
    const line = applyMetadata(s, cmd, run.argCtx)
    if (line !== undefined)
      s.config.history = [...(s.config.history ?? []), historyEntry(line, false)]
    return false
  }

  /** Runs a layer step against the cache: key → a cached layer, or `work` in a snapshot. */
  private async layerStep(
    run: Run,
    s: StageState,
    key: unknown,
    description: string,
    work: (snap: Snapshot) => Promise<void>,
    opts: { parents?: LayerRef[] } = {},
  ): Promise<boolean> {
    const { cache, executor } = this.deps
    const k = cacheKey(key)
    if (!run.opts.noCache) {
      const hit = cache.get(k)
      if (hit && (!hit.layer || (await executor.hasLayer(hit.layer)))) {
        await cache.touch(k)
        if (hit.layer) {
          run.used.add(hit.layer.diffID)
          s.layers.push(hit.layer)
        }
        s.config.history = [
          ...(s.config.history ?? []),
          historyEntry(description, hit.layer !== undefined),
        ]
        return true
      }
    }
    const snap = await executor.snapshot(opts.parents ?? s.layers, run.signal)
    let layer: LayerRef | undefined
    try {
      await work(snap)
      layer = await snap.commit({ epoch: run.epoch, signal: run.signal })
    } finally {
      await snap.release()
    }
    await cache.put(k, layer, description)
    if (layer) {
      run.used.add(layer.diffID)
      s.layers.push(layer)
    }
    s.config.history = [...(s.config.history ?? []), historyEntry(description, layer !== undefined)]
    return false
  }

  private async workdirStep(run: Run, s: StageState, path: string): Promise<boolean> {
    const wd = normalizeWorkdir(s.config.config.WorkingDir ?? '/', path)
    s.config.config.WorkingDir = wd
    if (wd === '/') {
      s.config.history = [...(s.config.history ?? []), historyEntry(`WORKDIR ${wd}`, false)]
      return false
    }
    const user = s.config.config.User ?? ''
    return this.layerStep(
      run,
      s,
      { op: 'mkdir', parent: s.layers.map((l) => l.diffID), path: wd, user },
      `WORKDIR ${wd}`,
      async (snap) => {
        const root = await snap.root()
        const owner =
          user === ''
            ? undefined
            : await this.deps.executor.userIds(root, user).catch(() => undefined)
        await mkdirAll(root, wd, owner)
      },
    )
  }

  private async copyStep(
    run: Run,
    s: StageState,
    cmd: CopyCommand,
    pc: PlannedCommand,
  ): Promise<boolean> {
    const wd = s.config.config.WorkingDir ?? '/'
    const dest = copyDestination(wd, cmd.dest)
    const mode = cmd.chmod === '' ? undefined : parseChmod(cmd.chmod)
    if (cmd.checksum !== '') {
      if (cmd.srcs.length !== 1)
        throw new DockerfileError("checksum can't be specified for multiple sources")
      if (!/^https?:\/\//.test(cmd.srcs[0]!))
        throw new DockerfileError('checksum requires HTTP(S) or Git sources')
    }
    const exclude =
      cmd.excludes.length > 0 ? parsed(() => new PatternMatcher(cmd.excludes)) : undefined
    const add = cmd.kind === 'add'
    const words = [
      cmd.kind.toUpperCase(),
      ...(cmd.chown ? [`--chown=${cmd.chown}`] : []),
      ...(cmd.chmod ? [`--chmod=${cmd.chmod}`] : []),
    ]
    const description = [
      ...words,
      ...cmd.srcs,
      ...cmd.contents.map((c) => `<<${c.path}`),
      cmd.dest,
    ].join(' ')

    // Where the sources come from, and what identifies them for the cache.
    type Prepared = {
      /** Where these sources go when not the instruction's destination (--parents). */
      dest?: string
      /** Whether archives among them are unpacked (ADD). */
      unpack: boolean
      root: string
      srcs: { name: string; followed: string }[]
      ignored?: (r: string) => boolean
      release?: () => Promise<void>
    }
    const prepared: Prepared[] = []
    const identity: unknown[] = []
    const urls = add ? cmd.srcs.filter((x) => /^https?:\/\//.test(x)) : []
    const locals = cmd.srcs.filter((x) => !urls.includes(x))
    if (add && locals.some((x) => /^git@|\.git(#|$)/.test(x))) {
      throw new DockerfileError('ADD of a git repository is not supported by berth')
    }
    const source: Source | undefined = pc.from
    try {
      if (source === undefined) {
        const srcs: { name: string; followed: string }[] = []
        for (const src of locals) {
          // --parents keeps each source's path below the context (or below a /./ in it).
          const pivot =
            cmd.parents && src.includes('/./')
              ? posix.normalize(src.slice(0, src.indexOf('/./'))).replace(/^\/+/, '')
              : ''
          const matched = run.ctx.sources(src)
          for (const followed of matched) {
            const name = hasWildcards(src) ? followed : posix.normalize(`/${src}`).slice(1)
            identity.push([src, followed, run.ctx.digest(followed, exclude)])
            if (!cmd.parents) {
              srcs.push({ name, followed })
              continue
            }
            const keep = pivot === '' ? name : posix.relative(pivot, name)
            const isDir = run.ctx.entry(followed)?.type === 'dir'
            const sub = isDir ? keep : posix.dirname(keep)
            prepared.push({
              dest: `${posix.join(dest, sub === '.' ? '' : sub)}/`,
              unpack: false,
              root: run.ctx.root,
              srcs: [{ name, followed }],
              ignored: (r) => run.ctx.ignored(r),
            })
          }
        }
        if (srcs.length > 0) {
          // ADD unpacks local archives unless --unpack=false.
          const unpack = add && cmd.unpack !== false
          prepared.push({ root: run.ctx.root, srcs, unpack, ignored: (r) => run.ctx.ignored(r) })
        }
      } else {
        const layers =
          source.kind === 'stage'
            ? (await run.stages.get(source.index)!.done).layers
            : run.images.get(source.ref)!.layers
        identity.push(
          layers.map((l) => l.diffID),
          locals,
        )
        if (locals.length > 0) {
          const snap = await this.deps.executor.snapshot(layers, run.signal)
          const srcs: { name: string; followed: string }[] = []
          let root: string
          try {
            root = await snap.root()
            for (const src of locals) srcs.push(...(await rootSources(root, src)))
          } catch (err) {
            await snap.release()
            throw err
          }
          prepared.push({ root, srcs, unpack: false, release: () => snap.release() })
        }
      }
      // Heredoc files and downloads are files of their own, each made in a directory of the step.
      for (const c of cmd.contents) {
        const dir = await mkdtemp(join(run.tmp, 'inline-'))
        const name = posix.basename(posix.normalize(`/${c.path}`))
        await writeFile(join(dir, name), c.data, { mode: 0o644 })
        await chmod(join(dir, name), 0o644)
        identity.push(['inline', name, createHash('sha256').update(c.data).digest('hex')])
        prepared.push({
          root: dir,
          srcs: [{ name, followed: name }],
          unpack: false,
          release: () => rm(dir, { recursive: true, force: true }),
        })
      }
      for (const url of urls) {
        const dir = await mkdtemp(join(run.tmp, 'download-'))
        const release = () => rm(dir, { recursive: true, force: true })
        try {
          const { name, sha256 } = await download(url, dir, cmd.checksum, run.signal)
          identity.push(['url', url, name, sha256, cmd.unpack === true])
          prepared.push({
            root: dir,
            srcs: [{ name, followed: name }],
            unpack: cmd.unpack === true,
            release,
          })
        } catch (err) {
          await release()
          throw err
        }
      }
      const numericChown = cmd.chown === '' || /^\d+(:\d+)?$/.test(cmd.chown)
      const key = {
        op: cmd.kind,
        parent: cmd.link && cmd.chmod === '' && numericChown ? null : s.layers.map((l) => l.diffID),
        dest,
        sources: identity,
        chown: cmd.chown,
        chmod: cmd.chmod,
        link: cmd.link,
        excludes: cmd.excludes,
      }
      return await this.layerStep(
        run,
        s,
        key,
        description,
        async (snap) => {
          const linked = cmd.link && cmd.chmod === ''
          const destRoot = await snap.root()
          const owner =
            cmd.chown === ''
              ? undefined
              : await chownOwner(
                  linked ? undefined : destRoot,
                  cmd.chown,
                  this.deps.executor,
                  s.layers,
                  run.signal,
                )
          for (const p of prepared) {
            await copyInto({
              destRoot,
              dest: p.dest ?? dest,
              srcRoot: p.root,
              srcs: p.srcs,
              ...(p.ignored ? { ignored: p.ignored } : {}),
              ...(exclude ? { exclude } : {}),
              // Context files and inline files are root's unless --chown says otherwise.
              chown: owner ?? (source === undefined ? { uid: 0, gid: 0 } : undefined),
              ...(owner ? { archiveOwner: owner } : {}),
              ...(mode ? { chmod: mode } : {}),
              unpack: p.unpack,
            })
          }
        },
        // BuildKit merges a --link copy onto the stage only without --chmod; with it, it is a plain copy.
        cmd.link && cmd.chmod === '' ? { parents: [] } : {},
      )
    } finally {
      for (const p of prepared) await p.release?.()
    }
  }

  private async runStep(
    run: Run,
    s: StageState,
    cmd: RunCommand,
    pc: PlannedCommand,
    step: number,
  ): Promise<boolean> {
    if (cmd.security === 'insecure') {
      throw new InvalidArgument(
        'granting entitlement security.insecure is not allowed by build daemon configuration',
      )
    }
    const rc = s.config.config
    let args = [...cmd.cmdLine]
    const inline: { name: string; data: string }[] = []
    if (cmd.files.length > 0) {
      if (args.length !== 1 || !cmd.prependShell) {
        throw new DockerfileError(
          `parsing produced an invalid run command: ${JSON.stringify(args)}`,
        )
      }
      if (parseHeredoc(args[0]!)) {
        const f = cmd.files[0]!
        const data = f.chomp ? chompHeredoc(f.data) : f.data
        if (data.startsWith('#!')) {
          // A heredoc script with a shebang runs as a file of its own, not through the shell.
          inline.push({ name: f.name, data })
          args = [`/dev/pipes/${f.name}`]
        } else {
          args = [data]
        }
      } else {
        args = [[args[0]!, ...cmd.files.map((f) => `\n${f.data}${f.name}`)].join('')]
      }
    }
    const argv = cmd.prependShell && inline.length === 0 ? withShell(rc, args) : args
    const description = runHistory(argv, s.buildArgs, s.env)
    const wd = rc.WorkingDir || '/'
    const mounts = cmd.mounts.map((m) => parseMount(m, (w) => run.lex.processWord(w, s.env)))
    const network: NetworkMode = cmd.network === 'default' ? run.opts.network : cmd.network
    const env = s.env.toStrings()
    const given = Object.entries(run.opts.buildArgs).filter(
      ([k, v]) => v !== null && PROXY_ARGS.includes(k.toUpperCase()),
    )
    const proxyEnv = given.flatMap(([k, v]) => [
      `${k.toUpperCase()}=${v!}`,
      `${k.toLowerCase()}=${v!}`,
    ])
    const extraHosts = run.opts.extraHosts.map((h) => {
      const i = h.indexOf(':')
      return { host: h.slice(0, i), ip: h.slice(i + 1) }
    })

    // What the mounts bring in, for the key; and how to set them up once a snapshot exists.
    const mountKeys: unknown[] = []
    for (const [i, m] of mounts.entries()) {
      if (m.type === 'ssh')
        throw new DockerfileError('RUN --mount=type=ssh is not supported by berth')
      const target = m.target.startsWith('/')
        ? posix.normalize(m.target)
        : posix.join('/', wd, m.target)
      if (m.type !== 'secret' && target === '/')
        throw new DockerfileError(`invalid mount target ${goQuote(target)}`)
      const from = pc.mountFrom?.[i]
      if (m.type === 'bind') {
        if (from === undefined)
          mountKeys.push([
            'bind',
            target,
            m.readOnly,
            run.ctx.digest(run.ctx.resolve(posix.normalize(`/${m.source}`).slice(1)) ?? ''),
          ])
        else {
          const layers =
            from.kind === 'stage'
              ? (await run.stages.get(from.index)!.done).layers
              : run.images.get(from.ref)!.layers
          mountKeys.push(['bind', target, m.readOnly, m.source, layers.map((l) => l.diffID)])
        }
      } else if (m.type === 'cache') {
        // A cache mount's contents are not part of the key: the step's result is not promised
        // to be the same whatever the cache holds, as with BuildKit.
        mountKeys.push(['cache', target, m.cacheId || posix.normalize(m.target), m.sharing])
      } else if (m.type === 'tmpfs') {
        mountKeys.push(['tmpfs', target, m.sizeLimit])
      } else {
        mountKeys.push(['secret', target, m.env ?? ''])
      }
    }
    const key = {
      op: 'run',
      parent: s.layers.map((l) => l.diffID),
      args: argv,
      inline,
      env,
      cwd: wd,
      user: rc.User ?? '',
      network,
      mounts: mountKeys,
      extraHosts,
    }
    return this.layerStep(run, s, key, description, async (snap) => {
      const releases: (() => Promise<void>)[] = []
      try {
        const stepMounts: StepMount[] = []
        const stepEnv = [...env, ...proxyEnv]
        for (const [i, m] of mounts.entries()) {
          const target = m.target.startsWith('/')
            ? posix.normalize(m.target)
            : posix.join('/', wd, m.target)
          const from = pc.mountFrom?.[i]
          if (m.type === 'tmpfs') {
            stepMounts.push({
              type: 'tmpfs',
              source: '',
              destination: target,
              readOnly: false,
              size: m.sizeLimit,
            })
          } else if (m.type === 'cache') {
            const id = m.cacheId || posix.normalize(m.target)
            // from= fills a new cache directory with a stage's or image's files.
            const seed = from
              ? async (dir: string) => {
                  const layers =
                    from.kind === 'stage'
                      ? (await run.stages.get(from.index)!.done).layers
                      : run.images.get(from.ref)!.layers
                  const src = await this.deps.executor.snapshot(layers, run.signal)
                  try {
                    const srcRoot = await src.root()
                    const rel = (await rootSources(srcRoot, m.source || '/'))[0]!
                    await copyInto({
                      destRoot: dir,
                      dest: '/',
                      srcRoot,
                      srcs: [rel],
                      unpack: false,
                    })
                  } finally {
                    await src.release()
                  }
                }
              : undefined
            const owner = { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o755 }
            let dir: string
            if (m.sharing === 'private' && this.inUse.has(id)) {
              // In use by another step: this one gets a directory of its own, as BuildKit's
              // private sharing does (kept for this step only).
              dir = await mkdtemp(join(run.tmp, 'cache-'))
              await chown(dir, owner.uid, owner.gid)
              await chmod(dir, owner.mode)
              if (seed) await seed(dir)
            } else {
              if (m.sharing === 'locked') releases.push(await this.lock(`cache:${id}`))
              dir = await this.deps.cache.mount(id, owner, seed)
              this.inUse.set(id, (this.inUse.get(id) ?? 0) + 1)
              releases.push(async () => {
                const n = (this.inUse.get(id) ?? 1) - 1
                if (n === 0) this.inUse.delete(id)
                else this.inUse.set(id, n)
              })
            }
            stepMounts.push({
              type: 'bind',
              source: dir,
              destination: target,
              readOnly: m.readOnly,
            })
          } else if (m.type === 'secret') {
            const id = m.source || m.cacheId || posix.basename(m.target)
            const value = run.opts.secrets?.get(id)
            if (value === undefined) {
              if (m.required) throw new InvalidArgument(`secret ${id}: not found`)
              continue
            }
            if (m.env !== undefined) stepEnv.push(`${m.env || id}=${value.toString()}`)
            if (m.env === undefined || m.target !== '') {
              const file = join(run.tmp, `secret-${randomBytes(6).toString('hex')}`)
              await writeFile(file, value, { mode: m.mode ?? 0o400 })
              await chmod(file, m.mode ?? 0o400)
              await chown(file, m.uid ?? 0, m.gid ?? 0)
              releases.push(() => rm(file, { force: true }))
              stepMounts.push({
                type: 'bind',
                source: file,
                destination: m.target || `/run/secrets/${posix.basename(id)}`,
                readOnly: true,
              })
            }
          } else if (from === undefined) {
            const rel = run.ctx.resolve(posix.normalize(`/${m.source}`).slice(1))
            if (rel === undefined)
              throw new InvalidArgument(
                `failed to compute cache key: "/${m.source}" not found: not found`,
              )
            let source = join(run.ctx.root, rel)
            if (!m.readOnly) {
              // Writes to a read-write bind of the context are thrown away with the step.
              const copy = await mkdtemp(join(run.tmp, 'bind-'))
              await copyInto({
                destRoot: copy,
                dest: '/',
                srcRoot: run.ctx.root,
                srcs: [{ name: rel, followed: rel }],
                ignored: (r) => run.ctx.ignored(r),
                unpack: false,
              })
              source = copy
              releases.push(() => rm(copy, { recursive: true, force: true }))
            }
            stepMounts.push({ type: 'bind', source, destination: target, readOnly: m.readOnly })
          } else {
            const layers =
              from.kind === 'stage'
                ? (await run.stages.get(from.index)!.done).layers
                : run.images.get(from.ref)!.layers
            const src = await this.deps.executor.snapshot(layers, run.signal)
            releases.push(() => src.release())
            stepMounts.push({
              type: 'bind',
              source: await resolveInRoot(await src.root(), m.source || '/'),
              destination: target,
              readOnly: m.readOnly,
            })
          }
        }
        if (inline.length > 0) {
          const dir = await mkdtemp(join(run.tmp, 'pipes-'))
          releases.push(() => rm(dir, { recursive: true, force: true }))
          for (const f of inline) {
            await writeFile(join(dir, f.name), f.data, { mode: 0o755 })
            await chmod(join(dir, f.name), 0o755)
          }
          stepMounts.push({ type: 'bind', source: dir, destination: '/dev/pipes', readOnly: true })
        }
        const taskId = randomBytes(32).toString('hex')
        const proc: StepProcess = {
          id: taskId,
          args: argv,
          env: stepEnv,
          cwd: wd,
          user: rc.User ?? '',
          mounts: stepMounts,
          network,
          extraHosts,
        }
        run.emit({ type: 'running', step, id: taskId })
        const tail: string[] = []
        let partial = ''
        const code = await snap.run(
          proc,
          (stream, data) => {
            run.emit({ type: 'output', step, stream, data })
            const text = partial + data.toString('utf8')
            const lines = text.split('\n')
            partial = lines.pop() ?? ''
            tail.push(...lines)
            if (tail.length > 20) tail.splice(0, tail.length - 20)
          },
          run.signal,
        )
        if (partial !== '') tail.push(partial)
        if (code !== 0) {
          throw new StepFailed(
            `process ${goQuote(argv.join(' '))} did not complete successfully: exit code: ${code}`,
            code,
            tail.slice(-10),
          )
        }
      } finally {
        for (const r of releases.reverse()) await r()
      }
    })
  }

  /** A mutex by name (RUN --mount=type=cache,sharing=locked). */
  private async lock(name: string): Promise<() => Promise<void>> {
    const prev = this.locks.get(name) ?? Promise.resolve()
    let release!: () => void
    const next = new Promise<void>((r) => (release = r))
    this.locks.set(
      name,
      prev.then(() => next),
    )
    await prev
    return async () => {
      release()
      if (this.locks.get(name) === next) this.locks.delete(name)
    }
  }

  private async finish(run: Run, s: StageState): Promise<Digest> {
    return this.deps.images.create(imageConfig(run, s), s.layers, run.opts.tags)
  }

  async cacheUsage(): Promise<CacheRecordInfo[]> {
    await this.deps.cache.load()
    const shared = await this.deps.imageLayers()
    const inUse = new Set<string>()
    for (const live of this.running) for (const d of live.used) inUse.add(d)
    const out: CacheRecordInfo[] = this.deps.cache.list().map((r) => ({
      id: r.key.slice(0, 25),
      description: r.description,
      size: r.layer?.size ?? 0,
      createdAt: r.createdAt,
      lastUsedAt: r.lastUsedAt,
      usageCount: r.usageCount,
      inUse: r.layer !== undefined && inUse.has(r.layer.diffID),
      shared: r.layer !== undefined && shared.has(r.layer.diffID),
      type: 'regular',
    }))
    for (const m of this.deps.cache.listMounts()) {
      out.push({
        id: createHash('sha256').update(m.id).digest('hex').slice(0, 25),
        description: `cached mount ${m.id}`,
        size: await duBytes(m.dir),
        createdAt: m.createdAt,
        lastUsedAt: m.lastUsedAt,
        usageCount: 1,
        inUse: this.inUse.has(m.id),
        shared: false,
        type: 'exec.cachemount',
      })
    }
    return out
  }

  /**
   * Removes cache records and cache mounts: those not used within `keepDuration` ms, and without
   * `all` only those no image shares; then, oldest first, while the rest is over `keepBytes`. The
   * layers they held are freed unless an image still uses them. Waits for running builds.
   */
  prune(opts: {
    all: boolean
    keepDuration?: number
    keepBytes?: number
  }): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    return this.gate.alone(async () => {
      await this.deps.cache.load()
      const shared = await this.deps.imageLayers()
      const cutoff = opts.keepDuration ? Date.now() - opts.keepDuration : Infinity
      type Item = { id: string; lastUsed: number; size: number; drop: () => Promise<void> }
      const items: Item[] = []
      const freed: LayerRef[] = []
      for (const r of this.deps.cache.list()) {
        if (!opts.all && r.layer && shared.has(r.layer.diffID)) continue
        items.push({
          id: r.key.slice(0, 25),
          lastUsed: Date.parse(r.lastUsedAt),
          size: r.layer?.size ?? 0,
          drop: async () => {
            await this.deps.cache.drop(r.key)
            if (r.layer) freed.push(r.layer)
          },
        })
      }
      let reclaimed = 0
      for (const m of this.deps.cache.listMounts()) {
        const size = await duBytes(m.dir)
        items.push({
          id: createHash('sha256').update(m.id).digest('hex').slice(0, 25),
          lastUsed: Date.parse(m.lastUsedAt),
          size,
          drop: async () => {
            await this.deps.cache.dropMount(m.id)
            reclaimed += size
          },
        })
      }
      items.sort((a, b) => a.lastUsed - b.lastUsed)
      let total = items.reduce((n, i) => n + i.size, 0)
      const deleted: string[] = []
      for (const i of items) {
        const old = i.lastUsed <= cutoff
        const over = opts.keepBytes !== undefined && opts.keepBytes > 0 && total > opts.keepBytes
        if (opts.keepBytes ? !(old && over) : !old) continue
        await i.drop()
        total -= i.size
        deleted.push(i.id)
      }
      const r = await this.deps.content.release({
        layers: freed.map((l) => l.diffID),
        blobs: freed.map((l) => l.blob),
      })
      return { deleted, spaceReclaimed: reclaimed + r.reclaimed }
    })
  }
}

/**
 * The image config a state makes: dates at the epoch (SOURCE_DATE_EPOCH or 1970), the --label
 * labels, no host-specific fields, keys in a fixed order so the same build gives the same ID.
 */
function imageConfig(run: Run, s: StageState): ImageConfig {
  const created = new Date(run.epoch * 1000).toISOString().replace('.000Z', 'Z')
  const rc = { ...s.config.config }
  if (Object.keys(run.opts.labels).length > 0)
    rc.Labels = { ...(rc.Labels ?? {}), ...run.opts.labels }
  return {
    architecture: s.config.architecture,
    os: s.config.os,
    ...(s.config.variant ? { variant: s.config.variant } : {}),
    created,
    ...(s.config.author ? { author: s.config.author } : {}),
    config: rc,
    rootfs: { type: 'layers', diff_ids: s.layers.map((l) => l.diffID) },
    history: (s.config.history ?? []).map((h) => ({ ...h, created: h.created ?? created })),
  }
}

/** The ID the image of the state so far would have (what the classic stream shows per step). */
function configId(run: Run, s: StageState): string {
  return `sha256:${createHash('sha256')
    .update(JSON.stringify(imageConfig(run, s)))
    .digest('hex')}`
}

/** The steps of the reachable stages, in Dockerfile order: each FROM, then its instructions. */
function stepList(plan: BuildPlan, order: number[]): StepInfo[] {
  const out: StepInfo[] = []
  for (const i of order) {
    const sp = plan.stages[i]!
    out.push({
      index: out.length,
      stage: i,
      stageName: sp.displayName,
      text: sp.stage.original,
      heavy: false,
    })
    for (const pc of sp.commands) {
      const c: Command = pc.cmd
      out.push({
        index: out.length,
        stage: i,
        stageName: sp.displayName,
        text: c.original,
        heavy: c.kind === 'run' || c.kind === 'copy' || c.kind === 'add' || c.kind === 'workdir',
      })
    }
  }
  return out
}

/** MkdirAll inside a root, resolving symlinks within it; new directories are 0755 and owned by `owner`. */
async function mkdirAll(root: string, path: string, owner: Owner | undefined): Promise<void> {
  let cur = ''
  for (const part of path.split('/').filter((p) => p !== '')) {
    cur = `${cur}/${part}`
    const host = await resolveInRoot(root, cur)
    try {
      const st = await stat(host)
      if (!st.isDirectory()) throw new InvalidArgument(`mkdir ${cur}: not a directory`)
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
      await mkdir(host, { mode: 0o755 })
      await chmod(host, 0o755)
      if (owner) await chown(host, owner.uid, owner.gid)
    }
  }
}

/** Sources in a stage's or image's root: globs matched per component, symlinks followed inside it. */
async function rootSources(
  root: string,
  src: string,
): Promise<{ name: string; followed: string }[]> {
  const clean = posix.normalize(`/${src}`)
  const notFound = () =>
    new InvalidArgument(`failed to compute cache key: "${clean}" not found: not found`)
  if (!hasWildcards(clean)) {
    const host = await resolveInRoot(root, clean)
    await lstat(host).catch(() => {
      throw notFound()
    })
    return [{ name: clean.slice(1), followed: posix.relative(root, host) }]
  }
  let bases = ['/']
  for (const part of clean.split('/').filter((p) => p !== '')) {
    const next: string[] = []
    for (const b of bases) {
      if (!hasWildcards(part)) {
        next.push(posix.join(b, part))
        continue
      }
      const host = await resolveInRoot(root, b)
      const names = await readdir(host).catch(() => [] as string[])
      const re = new RegExp(
        `^${part
          .replace(/[.+^${}()|\\]/g, '\\$&')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')}$`,
      )
      for (const n of names.sort()) if (re.test(n)) next.push(posix.join(b, n))
    }
    bases = next
  }
  const out: { name: string; followed: string }[] = []
  for (const b of bases) {
    const host = await resolveInRoot(root, b)
    if (await lstat(host).catch(() => undefined))
      out.push({ name: b.slice(1), followed: posix.relative(root, host) })
  }
  return out
}

/** --chown's owner: numbers as they are; names from the image's /etc/passwd and /etc/group (unknown ones are root, as BuildKit has it). */
async function chownOwner(
  root: string | undefined,
  spec: string,
  executor: BuildExecutor,
  parents: LayerRef[],
  signal: AbortSignal,
): Promise<Owner> {
  const [u = '', g] = spec.split(':', 2) as [string, string | undefined]
  const num = (v: string) =>
    v === 'root' ? 0 : /^\d+$/.test(v) ? Number.parseInt(v, 10) : undefined
  let snap: Snapshot | undefined
  const lookup = async (file: string, name: string): Promise<[number, number] | undefined> => {
    if (!root) {
      snap = snap ?? (await executor.snapshot(parents, signal))
      root = await snap.root()
    }
    try {
      const text = await readFile(await resolveInRoot(root, file), 'utf8')
      for (const line of text.split('\n')) {
        const f = line.split(':')
        if (f[0] === name && f.length >= 3) return [Number(f[2]), Number(f[3] ?? f[2])]
      }
    } catch {
      // No such file: as if the name were not in it.
    }
    return undefined
  }
  try {
    let uid = 0
    let gid = 0
    const nu = num(u)
    if (nu !== undefined) {
      uid = nu
      gid = nu
    } else {
      const e = await lookup('/etc/passwd', u)
      if (e) [uid, gid] = [e[0], e[1]]
    }
    if (g !== undefined) {
      const ng = num(g)
      if (ng !== undefined) gid = ng
      else {
        const e = await lookup('/etc/group', g)
        if (e) gid = e[0]
      }
    }
    return { uid, gid }
  } finally {
    await snap?.release()
  }
}

/** ADD's download: the file named after the URL's last path part, mode 0600, checked against --checksum. */
async function download(
  url: string,
  dir: string,
  checksum: string,
  signal: AbortSignal,
): Promise<{ name: string; sha256: string }> {
  let name = '__unnamed__'
  try {
    const base = posix.basename(new URL(url).pathname)
    if (base !== '' && base !== '/' && base !== '.') name = base
  } catch {
    throw new InvalidArgument(`invalid URL: ${url}`)
  }
  let res: Response
  try {
    res = await fetch(url, { signal, redirect: 'follow' })
  } catch (err) {
    throw new InvalidArgument(`failed to load ${url}: ${(err as Error).message}`, { cause: err })
  }
  if (!res.ok || !res.body) throw new InvalidArgument(`invalid response status ${res.status}`)
  const path = join(dir, name)
  const h = createHash('sha256')
  const fh = await open(path, 'wx', 0o600)
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      h.update(chunk)
      await fh.write(chunk)
    }
  } finally {
    await fh.close()
  }
  const sha256 = h.digest('hex')
  if (checksum !== '' && checksum !== `sha256:${sha256}`) {
    throw new InvalidArgument(`digest mismatch ${checksum}: sha256:${sha256}`)
  }
  await chmod(path, 0o600)
  return { name, sha256 }
}

async function duBytes(dir: string): Promise<number> {
  let total = 0
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.isFile()) total += (await lstat(p)).size
    }
  }
  await walk(dir)
  return total
}

export { EnvList, shortId }
