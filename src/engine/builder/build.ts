// The build: unpack the context, parse and plan the Dockerfile, resolve base images, run the
// stages the target needs (independent ones at once), each instruction against the cache, and
// record the result. Steps that change files run in a snapshot of the stage's layers through the
// executor; each gives at most one reproducible layer.
//
// Cache keys are digests of what a step's result depends on, never of times: the parent's layers
// (their diffIDs), the instruction with its variables expanded, the environment, user and working
// directory a RUN sees, the build args it uses, and for COPY/ADD the names, modes and contents of
// every source after .dockerignore (or, from a stage or image, that source's layers).

import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'
import { InvalidArgument, Unavailable } from '../errors.ts'
import { spreadNewDirectories } from '../fsutil.ts'
import { settledWithin } from '../../lib/within.ts'
import type { ContentRoot } from '../image/types.ts'
import { BuildContext } from './context.ts'
import {
  applyMetadata,
  emptyConfig,
  expandCommand,
  historyEntry,
  initialState,
  type StageState,
} from './dispatch.ts'
import { DockerfileError, StepFailed } from './errors.ts'
import { parseDockerfile } from './instructions.ts'
import {
  EnvList,
  formatPlatform,
  hostPlatform,
  parsePlatform,
  planBuild,
  type PlannedCommand,
} from './plan.ts'
import { Lexer } from './shell.ts'
import type {
  BaseImage,
  BuildApi,
  BuildEventSink,
  BuildOptions,
  BuildResult,
  CacheRecordInfo,
  LayerRef,
} from './types.ts'
import {
  type BuilderDeps,
  type Run,
  type StageRun,
  type Live,
  type StepEnv,
  PROXY_ARGS,
  Gate,
  shortId,
  imageConfig,
  configId,
  stepList,
} from './build-run.ts'
import { workdirStep } from './layer-step.ts'
import { copyStep } from './copy-step.ts'
import { runStep } from './run-step.ts'
import { resolveStages } from './resolve.ts'
import { cacheUsage, pruneCache } from './cache-usage.ts'

export class Builder implements BuildApi, ContentRoot {
  private readonly locks = new Map<string, Promise<void>>()
  private readonly gate = new Gate()
  /** The running builds: the images they read (held) and the cached layers they use. */
  private readonly running = new Set<Live>()
  /** Cache mounts steps are using now, and how many. */
  private readonly inUse = new Map<string, number>()
  /** Every build under way (waiting at the gate included), by what cancels it. */
  private readonly inflight = new Map<AbortController, Promise<BuildResult>>()
  /** Set once the daemon shuts down: builds asked for afterwards are refused with it. */
  private closing: Unavailable | undefined

  constructor(private readonly deps: BuilderDeps) {}

  /** Removes what builds cut short by a dying daemon left in the temp directory. */
  async init(): Promise<void> {
    await rm(this.deps.tmpDir, { recursive: true, force: true })
    await mkdir(this.deps.tmpDir, { recursive: true, mode: 0o700 })
    // A context sent as a tar (the docker CLI's) is written here and deleted at each build.
    await spreadNewDirectories(this.deps.tmpDir)
    await this.deps.cache.init()
  }

  async contextNeeds(key: string, listing: Record<string, string>): Promise<string[]> {
    if (!this.deps.contexts) throw new InvalidArgument('this berthd keeps no synced build contexts')
    return this.deps.contexts.needs(key, listing)
  }

  build(context: Readable, opts: BuildOptions, emit: BuildEventSink): Promise<BuildResult> {
    if (this.closing) return Promise.reject(this.closing)
    // The daemon's shutdown cancels the build as a client hanging up does.
    const stop = new AbortController()
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal
    const done = this.gate.shared(() => {
      // Cancelled while it waited for a prune: buildNow would miss the abort, long past.
      signal.throwIfAborted()
      return this.buildNow(context, { ...opts, signal }, emit)
    })
    this.inflight.set(stop, done)
    const forget = () => void this.inflight.delete(stop)
    done.then(forget, forget)
    return done
  }

  /**
   * At daemon shutdown: cancels every running build (their steps are killed) and waits, at most
   * ms, until they have released what they hold (snapshot mounts, read-write layers, temp files),
   * which a daemon exiting earlier would leave to its next start. True when all of them did.
   */
  async close(ms: number): Promise<boolean> {
    this.closing ??= new Unavailable('berthd is shutting down: the build was cancelled')
    for (const stop of this.inflight.keys()) stop.abort(this.closing)
    return settledWithin(this.inflight.values(), ms)
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
    let releaseContext: (() => void) | undefined
    try {
      let ctx: BuildContext
      if (opts.syncedContext) {
        if (!this.deps.contexts)
          throw new InvalidArgument('this berthd keeps no synced build contexts')
        const sc = opts.syncedContext
        const opened =
          'unchanged' in sc
            ? await this.deps.contexts.openUnchanged(sc.key, sc.unchanged)
            : await this.deps.contexts.open(
                sc.key,
                sc.listing,
                context,
                controller.signal,
                sc.digest,
              )
        ctx = opened.ctx
        releaseContext = opened.release
      } else {
        ctx = await BuildContext.fromTar(context, join(tmp, 'context'), controller.signal)
      }
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
        madeInBuild: new Map(),
        abort: () => controller.abort(new Error('another stage failed')),
      }
      const order = await resolveStages(this.deps, run, platform)
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
      releaseContext?.()
      await rm(tmp, { recursive: true, force: true })
      // The cache hits' times, written once for the whole build.
      await this.deps.cache.flush()
    }
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
    if (raw.kind === 'run') return runStep(this.env(), run, s, raw, pc, step)
    const cmd = raw.kind === 'arg' ? raw : expandCommand(raw, run.lex, s.env)
    if (cmd.kind === 'copy' || cmd.kind === 'add') return copyStep(this.env(), run, s, cmd, pc)
    if (cmd.kind === 'workdir') return workdirStep(this.deps, run, s, cmd.path)
    const line = applyMetadata(s, cmd, run.argCtx)
    if (line !== undefined)
      s.config.history = [...(s.config.history ?? []), historyEntry(line, false)]
    return false
  }

  /** What the step functions use of this builder. */
  private env(): StepEnv {
    return { deps: this.deps, inUse: this.inUse, lock: (name) => this.lock(name) }
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
    return cacheUsage(this.deps, this.running, this.inUse)
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
    return this.gate.alone(() => pruneCache(this.deps, opts))
  }
}

export { EnvList, shortId }
export type { BuilderDeps }
