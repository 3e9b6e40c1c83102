import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { Conflict, InvalidArgument, NotModified, isBerthError } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import { writeJsonAtomic } from '../fsutil.ts'
import type { ImageReader, ImageRunConfig } from '../image/types.ts'
import type { LayerStore, Mount } from '../layer/types.ts'
import type {
  ExitStatus,
  LogEntry,
  LogReadOptions,
  Runtime,
  Spec,
  SpecInput,
  User,
} from '../runtime/types.ts'
import { faultPoint } from '../fault.ts'
import type { Logger } from '../logger.ts'
import { AttachHub } from './attach.ts'
import { ContainerMounts, combineMounts } from './mounts.ts'
import type { VolumeStore } from '../volume/types.ts'
import { reconcile, type ReconcileHost } from './reconcile.ts'
import { RestartManager, exitsOnNext, validateRestartPolicy } from './restart.ts'
import { confinementContext, hostFacts } from './confine.ts'
import { specInputFor, verifyHostConfig } from './oci.ts'
import { randomName, validateName } from './names.ts'
import { networkNotFound, networkPlan, notRunningToJoin } from './network.ts'
import { containerAttributes } from '../events/bus.ts'
import type { EventSink } from '../events/types.ts'
import { parseSignal } from './signals.ts'
import { ContainerStore } from './store.ts'
import type {
  AttachSession,
  Container,
  ContainerApi,
  ContainerConfig,
  CreateRequest,
  HostConfig,
  MountPoint,
  WaitCondition,
  WaitResult,
} from './types.ts'

const ZERO_TIME = '0001-01-01T00:00:00Z'
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/** What the container service needs from the other modules, passed in by the daemon's wiring. */
export interface ContainerDeps {
  dir: string
  images: ImageReader
  layers: LayerStore
  runtime: Runtime
  ociSpec(input: SpecInput): Spec
  resolveUser(rootfs: string, user: string | undefined): Promise<User>
  readLog(path: string, opts: LogReadOptions): AsyncIterable<LogEntry>
  mount(m: Mount): Promise<void>
  unmount(target: string): Promise<void>
  logger: Logger
  /** Named and anonymous volumes; without it, only binds and tmpfs mounts work. */
  volumes?: VolumeStore
  /** Where lifecycle events go (GET /events); none when absent. */
  events?: EventSink
}

interface Deferred<T> {
  promise: Promise<T>
  resolve(v: T): void
  reject(e: unknown): void
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

function nowIso(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')
}

/** Docker's image-to-container merge (moby daemon/commit.go merge). */
export function mergeImageConfig(
  user: ContainerConfig,
  img: ImageRunConfig | undefined,
): ContainerConfig {
  const out: ContainerConfig = { ...user }
  if (!img) return out
  if (!out.User) out.User = img.User ?? ''
  if (!out.WorkingDir) out.WorkingDir = img.WorkingDir ?? ''
  if (!out.StopSignal && img.StopSignal) out.StopSignal = img.StopSignal
  if (img.Env && img.Env.length > 0) {
    const userEnv = out.Env ?? []
    const keys = new Set(userEnv.map((e) => e.split('=')[0]))
    out.Env = [...img.Env.filter((e) => !keys.has(e.split('=')[0])), ...userEnv]
  }
  if (img.Labels) out.Labels = { ...img.Labels, ...(out.Labels ?? {}) }
  if (img.ExposedPorts) out.ExposedPorts = { ...img.ExposedPorts, ...(out.ExposedPorts ?? {}) }
  if (img.Volumes) out.Volumes = { ...img.Volumes, ...(out.Volumes ?? {}) }
  if (!out.Entrypoint || out.Entrypoint.length === 0) {
    if (!out.Cmd || out.Cmd.length === 0) out.Cmd = img.Cmd ?? null
    if (out.Entrypoint === undefined || out.Entrypoint === null)
      out.Entrypoint = img.Entrypoint ?? null
  }
  return out
}

/** The process path and arguments Docker derives from Entrypoint and Cmd. */
export function entrypointAndArgs(cfg: ContainerConfig): { path: string; args: string[] } {
  const entrypoint = (cfg.Entrypoint ?? []).filter((_, i, a) => !(a.length === 1 && a[0] === ''))
  const all = [...entrypoint, ...(cfg.Cmd ?? [])]
  if (all.length === 0) throw new InvalidArgument('No command specified')
  return { path: all[0] as string, args: all.slice(1) }
}

/** Builds the container's environment: Docker's defaults, then the container's own. */
export function containerEnv(cfg: ContainerConfig, hostname: string): string[] {
  const env = new Map<string, string>()
  const put = (e: string): void => {
    const eq = e.indexOf('=')
    env.set(eq < 0 ? e : e.slice(0, eq), e)
  }
  put(DEFAULT_PATH)
  put(`HOSTNAME=${hostname}`)
  if (cfg.Tty) put('TERM=xterm')
  for (const e of cfg.Env ?? []) if (e.includes('=')) put(e)
  return [...env.values()]
}

/**
 * The container lifecycle: create, start, attach, wait, logs, kill, remove. Operations on one
 * container are serialised; nothing is held across a slow runtime call longer than needed.
 */
export class ContainerService implements ContainerApi {
  readonly store: ContainerStore
  private readonly locks = new Map<string, Promise<unknown>>()
  private readonly exitWaiters = new Map<string, Deferred<WaitResult>[]>()
  private readonly removeWaiters = new Map<string, Deferred<WaitResult>[]>()
  private readonly hubs = new Map<string, AttachHub>()
  /** Background cleanups of removed containers, awaited by settle(). */
  private readonly cleanups = new Set<Promise<void>>()
  /** Resolves when the running container's exit has been fully handled. */
  private readonly exited = new Map<string, Promise<void>>()
  private readonly restartManagers = new Map<string, RestartManager>()
  /** Restarts waiting out their back-off; settle when the container started or stayed down. */
  private readonly restarts = new Map<string, Promise<void>>()
  /** Reconciliation work left for after init() (runtime cleanup, restarts, strays). */
  reconciled: Promise<void> = Promise.resolve()

  constructor(private readonly deps: ContainerDeps) {
    this.store = new ContainerStore(deps.dir)
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

  /** Binds, volumes and tmpfs mounts (container/mounts.ts). */
  readonly mounts: ContainerMounts

  /** Loads the records and reconciles them with the runtime (the slow part in the background). */
  async init(): Promise<void> {
    await this.store.init()
    for (const c of this.store.list()) await this.mounts.restore(c)
    this.reconciled = (await reconcile(this.reconcileHost())).background
  }

  /** Runs fn after every earlier operation on the container (also used by files.ts). */
  async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    const tail = run.catch(() => undefined)
    this.locks.set(id, tail)
    try {
      return await run
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id)
    }
  }

  get(ref: string): Promise<Container> {
    return Promise.resolve(this.store.get(ref))
  }

  list(): Promise<Container[]> {
    return Promise.resolve(this.store.list())
  }

  private paths(id: string): { dir: string; rootfs: string; bundle: string } {
    const dir = this.store.containerDir(id)
    return { dir, rootfs: join(dir, 'rootfs'), bundle: join(dir, 'bundle') }
  }

  async create(
    req: CreateRequest,
    name: string | undefined,
  ): Promise<{ Id: string; Warnings: string[] }> {
    if (!req.Image)
      throw new InvalidArgument('Config cannot be empty in order to create a container')
    const image = await this.deps.images.resolve(req.Image)
    const { HostConfig: hostConfig = {}, NetworkingConfig: _net, ...userConfig } = req
    const config = mergeImageConfig(userConfig, image.config.config)
    if (config.WorkingDir && !config.WorkingDir.startsWith('/')) {
      throw new InvalidArgument(
        `the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`,
      )
    }
    const { path, args } = entrypointAndArgs(config)
    const { plan: network, warnings } = networkPlan(hostConfig)
    const id = this.store.newId()
    // With the host's network a container also takes the host's name, as Docker does.
    config.Hostname = config.Hostname || (network.kind === 'host' ? hostname() : id.slice(0, 12))
    config.Image = req.Image

    let finalName: string
    if (name) {
      finalName = validateName(name)
      this.store.reserveName(finalName, id)
    } else {
      let retry = 0
      do finalName = randomName(retry++)
      while (this.store.nameTaken(finalName))
      this.store.reserveName(finalName, id)
    }

    const hc: HostConfig = { NetworkMode: 'default', ...hostConfig }
    validateRestartPolicy(hc.RestartPolicy, hc.AutoRemove === true)
    verifyHostConfig(hc, config, await hostFacts())
    let mountPoints: MountPoint[] = []
    try {
      mountPoints = await this.mounts.resolve(id, config, hc)
      await this.deps.layers.createRW(
        id,
        image.layers.map((l) => l.diffID),
      )
      faultPoint('create.after-rw')
      try {
        await this.store.create(
          {
            id,
            name: finalName,
            created: nowIso(),
            path,
            args,
            config,
            hostConfig: hc,
            image: image.id,
            imageRef: req.Image,
            mountPoints,
          },
          async (dir) => {
            await mkdir(join(dir, 'rootfs'))
            await mkdir(join(dir, 'bundle'))
            await writeEtcFiles(dir, config.Hostname as string, network.kind === 'host')
            await this.mounts.populate(id, mountPoints, join(dir, 'rootfs'))
            faultPoint('create.before-record')
          },
        )
        faultPoint('create.after-record')
      } catch (err) {
        await this.deps.layers.removeRW(id)
        throw err
      }
    } catch (err) {
      this.store.releaseName(finalName, id)
      await this.mounts.release(id, mountPoints, true)
      throw err
    }
    this.deps.logger.debug('container created', { id, name: finalName })
    this.emit(this.store.get(id), 'create')
    return { Id: id, Warnings: warnings }
  }

  async start(ref: string): Promise<void> {
    const c = this.store.get(ref)
    await this.locked(c.id, async () => {
      if (c.state.Running) throw new NotModified('container already started')
      if (c.state.Status === 'removing') {
        throw new Conflict(`container is marked for removal and cannot be started`)
      }
      this.resetRestart(c)
      await this.startLocked(c)
    })
  }

  private async startLocked(c: Container): Promise<void> {
    const { runtime } = this.deps
    const p = this.paths(c.id)
    if (c.state.StartedAt !== ZERO_TIME) {
      // A container that ran before left its monitor's files; clear them (the runtime's own
      // record went when its exit was handled). Docker keeps the log across restarts.
      await runtime.cleanup(c.id)
    }
    await this.deps.mount(await this.deps.layers.rootfsMount(c.id, p.rootfs))
    faultPoint('start.after-mount')
    try {
      const user = await this.deps.resolveUser(p.rootfs, c.config.User)
      const cwd = c.config.WorkingDir || '/'
      await ensureWorkdir(p.rootfs, cwd)
      const net = this.networkSpec(c)
      const spec = this.deps.ociSpec({
        ...specInputFor(c, {
          rootfs: p.rootfs,
          user,
          cwd,
          env: containerEnv(c.config, c.config.Hostname ?? ''),
          mounts: combineMounts(await this.mounts.prepare(c, p.rootfs), etcMounts(net.etcDir)),
          ...(await confinementContext(c.hostConfig, p.rootfs)),
        }),
        ...net.spec,
      })
      await writeJsonAtomic(join(p.bundle, 'config.json'), spec)
      const { pid } = await runtime.create({
        id: c.id,
        bundle: p.bundle,
        logPath: c.logPath,
        tty: c.config.Tty === true,
        openStdin: c.config.OpenStdin === true,
        stdinOnce: c.config.StdinOnce === true,
      })
      faultPoint('start.after-create')
      // Connect the clients that attached before start, so that no output is lost.
      const hub = this.hubs.get(c.id)
      if (hub) await hub.ensureConnected()
      await runtime.start(c.id)
      faultPoint('start.after-start')
      c.state = {
        ...c.state,
        Status: 'running',
        Running: true,
        Restarting: false,
        Paused: false,
        Pid: pid,
        ExitCode: 0,
        Error: '',
        StartedAt: nowIso(),
        FinishedAt: '0001-01-01T00:00:00Z',
      }
      await this.store.saveState(c)
      this.watchExit(c.id)
      this.emit(c, 'start')
    } catch (err) {
      await this.failStart(c, err)
      throw err
    }
  }

  /** Undoes a failed start and records the error as Docker does (the state stays "created"). */
  /** Unmounts a container's root filesystem; nothing mounted is fine, a failure is logged. */
  private async unmountRootfs(id: string): Promise<void> {
    await this.deps.unmount(this.paths(id).rootfs).catch((err: unknown) => {
      this.deps.logger.warn('unmounting a root filesystem failed', { id, error: String(err) })
    })
  }

  /**
   * The namespace a container's network lives in, and whose /etc/hosts, /etc/resolv.conf and
   * /etc/hostname it sees: its own, the host's, or (container:NAME) another running container's.
   */
  private networkSpec(c: Container): {
    spec: Pick<SpecInput, 'hostNetwork' | 'netnsPath'>
    etcDir: string
  } {
    const { plan } = networkPlan(c.hostConfig)
    if (plan.kind === 'named') throw networkNotFound(plan.name)
    if (plan.kind === 'host') return { spec: { hostNetwork: true }, etcDir: this.paths(c.id).dir }
    if (plan.kind === 'container') {
      const target = this.store.get(plan.ref)
      if (!target.state.Running || target.state.Pid <= 0) throw notRunningToJoin(target.id)
      return {
        spec: { netnsPath: `/proc/${target.state.Pid}/ns/net` },
        etcDir: this.paths(target.id).dir,
      }
    }
    return { spec: {}, etcDir: this.paths(c.id).dir }
  }

  private async failStart(c: Container, err: unknown): Promise<void> {
    const exitCode = isBerthError(err) && 'exitCode' in err ? Number(err.exitCode) : 128
    this.hubs.get(c.id)?.abort()
    await this.deps.runtime.delete(c.id, true).catch(() => undefined)
    await this.unmountRootfs(c.id)
    c.state = {
      ...c.state,
      ExitCode: exitCode,
      Error: err instanceof Error ? err.message : String(err),
    }
    await this.store.saveState(c)
    this.notifyExit(c.id, { StatusCode: exitCode, Error: null })
    if (c.hostConfig.AutoRemove) await this.removeLocked(c, { force: true, volumes: true })
  }

  private watchExit(id: string): void {
    const done: Promise<void> = this.deps.runtime
      .waitExit(id)
      .then((status) => this.handleExit(id, status))
      .catch((err: unknown) => {
        this.deps.logger.error('watching a container exit failed', { id, error: String(err) })
      })
      .finally(() => {
        if (this.exited.get(id) === done) this.exited.delete(id)
      })
    this.exited.set(id, done)
  }

  private async handleExit(id: string, status: ExitStatus): Promise<void> {
    let c: Container
    try {
      c = this.store.get(id)
    } catch {
      return
    }
    await this.locked(id, async () => {
      if (c.state.Running || c.state.Status === 'running') {
        c.state = {
          ...c.state,
          Status: 'exited',
          Running: false,
          Paused: false,
          Pid: 0,
          ExitCode: status.exitCode,
          FinishedAt: status.finishedAt,
        }
        // A --rm container's record is about to go; after a crash here, the exit file
        // tells the next start the same thing.
        if (!c.hostConfig.AutoRemove) await this.store.saveState(c)
        this.emit(c, 'die', { exitCode: String(status.exitCode) })
      }
      if (c.hostConfig.AutoRemove) {
        // --rm excludes restart policies (refused at create), so the container just goes.
        this.notifyExit(id, { StatusCode: status.exitCode, Error: null })
        await this.removeLocked(c, { force: true, volumes: true }, { deferCleanup: true })
        return
      }
      await this.deps.runtime.delete(id, false).catch((err: unknown) => {
        this.deps.logger.warn('runtime delete failed', { id, error: String(err) })
      })
      await this.unmountRootfs(id)
      this.notifyExit(id, { StatusCode: status.exitCode, Error: null })
      if (await this.restartAfterExit(c, status)) return
      if (c.hostConfig.AutoRemove) await this.removeLocked(c, { force: true, volumes: true })
    })
  }

  private notifyExit(id: string, result: WaitResult): void {
    for (const w of this.exitWaiters.get(id) ?? []) w.resolve(result)
    this.exitWaiters.delete(id)
  }

  async wait(ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<WaitResult> {
    const c = this.store.get(ref)
    if (condition === 'not-running' && !c.state.Running) {
      return { StatusCode: c.state.ExitCode, Error: null }
    }
    const waiters = condition === 'removed' ? this.removeWaiters : this.exitWaiters
    const d = deferred<WaitResult>()
    const list = waiters.get(c.id) ?? []
    list.push(d)
    waiters.set(c.id, list)
    const onAbort = (): void => d.reject(signal?.reason ?? new Error('aborted'))
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await d.promise
    } finally {
      signal?.removeEventListener('abort', onAbort)
      const rest = (waiters.get(c.id) ?? []).filter((w) => w !== d)
      if (rest.length > 0) waiters.set(c.id, rest)
      else waiters.delete(c.id)
    }
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
    this.emit(c, 'attach')
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
    const exit = this.exited.get(c.id)
    const follow = opts.follow && c.state.Running && exit !== undefined
    return this.deps.readLog(c.logPath, {
      ...opts,
      follow,
      ...(follow && exit ? { stopWhen: exit } : {}),
    })
  }

  async kill(ref: string, signal = 'KILL'): Promise<void> {
    const signo = parseSignal(signal)
    const c = this.store.get(ref)
    if (!c.state.Running) {
      throw new Conflict(`Cannot kill container: ${ref}: Container ${c.id} is not running`)
    }
    // A restarting container has no process: the note that it is stopped is enough.
    if (await this.noteManualStop(c, signal)) return
    const exit = this.exited.get(c.id)
    await this.deps.runtime.kill(c.id, String(signo))
    this.emit(c, 'kill', { signal: String(signo) })
    await this.thawAfterSignal(c)
    // Like moby's Kill: after SIGKILL the answer waits (briefly) until the container is down,
    // so a client that inspects next sees the exit code.
    if (signo === 9 && exit) await waitAtMost(exit, 10_000)
  }

  /** Docker unpauses a container it signalled, so the signal is delivered. */
  private async thawAfterSignal(c: Container): Promise<void> {
    if (!c.state.Paused) return
    await this.deps.runtime.resume(c.id).catch(() => undefined)
    if (c.state.Running) {
      c.state = { ...c.state, Status: 'running', Paused: false }
      await this.store.saveState(c)
    }
  }

  /** A change of restart policy (docker update) applies from the next exit on. */
  restartPolicyChanged(id: string): void {
    this.restartManagers.delete(id)
  }

  private emit(c: Container, action: string, extra?: Record<string, string>): void {
    this.deps.events?.emit({
      Type: 'container',
      Action: action,
      Actor: { ID: c.id, Attributes: containerAttributes(c, extra) },
    })
  }

  async stop(ref: string, timeoutSeconds?: number, signal?: string): Promise<void> {
    const c = this.store.get(ref)
    if (!c.state.Running) throw new NotModified('container already stopped')
    const exit = this.exited.get(c.id) ?? Promise.resolve()
    const stopSignal = signal || c.config.StopSignal || 'TERM'
    const signo = parseSignal(stopSignal)
    const timeout = timeoutSeconds ?? c.config.StopTimeout ?? 10
    if (await this.noteManualStop(c, 'KILL')) return
    await this.deps.runtime.kill(c.id, String(signo)).catch(() => undefined)
    this.emit(c, 'kill', { signal: String(signo) })
    await this.thawAfterSignal(c)
    void exit.then(() => this.emit(c, 'stop'))
    if (timeout < 0) {
      await exit
      return
    }
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<boolean>((res) => {
      timer = setTimeout(() => res(true), timeout * 1000)
    })
    const gone = await Promise.race([exit.then(() => false), timedOut])
    clearTimeout(timer)
    if (gone) {
      await this.deps.runtime.kill(c.id, 'KILL').catch(() => undefined)
      this.emit(c, 'kill', { signal: '9' })
      await exit
    }
  }

  async remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const c = this.store.get(ref)
    if (c.state.Running) {
      if (!opts.force) {
        throw new Conflict(
          `cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`,
        )
      }
      await this.noteManualStop(c, 'KILL')
      await this.deps.runtime.kill(c.id, 'KILL').catch(() => undefined)
      this.emit(c, 'kill', { signal: '9' })
      await this.thawAfterSignal(c)
      await this.exited.get(c.id)
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
  private async removeLocked(
    c: Container,
    opts: { force: boolean; volumes: boolean },
    how: { deferCleanup?: boolean } = {},
  ): Promise<void> {
    const wasRunning = c.state.Running
    c.state = { ...c.state, Status: 'removing' }
    const clearRuntime = async (): Promise<void> => {
      if (wasRunning || how.deferCleanup) await this.deps.runtime.delete(c.id, true)
      await this.deps.runtime.cleanup(c.id)
      faultPoint('rm.after-runtime')
    }
    const clearStorage = async (): Promise<void> => {
      await this.deps.layers.removeRW(c.id)
      await this.mounts.release(c.id, c.mountPoints ?? [], opts.volumes)
    }
    if (!how.deferCleanup) await clearRuntime()
    // The rootfs is mounted inside the record's directory: never delete through it.
    await this.unmountRootfs(c.id)
    await this.store.delete(c)
    this.emit(c, 'destroy')
    faultPoint('rm.after-record')
    if (how.deferCleanup) {
      const cleanup = clearRuntime()
        .then(clearStorage)
        .catch((err: unknown) => {
          this.deps.logger.warn('cleanup after removal failed', { id: c.id, error: String(err) })
        })
        .finally(() => this.cleanups.delete(cleanup))
      this.cleanups.add(cleanup)
    } else {
      await clearStorage()
    }
    this.restartManagers.delete(c.id)
    const result: WaitResult = { StatusCode: c.state.ExitCode, Error: null }
    for (const w of this.removeWaiters.get(c.id) ?? []) w.resolve(result)
    this.removeWaiters.delete(c.id)
    for (const w of this.exitWaiters.get(c.id) ?? []) w.resolve(result)
    this.exitWaiters.delete(c.id)
    this.deps.logger.debug('container removed', { id: c.id })
  }

  async sizes(ref: string): Promise<{ rw: number; rootfs: number }> {
    const c = this.store.get(ref)
    const rw = await this.deps.layers.rwSize(c.id)
    const image = await this.deps.images.get(c.image)
    return { rw, rootfs: rw + (image?.size ?? 0) }
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
    await Promise.all([...this.exited.values(), ...this.restarts.values()])
    await Promise.all([...this.cleanups])
  }

  // ---- restart policies (restart.ts) and reconciliation at daemon start (reconcile.ts)

  private restartManager(c: Container): RestartManager {
    let m = this.restartManagers.get(c.id)
    if (!m) {
      m = new RestartManager(c.hostConfig.RestartPolicy, c.restartCount)
      this.restartManagers.set(c.id, m)
    }
    return m
  }

  /** A start by the user (or by the daemon at boot) forgets the back-off and the manual stop. */
  private resetRestart(c: Container): void {
    this.restartManagers.get(c.id)?.cancel()
    this.restartManagers.delete(c.id)
    c.restartCount = 0
    c.manuallyStopped = false
  }

  /**
   * Docker's killWithSignal: a user's stop or kill is remembered (unless-stopped stays down),
   * and the stop signal or KILL ends the restart policy until the next start. True when the
   * container was waiting to restart, so there is no process to signal.
   */
  private async noteManualStop(c: Container, signal: string): Promise<boolean> {
    if (exitsOnNext(signal, c.config.StopSignal)) this.restartManager(c).cancel()
    const wasRestarting = c.state.Restarting
    if (!c.manuallyStopped) {
      c.manuallyStopped = true
      await this.store.saveState(c)
    }
    await this.restarts.get(c.id)
    return wasRestarting
  }

  /** Called with the lock held, after an exit was recorded; true when a restart is scheduled. */
  private async restartAfterExit(c: Container, status: ExitStatus): Promise<boolean> {
    const m = this.restartManager(c)
    const ranMs = Date.parse(status.finishedAt) - Date.parse(c.state.StartedAt)
    const d = m.shouldRestart(status.exitCode, c.manuallyStopped === true, ranMs)
    if (!d.restart) return false
    c.restartCount = m.restartCount
    c.state = { ...c.state, Status: 'restarting', Running: true, Restarting: true, Pid: 0 }
    await this.store.saveState(c)
    const attempt = (async () => {
      const go = await m.wait(d.delayMs)
      await this.locked(c.id, async () => {
        if (!this.store.list().includes(c) || !c.state.Restarting) return
        if (go) {
          try {
            await this.startLocked(c)
            return
          } catch (err) {
            this.deps.logger.warn('restarting a container failed', { id: c.id, error: String(err) })
          }
        }
        c.state = { ...c.state, Status: 'exited', Running: false, Restarting: false, Pid: 0 }
        await this.store.saveState(c)
        this.notifyExit(c.id, { StatusCode: c.state.ExitCode, Error: null })
      })
    })()
      .catch((err: unknown) => {
        this.deps.logger.error('restart failed', { id: c.id, error: String(err) })
      })
      .finally(() => {
        if (this.restarts.get(c.id) === attempt) this.restarts.delete(c.id)
      })
    this.restarts.set(c.id, attempt)
    return true
  }

  private reconcileHost(): ReconcileHost {
    const { runtime, layers, logger } = this.deps
    const inStore = (c: Container): boolean => this.store.list().includes(c)
    return {
      store: this.store,
      runtime,
      layers,
      logger,
      rootfs: (id) => this.paths(id).rootfs,
      unmount: (target) => this.deps.unmount(target),
      follow: (id) => this.watchExit(id),
      finishExit: async (id, status) => {
        await this.store.saveState(this.store.get(id))
        await this.handleExit(id, status)
      },
      restartsOnBoot: (c) =>
        new RestartManager(c.hostConfig.RestartPolicy, c.restartCount).shouldRestart(
          c.state.ExitCode,
          c.manuallyStopped === true,
          Date.parse(c.state.FinishedAt) - Date.parse(c.state.StartedAt),
        ).restart,
      startOnBoot: (c) =>
        this.locked(c.id, async () => {
          if (!inStore(c) || c.state.Running) return
          this.resetRestart(c)
          await this.startLocked(c)
        }),
      remove: (c) =>
        this.locked(c.id, async () => {
          if (inStore(c)) await this.removeLocked(c, { force: true, volumes: false })
        }),
      markDead: (c, why) =>
        this.locked(c.id, async () => {
          c.state = {
            ...c.state,
            Status: 'dead',
            Dead: true,
            Running: false,
            Restarting: false,
            Paused: false,
            Pid: 0,
            Error: why,
          }
          await this.store.saveState(c)
        }),
    }
  }
}

/** /etc/hostname, /etc/hosts and /etc/resolv.conf, kept beside the container as Docker does. */
async function writeEtcFiles(dir: string, hostname: string, hostNetwork: boolean): Promise<void> {
  await writeFile(join(dir, 'hostname'), `${hostname}\n`)
  if (hostNetwork) {
    // The host's network: its names and resolvers (loopback ones included) work as they are.
    await writeFile(join(dir, 'hosts'), await readFile('/etc/hosts').catch(() => ''))
    await writeFile(join(dir, 'resolv.conf'), await readFile('/etc/resolv.conf').catch(() => ''))
    return
  }
  await writeFile(
    join(dir, 'hosts'),
    [
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      'fe00::0\tip6-localnet',
      'ff00::0\tip6-mcastprefix',
      'ff02::1\tip6-allnodes',
      'ff02::2\tip6-allrouters',
      `127.0.1.1\t${hostname}`,
      '',
    ].join('\n'),
  )
  await writeFile(join(dir, 'resolv.conf'), await hostResolvConf())
}

/** The host's resolv.conf without loopback resolvers, which a container cannot reach. */
async function hostResolvConf(): Promise<string> {
  const text = await readFile('/etc/resolv.conf', 'utf8').catch(() => '')
  const lines = text.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l))
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) {
    lines.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4')
  }
  return lines.join('\n').replace(/\n*$/, '\n')
}

function etcMounts(dir: string): Mount[] {
  return (['hostname', 'hosts', 'resolv.conf'] as const).map((f) => ({
    type: 'bind',
    source: join(dir, f),
    destination: `/etc/${f}`,
    options: ['rbind', 'rprivate'],
  }))
}

/** Docker creates a missing working directory (owned by root) before the process starts. */
async function ensureWorkdir(rootfs: string, cwd: string): Promise<void> {
  if (cwd === '/') return
  await mkdir(await resolveInRoot(rootfs, cwd), { recursive: true, mode: 0o755 })
}

/** Waits for a promise, but no longer than ms. */
async function waitAtMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([p, new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
}
