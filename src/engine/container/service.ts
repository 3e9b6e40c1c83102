// The container lifecycle: create, start, attach, wait, logs, kill, stop, remove. A container's
// process runs as a task (task/), its network comes from the network seam (network/types.ts),
// and its state changes go through one transition() (state.ts); exits and restart policies
// are the supervisor's (supervisor.ts), reconciliation at daemon start is reconcile.ts's.
import { isDigest } from '../digest.ts'
import { Conflict, Internal, NotImplemented, NotModified, isBerthError } from '../errors.ts'
import { containerCgroupsPath } from '../host/types.ts'
import type { NetworkSettings } from '../network/types.ts'
import type { LogEntry, LogReadOptions } from '../runtime/types.ts'
import { dirname, join } from 'node:path'
import type { StartedTask } from '../task/types.ts'
import { AttachHub } from './attach.ts'
import { containerEnv, entrypointAndArgs, mergeImageConfig } from './config.ts'
import { createContainer } from './create.ts'
import { rootfsConfinement } from './confine.ts'
import { startGpus } from './gpu.ts'
import { ContainerMounts } from './mounts.ts'
import { networked } from './network.ts'
import { reconcile, type ReconcileHost } from './reconcile.ts'
import { ContainerStates, ZERO_TIME } from './state.ts'
import { ContainerStore } from './store.ts'
import { parseSignal } from './signals.ts'
import { ContainerSignals } from './stop.ts'
import { Supervisor } from './supervisor.ts'
import { containerPaths, containerTask, containerTaskRef } from './task.ts'
import { prunable } from './lifecycle.ts'
import { ContainerTrash } from './trash.ts'
import { removeContainer } from './remove.ts'
import type { ContainerDeps } from './deps.ts'
import type {
  AttachSession,
  Container,
  ContainerApi,
  CreateRequest,
  GuardApi,
  RestoreResult,
  TrashList,
  TrashPurgeReport,
  UnsavedChanges,
  WaitCondition,
  WaitResult,
} from './types.ts'
import { UnsavedTracker } from './unsaved.ts'
import { KeyedQueue, Waiters } from './waiters.ts'
import { settledWithin } from '../../lib/within.ts'

export { containerEnv, entrypointAndArgs, mergeImageConfig }

export type { ContainerDeps } from './deps.ts'

/**
 * Operations on one container are serialised; nothing is held across a slow runtime call
 * longer than needed.
 */
export class ContainerService implements ContainerApi, GuardApi {
  readonly store: ContainerStore
  readonly states: ContainerStates
  readonly waiters = new Waiters()
  /** Binds, volumes and tmpfs mounts (container/mounts.ts). */
  readonly mounts: ContainerMounts
  private readonly queue = new KeyedQueue()
  private readonly hubs = new Map<string, AttachHub>()
  private readonly supervisor: Supervisor
  private readonly signals: ContainerSignals
  /** Background cleanups of removed containers, awaited by settle(). */
  private readonly cleanups = new Set<Promise<void>>()
  /** Reconciliation work left for after init() (runtime cleanup, restarts, strays). */
  reconciled: Promise<void> = Promise.resolve()
  /** Each container's changes outside its volumes (unsaved.ts). */
  readonly tracker: UnsavedTracker
  /** Removed containers kept for a while (trash.ts); off unless keepRemovedMs is set. */
  readonly removed: ContainerTrash
  /** What is remembered of the containers' changes, loaded after init() in the background. */
  private unsavedLoaded: Promise<void> = Promise.resolve()

  constructor(private readonly deps: ContainerDeps) {
    this.store = new ContainerStore(deps.dir)
    this.states = new ContainerStates(this.store, deps.events)
    this.supervisor = new Supervisor(this, deps)
    this.signals = new ContainerSignals({
      ...deps,
      states: this.states,
      supervisor: this.supervisor,
    })
    const measure = (id: string, skip: ReadonlySet<string>) => deps.layers.rwUsage(id, skip)
    const imageExists = async (id: string) =>
      isDigest(id) && (await deps.images.get(id)) !== undefined
    this.tracker = new UnsavedTracker({
      dir: (id) => this.store.containerDir(id),
      measure,
      imageExists,
      logger: deps.logger,
    })
    this.removed = new ContainerTrash({
      dir: deps.trashDir ?? join(dirname(deps.dir), 'trash'),
      keepMs: deps.keepRemovedMs ?? 0,
      store: this.store,
      states: this.states,
      measure,
      removeRW: (id) => deps.layers.removeRW(id),
      imageExists,
      network: deps.network,
      ...(deps.volumes ? { volumes: deps.volumes } : {}),
      logger: deps.logger,
    })
    this.mounts = new ContainerMounts({
      volumes: deps.volumes,
      ...(deps.events ? { events: deps.events } : {}),
      container: (ref) => this.store.get(ref),
      withRootfs: async (id, rootfs, fn) => {
        await deps.mount(await deps.layers.rootfsMount(id, rootfs))
        try {
          await fn()
        } finally {
          await deps.unmount(rootfs)
        }
      },
    })
  }

  /** Loads the records and reconciles them with the runtime (the slow part in the background). */
  async init(): Promise<void> {
    await this.store.init()
    // Before reconciliation, which must leave the layers the trash keeps alone.
    await this.removed.init()
    for (const c of this.store.list()) await this.mounts.restore(c)
    this.reconciled = (await reconcile(this.reconcileHost())).background
    this.unsavedLoaded = this.tracker.load(this.store.list()).catch((err: unknown) => {
      this.deps.logger.warn('loading what containers changed failed', { error: String(err) })
    })
  }

  /** Runs fn after every earlier operation on the container (also used by files.ts). */
  locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.queue.run(id, fn)
  }

  async get(ref: string): Promise<Container> {
    return this.store.get(ref)
  }

  async list(): Promise<Container[]> {
    return this.store.list()
  }

  /** The container's cgroup as created (for stats and top once its process is gone). */
  cgroupsPath(id: string): string {
    return containerCgroupsPath(this.deps.host, id)
  }

  create(
    req: CreateRequest,
    name: string | undefined,
  ): Promise<{ Id: string; Warnings: string[] }> {
    return createContainer(
      {
        store: this.store,
        states: this.states,
        mounts: this.mounts,
        images: this.deps.images,
        layers: this.deps.layers,
        network: this.deps.network,
        host: this.deps.host,
        gpus: this.deps.gpus,
        logger: this.deps.logger,
      },
      req,
      name,
    )
  }

  async start(ref: string): Promise<void> {
    const c = this.store.get(ref)
    await this.locked(c.id, async () => {
      if (c.state.Running) throw new NotModified('container already started')
      if (c.state.Status === 'removing' || c.state.Dead) {
        throw new Conflict(`container is marked for removal and cannot be started`)
      }
      this.supervisor.resetRestart(c)
      await this.startLocked(c)
    })
  }

  /** Starts the container's process; the lock is held. On failure it records the error. */
  async startLocked(c: Container): Promise<void> {
    const { tasks, network } = this.deps
    const dir = this.store.containerDir(c.id)
    const paths = containerPaths(dir)
    const nc = networked(c, dir)
    let started: StartedTask | undefined
    try {
      // A container that ran before left its monitor's files; clear them (the runtime's own
      // record went when its exit was handled). Docker keeps the log across restarts.
      if (c.state.StartedAt !== ZERO_TIME) await tasks.forget(c.id)
      this.tracker.started(c.id)
      const net = await network.prepare(nc)
      try {
        started = await tasks.start(
          containerTask(c, {
            dir,
            rootfs: await this.deps.layers.rootfsMount(c.id, paths.rootfs),
            network: net,
            host: this.deps.host.facts,
            inRootfs: async (rootfs) => {
              const mounts = await this.mounts.prepare(c, rootfs)
              const confinement = await rootfsConfinement(c.hostConfig, rootfs, this.deps.devices)
              const gpus = await startGpus(this.deps, c, dir, rootfs)
              return { mounts, ...confinement, ...(gpus ? { deviceEdits: gpus } : {}) }
            },
            // Connect the clients that attached before start, so that no output is lost.
            onCreated: async () => {
              await this.hubs.get(c.id)?.ensureConnected()
            },
          }),
        )
      } catch (err) {
        await network.release(nc).catch((e: unknown) => {
          this.deps.logger.warn('releasing a network failed', { id: c.id, error: String(e) })
        })
        throw err
      }
      await this.states.transition(c, { kind: 'start', pid: started.pid })
      this.supervisor.watch(c.id)
    } catch (err) {
      if (started) {
        // Started, but its state could not be recorded: it must not run unrecorded.
        await tasks.discard(c.id).catch(() => undefined)
        await tasks.finish(containerTaskRef(c, dir))
        await network.release(nc).catch(() => undefined)
      }
      await this.failStart(c, err)
      throw err
    }
  }

  /** Records a failed start as Docker does (the state stays), and removes a --rm container. */
  private async failStart(c: Container, err: unknown): Promise<void> {
    const exitCode = isBerthError(err) && 'exitCode' in err ? Number(err.exitCode) : 128
    const error = err instanceof Error ? err.message : String(err)
    this.hubs.get(c.id)?.abort()
    try {
      await this.states.transition(c, { kind: 'start-failed', exitCode, error })
    } catch (e) {
      this.deps.logger.error('recording a failed start failed', { id: c.id, error: String(e) })
    }
    this.waiters.exited(c.id, { StatusCode: exitCode, Error: null })
    if (!c.hostConfig.AutoRemove) return
    // Docker leaves no --rm container behind whose start failed.
    await this.removeLocked(c, { force: true, volumes: true }).catch((e: unknown) => {
      this.deps.logger.error('removing a --rm container whose start failed failed', {
        id: c.id,
        error: String(e),
      })
    })
  }

  async wait(ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<WaitResult> {
    const c = this.store.get(ref)
    if (condition === 'not-running' && !c.state.Running) {
      return { StatusCode: c.state.ExitCode, Error: null }
    }
    return this.waiters.wait(c.id, condition === 'removed', signal)
  }

  /**
   * Attaches to the container's streams. For a container not yet running, the connection is
   * made when it starts, before the process runs, so the client sees every byte.
   */
  async attach(ref: string): Promise<AttachSession> {
    const c = this.store.get(ref)
    let hub = this.hubs.get(c.id)
    if (!hub) {
      const created: AttachHub = new AttachHub(
        () => this.deps.runtime.attach(c.id),
        () => {
          if (this.hubs.get(c.id) === created) this.hubs.delete(c.id)
        },
      )
      this.hubs.set(c.id, created)
      hub = created
    }
    const sub = hub.subscribe()
    if (c.state.Running) await hub.ensureConnected()
    this.states.emit(c, 'attach')
    const connected = hub
    return {
      output: sub.output,
      writeStdin: (data) => connected.writeStdin(data),
      closeStdin: () => connected.closeStdin(),
      close: () => sub.unsubscribe(),
    }
  }

  async logs(
    ref: string,
    opts: Omit<LogReadOptions, 'stopWhen'>,
  ): Promise<AsyncIterable<LogEntry>> {
    const c = this.store.get(ref)
    if ((c.hostConfig.LogConfig as { Type?: string } | undefined)?.Type === 'none') {
      throw new NotImplemented('configured logging driver does not support reading')
    }
    const exit = this.supervisor.exitHandled(c.id)
    const follow = opts.follow && c.state.Running && exit !== undefined
    return this.deps.readLog(c.logPath, {
      ...opts,
      follow,
      ...(follow && exit ? { stopWhen: exit } : {}),
    })
  }

  async kill(ref: string, signal = 'KILL'): Promise<void> {
    parseSignal(signal)
    await this.signals.kill(this.store.get(ref), ref, signal)
  }

  async stop(ref: string, timeoutSeconds?: number, signal?: string): Promise<void> {
    await this.signals.stop(this.store.get(ref), ref, timeoutSeconds, signal)
  }

  /** A change of restart policy (docker update) applies from the next exit on. */
  restartPolicyChanged(id: string): void {
    this.supervisor.policyChanged(id)
  }

  async remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const c = this.store.get(ref)
    if (c.state.Running) {
      if (!opts.force) {
        throw new Conflict(
          `cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`,
        )
      }
      // A container that was waiting to restart has stopped doing so here: no process.
      if (!(await this.supervisor.noteManualStop(c, 'KILL'))) {
        const exit = this.supervisor.exitHandled(c.id) ?? Promise.resolve()
        await this.signals.killAndWait(
          c,
          exit,
          (why, cause) =>
            new Internal(`cannot remove container "/${c.name}": could not kill: ${why}`, {
              cause,
            }),
        )
      }
    }
    await this.locked(c.id, async () => {
      if (this.store.list().includes(c)) await this.removeLocked(c, opts)
    })
  }

  /** Removes a container, the lock held (remove.ts: the steps and why in that order). */
  async removeLocked(
    c: Container,
    opts: { force: boolean; volumes: boolean },
    how: { deferCleanup?: boolean } = {},
  ): Promise<void> {
    await removeContainer(
      {
        store: this.store,
        states: this.states,
        mounts: this.mounts,
        tracker: this.tracker,
        removed: this.removed,
        waiters: this.waiters,
        supervisor: this.supervisor,
        cleanups: this.cleanups,
        tasks: this.deps.tasks,
        network: this.deps.network,
        layers: this.deps.layers,
        logger: this.deps.logger,
        unmount: (target) => this.deps.unmount(target),
      },
      c,
      opts,
      how,
    )
  }

  async sizes(ref: string): Promise<{ rw: number; rootfs: number }> {
    const c = this.store.get(ref)
    const rw = await this.deps.layers.rwSize(c.id)
    const image = await this.deps.images.get(c.image)
    return { rw, rootfs: rw + (image?.size ?? 0) }
  }

  async networkSettings(ref: string): Promise<NetworkSettings> {
    const c = this.store.get(ref)
    return this.deps.network.settings(networked(c, this.store.containerDir(c.id)), c.state.Running)
  }

  /** Containers created from an image, running ones first (for rmi). */
  async containersUsing(imageId: string): Promise<{ id: string; running: boolean }[]> {
    return this.store
      .list()
      .filter((c) => c.image === imageId)
      .map((c) => ({ id: c.id, running: c.state.Running }))
      .sort((a, b) => Number(b.running) - Number(a.running))
  }

  /** Waits for the exit handling of every running container (used at shutdown by tests). */
  async settle(): Promise<void> {
    await this.reconciled
    await this.supervisor.settle()
    await Promise.all([...this.cleanups])
    await this.tracker.settle()
    await this.removed.settleAll()
  }

  /**
   * At daemon shutdown: waits for the background cleanups of removed containers (a `run --rm`
   * container's network, runtime record and layer), so that a daemon stopped right after such
   * a run leaves no bridge or rule behind. Bounded by ms; true when all of them finished.
   */
  async drainCleanups(ms: number): Promise<boolean> {
    return settledWithin(this.cleanups, ms)
  }

  /** The supervisor's word that a container's process ended: its layer is measured once. */
  layerSettled(c: Container): void {
    this.tracker.settled(c)
  }

  /** The supervisor's word that a container's process ended: its volumes are unmounted. */
  mountsReleased(c: Container): Promise<void> {
    return this.mounts.stopped(c)
  }

  // ---- the guard (GuardApi): unsaved changes and the trash

  async unsaved(ref: string): Promise<UnsavedChanges> {
    await this.unsavedLoaded
    return this.tracker.exact(this.store.get(ref))
  }

  async unsavedAll(): Promise<UnsavedChanges[]> {
    await this.unsavedLoaded
    return Promise.all(this.store.list().map((c) => this.tracker.known(c)))
  }

  async unsavedPrunable(match: (c: Container) => boolean): Promise<UnsavedChanges[]> {
    await this.unsavedLoaded
    const out: UnsavedChanges[] = []
    for (const c of this.store.list()) {
      if (prunable(c) && match(c)) out.push(await this.tracker.exact(c))
    }
    return out
  }

  async trash(): Promise<TrashList> {
    return {
      KeepSeconds: Math.floor(this.removed.keepMs / 1000),
      Entries: await this.removed.list(),
    }
  }

  async restore(ref: string, name?: string): Promise<RestoreResult> {
    const r = await this.removed.restore(ref, name)
    await this.tracker.load([this.store.get(r.Id)])
    return r
  }

  purge(refs?: string[]): Promise<TrashPurgeReport> {
    return this.removed.purge(refs)
  }

  private reconcileHost(): ReconcileHost {
    const { runtime, layers, logger, network, tasks } = this.deps
    const inStore = (c: Container): boolean => this.store.list().includes(c)
    const dirOf = (id: string): string => this.store.containerDir(id)
    return {
      store: this.store,
      kept: this.removed.ids(),
      runtime,
      layers,
      logger,
      cgroupsPath: (id) => this.cgroupsPath(id),
      rootfs: (id) => containerPaths(dirOf(id)).rootfs,
      unmount: (target) => this.deps.unmount(target),
      discard: (id) => tasks.discard(id),
      transition: (c, m) => this.states.transition(c, m),
      networks: (running, all) =>
        network.reconcile(
          running.map((c) => networked(c, dirOf(c.id))),
          all.map((c) => networked(c, dirOf(c.id))),
        ),
      follow: (id) => this.supervisor.watch(id),
      finishExit: (id, status) => this.supervisor.handleExit(id, status),
      restartsOnBoot: (c) => this.supervisor.restartsOnBoot(c),
      startOnBoot: (c) =>
        this.locked(c.id, async () => {
          if (!inStore(c) || c.state.Running) return
          this.supervisor.resetRestart(c)
          await this.startLocked(c)
        }),
      remove: (c) =>
        this.locked(c.id, async () => {
          if (inStore(c)) await this.removeLocked(c, { force: true, volumes: false })
        }),
      markDead: (c, why) =>
        this.locked(c.id, () => this.states.transition(c, { kind: 'dead', why })),
    }
  }
}
