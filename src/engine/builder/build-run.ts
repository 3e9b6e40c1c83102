// What one build shares between its parts (deps, Run, StageRun), the build/prune gate, the image config.
import type { ContextStore } from './context-store.ts'
import { createHash } from 'node:crypto'
import type { ContentCollector, ImageConfig } from '../image/types.ts'
import { BuildCache } from './cache.ts'
import { BuildContext } from './context.ts'
import type { ArgContext, StageState } from './dispatch.ts'
import { familiarString, parseDockerRef, tagNameOnly } from '../../lib/reference.ts'
import type { Command } from './instructions.ts'
import type { BuildPlan, StagePlan } from './plan.ts'
import { Lexer } from './shell.ts'
import type {
  BaseImage,
  BuildEventSink,
  BuildExecutor,
  BuildImages,
  BuildOptions,
  ImagePuller,
  LayerRef,
  StepInfo,
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
  /** berth's synced contexts, kept between builds; without it they are refused. */
  contexts?: ContextStore
}

export const PROXY_ARGS = ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY']

/** One stage of a running build. */
export interface StageRun {
  plan: StagePlan
  /** Index of the stage's FROM step in the step list. */
  firstStep: number
  done: Promise<StageState>
}

/** Everything one build shares between its stages. */
export interface Run {
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
  /**
   * Under --no-cache, the layers of steps this build makes whose layer follows from the key alone
   * (layer-step.ts `sameInBuild`), by cache key: another stage's equal step takes that one.
   */
  madeInBuild: Map<string, Promise<LayerRef | undefined>>
  /** Stops every stage (a stage failed, or the client went away). */
  abort: () => void
}

/** What a running build holds: the images it reads and the cache records' layers it uses. */
export interface Live {
  images: Map<string, BaseImage>
  used: Set<string>
}

/** Many builds at once, or one prune alone: a prune waits for running builds, and builds for it. */
export class Gate {
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
export function missingImage(ref: string): string {
  let shown = ref
  try {
    shown = familiarString(tagNameOnly(parseDockerRef(ref)))
  } catch {
    // An ID or a reference of another shape: shown as written.
  }
  return `No such image: ${shown}: berth cannot pull images yet; load or import it first (docker load, docker import)`
}

export function shortId(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12)
}

/** What the step functions need of the Builder: its parts, the cache mounts in use and its named locks. */
export interface StepEnv {
  deps: BuilderDeps
  /** Cache mounts in use, with how many steps use each (sharing=private, system df). */
  inUse: Map<string, number>
  lock(name: string): Promise<() => Promise<void>>
}

/**
 * The image config a state makes: dates at the epoch (SOURCE_DATE_EPOCH or 1970), the --label
 * labels, no host-specific fields, keys in a fixed order so the same build gives the same ID.
 */
export function imageConfig(run: Run, s: StageState): ImageConfig {
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
export function configId(run: Run, s: StageState): string {
  return `sha256:${createHash('sha256')
    .update(JSON.stringify(imageConfig(run, s)))
    .digest('hex')}`
}

/** The steps of the reachable stages, in Dockerfile order: each FROM, then its instructions. */
export function stepList(plan: BuildPlan, order: number[]): StepInfo[] {
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
