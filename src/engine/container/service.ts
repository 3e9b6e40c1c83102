// The container lifecycle: create, start, attach, wait, logs, kill, stop, remove. A container's
// process runs as a task (task/), its network comes from the network seam (network/types.ts),
// and its state changes go through one transition() (state.ts); exits and restart policies
// are the supervisor's (supervisor.ts), reconciliation at daemon start is reconcile.ts's.
import { Conflict, Internal, NotModified, isBerthError } from '../errors.ts'
import type { EventSink } from '../events/types.ts'
import { faultPoint } from '../fault.ts'
import { containerCgroupsPath, type HostProfile } from '../host/types.ts'
import type { ImageReader } from '../image/types.ts'
import type { LayerStore, Mount } from '../layer/types.ts'
import type { Logger } from '../logger.ts'
import type { NetworkManager, NetworkSettings } from '../network/types.ts'
import type { HostDevices, LogEntry, LogReadOptions, Runtime } from '../runtime/types.ts'
import type { StartedTask, TaskRunner } from '../task/types.ts'
import type { VolumeStore } from '../volume/types.ts'
import { AttachHub } from './attach.ts'
import { containerEnv, entrypointAndArgs, mergeImageConfig } from './config.ts'
import { createContainer } from './create.ts'
import { rootfsConfinement } from './confine.ts'
import { ContainerMounts } from './mounts.ts'
import { networked } from './network.ts'
import { reconcile, type ReconcileHost } from './reconcile.ts'
import { ContainerStates, ZERO_TIME } from './state.ts'
import { ContainerStore } from './store.ts'
import { parseSignal } from './signals.ts'
import { ContainerSignals } from './stop.ts'
import { Supervisor } from './supervisor.ts'
import { containerPaths, containerTask, containerTaskRef } from './task.ts'
import type {
  AttachSession,
  Container,
  ContainerApi,
  CreateRequest,
  WaitCondition,
  WaitResult,
} from './types.ts'
import { KeyedQueue, Waiters } from './waiters.ts'

export { containerEnv, entrypointAndArgs, mergeImageConfig }

/** What the container service needs from the other modules, passed in by the daemon's wiring. */
export interface ContainerDeps {
  dir: string
  images: ImageReader
  layers: LayerStore
  /** Signals, attach, pause and resume of running processes; monitor files at reconcile. */
  runtime: Runtime
  /** Runs each container's process. */
  tasks: TaskRunner
  network: NetworkManager
  host: HostProfile
  /** The host's device nodes, for --device and --privileged. */
  devices: HostDevices
  readLog(path: string, opts: LogReadOptions): AsyncIterable<LogEntry>
  /** Mounts a root filesystem outside a start (to fill volumes at create). */
  mount(m: Mount): Promise<void>
  unmount(target: string): Promise<void>
  logger: Logger
  /** Named and anonymous volumes; without it, only binds and tmpfs mounts work. */
  volumes?: VolumeStore
  /** Where lifecycle events go (GET /events); none when absent. */
  events?: EventSink
}

/**
 * Operations on one container are serialised; nothing is held across a slow runtime call
 * longer than needed.
 */
export class ContainerService implements ContainerApi {
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

  constructor(private readonly deps: ContainerDeps) {
    this.store = new ContainerStore(deps.dir)
    this.states = new ContainerStates(this.store, deps.events)
    this.supervisor = new Supervisor(this, deps)
    this.signals = new ContainerSignals({
      ...deps,
      states: this.states,
      supervisor: this.supervisor,
    })
    this.mounts = new ContainerMounts({
      volumes: deps.volumes,
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
    for (const c of this.store.list()) await this.mounts.restore(c)
    this.reconciled = (await reconcile(this.reconcileHost())).background
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
      const net = await network.prepare(nc)
      try {
        started = await tasks.start(
          containerTask(c, {
            dir,
            rootfs: await this.deps.layers.rootfsMount(c.id, paths.rootfs),
            network: net,
            host: this.deps.host.facts,
            inRootfs: async (rootfs) => ({
              mounts: await this.mounts.prepare(c, rootfs),
              ...(await rootfsConfinement(c.hostConfig, rootfs, this.deps.devices)),
            }),
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

  /**
   * Removes a container. With deferCleanup (a --rm container that just exited) the record
   * goes first and the waiters hear of it at once; the runtime record, mount and layer are
   * cleared right after in the background. A crash in between leaves strays that the next
   * start removes, never a record without its filesystem.
   */
  async removeLocked(
    c: Container,
    opts: { force: boolean; volumes: boolean },
    how: { deferCleanup?: boolean } = {},
  ): Promise<void> {
    const { tasks, network } = this.deps
    const dir = this.store.containerDir(c.id)
    const nc = networked(c, dir)
    await this.states.transition(c, { kind: 'removing' })
    const clearRuntime = async (): Promise<void> => {
      if (how.deferCleanup) await tasks.discard(c.id)
      else await tasks.forget(c.id)
      faultPoint('rm.after-runtime')
    }
    const clearRest = async (): Promise<void> => {
      // An exited --rm container's network is released here rather than at its exit.
      if (how.deferCleanup) await network.release(nc)
      await network.remove(nc)
      await this.deps.layers.removeRW(c.id)
      await this.mounts.release(c.id, c.mountPoints ?? [], opts.volumes)
    }
    if (!how.deferCleanup) await clearRuntime()
    // The rootfs is mounted inside the record's directory: never delete through it.
    await this.unmountRootfs(c.id)
    await this.store.delete(c)
    this.states.emit(c, 'destroy')
    faultPoint('rm.after-record')
    if (how.deferCleanup) {
      const cleanup = clearRuntime()
        .then(clearRest)
        .catch((err: unknown) => {
          this.deps.logger.warn('cleanup after removal failed', { id: c.id, error: String(err) })
        })
        .finally(() => this.cleanups.delete(cleanup))
      this.cleanups.add(cleanup)
    } else {
      await clearRest()
    }
    this.supervisor.forget(c.id)
    this.waiters.removed(c.id, { StatusCode: c.state.ExitCode, Error: null })
    this.deps.logger.debug('container removed', { id: c.id })
  }

  /** Unmounts a container's root filesystem; nothing mounted is fine, a failure is logged. */
  private async unmountRootfs(id: string): Promise<void> {
    await this.deps
      .unmount(containerPaths(this.store.containerDir(id)).rootfs)
      .catch((err: unknown) => {
        this.deps.logger.warn('unmounting a root filesystem failed', { id, error: String(err) })
      })
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
  }

  private reconcileHost(): ReconcileHost {
    const { runtime, layers, logger, network, tasks } = this.deps
    const inStore = (c: Container): boolean => this.store.list().includes(c)
    const dirOf = (id: string): string => this.store.containerDir(id)
    return {
      store: this.store,
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
