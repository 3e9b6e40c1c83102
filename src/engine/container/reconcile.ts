// What berthd does with the containers it finds at start, after a restart or a crash: compare
// each record with the runtime (conmon's exit file and pid, mounts) and repair the difference.
//
// Only what the API needs before it answers is done before init() returns, and it is cheap:
// file reads in parallel, no runtime process per container. Runtime calls (runc delete), restarts
// by policy, --rm removals and stray cleanup run in the background, a few at a time.
import { readMountInfo } from '../sys/mountinfo.ts'
import { cgroupDirs, readCgroupFile } from './cgroup.ts'
import type { LayerStore } from '../layer/types.ts'
import type { Logger } from '../logger.ts'
import type { ExitStatus, Runtime } from '../runtime/types.ts'
import { ZERO_TIME, type Move } from './state.ts'
import type { ContainerStore } from './store.ts'
import type { Container } from './types.ts'

/** What reconciliation needs of the container service (its private steps, bound). */
export interface ReconcileHost {
  store: ContainerStore
  runtime: Runtime
  layers: LayerStore
  logger: Logger
  /** The container's cgroup as created. */
  cgroupsPath(id: string): string
  rootfs(id: string): string
  unmount(target: string): Promise<void>
  /** Kills and deletes whatever the runtime still runs for id, and forgets its files. */
  discard(id: string): Promise<void>
  /** The container's state machine (state.ts). */
  transition(c: Container, m: Move): Promise<void>
  /** Tells the network which containers still run, so it can let go of the others. */
  networks(running: Container[], all: Container[]): Promise<void>
  /** Follows a running container's exit again. */
  follow(id: string): void
  /** Handles an exit already recorded: --rm, the task's teardown, the restart policy. */
  finishExit(id: string, status: ExitStatus): Promise<void>
  /** Starts a container that its restart policy brings back at daemon start. */
  startOnBoot(c: Container): Promise<void>
  /** Whether the restart policy brings this stopped container back at daemon start. */
  restartsOnBoot(c: Container): boolean
  remove(c: Container): Promise<void>
  markDead(c: Container, why: string): Promise<void>
}

interface Probe {
  c: Container
  exit: ExitStatus | undefined
  alive: boolean
  mounted: boolean
  hasRW: boolean
}

const BACKGROUND_CONCURRENCY = 4

/**
 * Looks at every container; re-follows those still running at once, and returns the
 * background work (a promise that never rejects).
 */
export async function reconcile(h: ReconcileHost): Promise<{ background: Promise<void> }> {
  const { store, runtime, layers, logger } = h
  const containers = store.list()
  const [mounts, rwIds] = await Promise.all([
    readMountInfo().then((ms) => new Set(ms.map((m) => m.mountPoint))),
    layers.listRW().then((ids) => new Set(ids)),
  ])
  const probes: Probe[] = await Promise.all(
    containers.map(async (c) => {
      const [exit, alive] = await Promise.all([
        runtime.exitStatus(c.id),
        runtime.monitorAlive(c.id),
      ])
      return { c, exit, alive, mounted: mounts.has(h.rootfs(c.id)), hasRW: rwIds.has(c.id) }
    }),
  )

  const jobs: (() => Promise<void>)[] = []
  // State changes found here are written before init() returns, all at once.
  const moves: Promise<void>[] = []
  const move = (c: Container, m: Move): void => {
    moves.push(
      h.transition(c, m).catch((err: unknown) => {
        logger.warn('reconcile: cannot record a container state', {
          id: c.id,
          move: m.kind,
          error: String(err),
        })
      }),
    )
  }
  for (const p of probes) {
    const { c } = p
    if (!p.hasRW) {
      // Docker marks a container whose filesystem is gone dead: it can only be removed.
      if (!c.state.Dead) {
        logger.info('reconcile: container has no root filesystem layer; marking it dead', {
          id: c.id,
        })
        jobs.push(() => h.markDead(c, 'its read-write layer is missing'))
      }
      if (p.alive) jobs.push(() => killStray(h, c.id, 'a dead container'))
      continue
    }
    if (c.state.Running) {
      if (p.alive && !p.exit) {
        if (c.state.Restarting) move(c, { kind: 'reattached' })
        logger.debug('reconcile: container still running; following it', { id: c.id })
        h.follow(c.id)
        // A commit pauses a container and thaws it after; a daemon killed in between must not
        // leave it frozen when its record says it runs.
        if (!c.state.Paused) jobs.push(() => thawIfFrozen(h, c))
        continue
      }
      let status: ExitStatus
      if (p.exit) {
        status = p.exit
        logger.info('reconcile: container exited while the daemon was down', {
          id: c.id,
          code: status.exitCode,
          finishedAt: status.finishedAt,
        })
        if (status.error !== undefined) {
          logger.warn('reconcile: the exit code of a container is unknown', {
            id: c.id,
            error: status.error,
          })
        }
      } else if (c.state.Restarting) {
        // The daemon went down during a restart back-off: the last run's exit stands.
        status = { exitCode: c.state.ExitCode, finishedAt: c.state.FinishedAt }
        logger.info('reconcile: container was waiting to restart', { id: c.id })
      } else {
        status = { exitCode: 255, finishedAt: new Date().toISOString() }
        logger.warn('reconcile: container lost its monitor; marking it exited', { id: c.id })
      }
      // Shown as exited at once; the runtime's record goes in the background.
      move(c, { kind: 'exited-while-down', exit: status })
      const st = status
      jobs.push(async () => {
        if (!p.exit) {
          await runtime.delete(c.id, true).catch((err: unknown) => {
            logger.warn('reconcile: cannot delete a container whose monitor is gone', {
              id: c.id,
              error: String(err),
            })
          })
        }
        await h.finishExit(c.id, st)
      })
      continue
    }
    // Not running by its record.
    if (p.alive) {
      // Killed inside start: the process never became the container's; undo it.
      logger.info('reconcile: removing a half-started container process', { id: c.id })
      jobs.push(() => killStray(h, c.id, 'a half-started container'))
    } else if (p.mounted) {
      logger.info('reconcile: unmounting the root filesystem of a stopped container', {
        id: c.id,
      })
      jobs.push(() => h.unmount(h.rootfs(c.id)).catch(() => undefined))
    }
    if (c.state.Dead) continue
    if (c.hostConfig.AutoRemove) {
      logger.info('reconcile: removing a --rm container that exited while the daemon was down', {
        id: c.id,
      })
      jobs.push(() => h.remove(c))
    } else if (c.state.StartedAt !== ZERO_TIME && h.restartsOnBoot(c)) {
      logger.info('reconcile: restarting container by its restart policy', {
        id: c.id,
        policy: c.hostConfig.RestartPolicy?.Name,
      })
      jobs.push(() => h.startOnBoot(c))
    }
  }

  await Promise.all(moves)
  await h.networks(
    probes.filter((p) => p.alive && !p.exit && p.hasRW && p.c.state.Running).map((p) => p.c),
    containers,
  )

  // Strays: read-write layers and runtime state with no container record.
  const known = new Set(containers.map((c) => c.id))
  for (const id of rwIds) {
    if (known.has(id) || !/^[0-9a-f]{64}$/.test(id)) continue
    logger.info('reconcile: removing a read-write layer with no container', { id })
    jobs.push(() => layers.removeRW(id))
  }
  for (const id of await runtime.knownIds().catch(() => [])) {
    if (known.has(id)) continue
    logger.info('reconcile: removing runtime state with no container', { id })
    jobs.push(() => killStray(h, id, 'runtime state with no container'))
  }

  const background = runPool(jobs, BACKGROUND_CONCURRENCY, (err) =>
    logger.warn('reconcile: a repair failed', { error: String(err) }),
  )
  return { background }
}

async function thawIfFrozen(h: ReconcileHost, c: Container): Promise<void> {
  const dirs = await cgroupDirs(c.state.Pid, h.cgroupsPath(c.id))
  const frozen =
    dirs.version === 1
      ? (await readCgroupFile(dirs.dir('freezer'), 'freezer.state'))?.trim() === 'FROZEN'
      : (await readCgroupFile(dirs.dir(''), 'cgroup.freeze'))?.trim() === '1'
  if (!frozen) return
  h.logger.info('reconcile: thawing a container left frozen by an interrupted commit', {
    id: c.id,
  })
  await h.runtime.resume(c.id)
}

/** Kills and deletes a container the runtime holds but the records do not want running. */
async function killStray(h: ReconcileHost, id: string, what: string): Promise<void> {
  await h.discard(id).catch((err: unknown) => {
    h.logger.warn(`reconcile: could not delete ${what}`, { id, error: String(err) })
  })
  await h.unmount(h.rootfs(id)).catch(() => undefined)
}

async function runPool(
  jobs: (() => Promise<void>)[],
  n: number,
  onError: (err: unknown) => void,
): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++] as () => Promise<void>
      try {
        await job()
      } catch (err) {
        onError(err)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, worker))
}
