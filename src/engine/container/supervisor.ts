// What happens when a container's process ends: the exit is recorded, the task finished, the
// network released, the waiters told, and the restart policy (moby's restartmanager) or --rm
// applied. Also the manual-stop bookkeeping that restart policies depend on.
import type { Logger } from '../logger.ts'
import type { NetworkManager } from '../network/types.ts'
import type { ExitStatus } from '../runtime/types.ts'
import type { TaskRunner } from '../task/types.ts'
import { networked } from './network.ts'
import { RestartManager, exitsOnNext } from './restart.ts'
import type { ContainerStates } from './state.ts'
import type { ContainerStore } from './store.ts'
import { containerTaskRef } from './task.ts'
import type { Container, WaitResult } from './types.ts'
import type { Waiters } from './waiters.ts'

/** What the supervisor needs of the container service. */
export interface SupervisorHost {
  readonly store: ContainerStore
  readonly states: ContainerStates
  readonly waiters: Waiters
  locked<T>(id: string, fn: () => Promise<T>): Promise<T>
  /** Starts a container with its lock held (a restart by policy). */
  startLocked(c: Container): Promise<void>
  /** The container's process ended and its task is finished: its layer holds still. */
  layerSettled?(c: Container): void
  /** The container's process ended: its volumes' mounts are given back. */
  mountsReleased?(c: Container): Promise<void>
  /** Removes an exited --rm container with its lock held; the cleanup may come after. */
  removeLocked(
    c: Container,
    opts: { force: boolean; volumes: boolean },
    how?: { deferCleanup?: boolean },
  ): Promise<void>
}

export interface SupervisorDeps {
  tasks: TaskRunner
  network: NetworkManager
  logger: Logger
}

/** Docker's answer to a wait: the exit code, and why it is not known when it is not. */
export function waitResult(status: ExitStatus): WaitResult {
  return {
    StatusCode: status.exitCode,
    Error: status.error !== undefined ? { Message: status.error } : null,
  }
}

export class Supervisor {
  /** Resolves when the running container's exit has been fully handled. */
  private readonly exited = new Map<string, Promise<void>>()
  private readonly restartManagers = new Map<string, RestartManager>()
  /** Restarts waiting out their back-off; settle when the container started or stayed down. */
  private readonly restarts = new Map<string, Promise<void>>()

  constructor(
    private readonly host: SupervisorHost,
    private readonly deps: SupervisorDeps,
  ) {}

  /** Settles once the exit of the container's current process has been handled. */
  exitHandled(id: string): Promise<void> | undefined {
    return this.exited.get(id)
  }

  /** Follows the container's process until it exits (no polling: the runtime watches). */
  watch(id: string): void {
    const done: Promise<void> = this.deps.tasks
      .wait(id)
      .then((status) => this.handleExit(id, status))
      .catch((err: unknown) => {
        this.deps.logger.error('watching a container exit failed', { id, error: String(err) })
      })
      .finally(() => {
        if (this.exited.get(id) === done) this.exited.delete(id)
      })
    this.exited.set(id, done)
  }

  /** Records an exit, then finishes the task and applies --rm or the restart policy. */
  async handleExit(id: string, status: ExitStatus): Promise<void> {
    const { store, states, waiters } = this.host
    let c: Container
    try {
      c = store.get(id)
    } catch {
      return
    }
    if (status.error !== undefined) {
      this.deps.logger.warn('the exit code of a container is unknown', { id, error: status.error })
    }
    await this.host.locked(id, async () => {
      // The restart policy is asked first, so that a container it brings back goes from
      // running straight to restarting (as Docker's does): never seen stopped in between.
      let restart: { delayMs: number } | undefined
      if (c.state.Status === 'running' || c.state.Status === 'paused') {
        restart = this.restartDecision(c, status)
        await states.transition(c, { kind: 'exit', exit: status, restart: restart !== undefined })
      } else if (c.state.Status === 'exited') {
        // Recorded already (it exited while the daemon was down): its policy still applies.
        restart = this.restartDecision(c, status)
        if (restart) await states.transition(c, { kind: 'restarting' })
      }
      const result = waitResult(status)
      if (c.hostConfig.AutoRemove) {
        // --rm excludes restart policies (refused at create), so the container just goes.
        waiters.exited(id, result)
        // dockerd's order: die, network disconnect, volume unmount, destroy.
        this.deps.network.disconnected?.(networked(c, store.containerDir(id)))
        await this.host.mountsReleased?.(c).catch((err: unknown) => {
          this.deps.logger.warn('releasing volumes failed', { id, error: String(err) })
        })
        await this.host.removeLocked(c, { force: true, volumes: true }, { deferCleanup: true })
        return
      }
      const dir = store.containerDir(id)
      await this.deps.tasks.finish(containerTaskRef(c, dir))
      await this.deps.network.release(networked(c, dir)).catch((err: unknown) => {
        this.deps.logger.warn('releasing a network failed', { id, error: String(err) })
      })
      await this.host.mountsReleased?.(c).catch((err: unknown) => {
        this.deps.logger.warn('releasing volumes failed', { id, error: String(err) })
      })
      waiters.exited(id, result)
      if (!restart) this.host.layerSettled?.(c)
      if (restart) this.scheduleRestart(c, restart.delayMs)
    })
  }

  private restartManager(c: Container): RestartManager {
    let m = this.restartManagers.get(c.id)
    if (!m) {
      m = new RestartManager(c.hostConfig.RestartPolicy, c.restartCount)
      this.restartManagers.set(c.id, m)
    }
    return m
  }

  /** A start by the user (or by the daemon at boot) forgets the back-off and the manual stop. */
  resetRestart(c: Container): void {
    this.restartManagers.get(c.id)?.cancel()
    this.restartManagers.delete(c.id)
    c.restartCount = 0
    c.manuallyStopped = false
  }

  /** A change of restart policy (docker update) applies from the next exit on. */
  policyChanged(id: string): void {
    this.restartManagers.delete(id)
  }

  /** The container is gone: its policy with it. */
  forget(id: string): void {
    this.restartManagers.delete(id)
  }

  /**
   * Docker's killWithSignal: a user's stop or kill is remembered (unless-stopped stays down),
   * and the stop signal or KILL ends the restart policy until the next start. Then waits for
   * an exit being handled and a restart being tried; true when there is no process to signal
   * (the container stopped, or waits to restart).
   */
  async noteManualStop(c: Container, signal: string): Promise<boolean> {
    if (exitsOnNext(signal, c.config.StopSignal)) this.restartManager(c).cancel()
    if (!c.manuallyStopped) {
      c.manuallyStopped = true
      await this.host.store.saveState(c)
    }
    // An exit being handled decides on a restart with the lock held: let it finish first.
    await this.host.locked(c.id, async () => undefined)
    await this.restarts.get(c.id)
    return !c.state.Running || c.state.Restarting
  }

  /** Whether the policy brings this stopped container back at daemon start. */
  restartsOnBoot(c: Container): boolean {
    return new RestartManager(c.hostConfig.RestartPolicy, c.restartCount).shouldRestart(
      c.state.ExitCode,
      c.manuallyStopped === true,
      Date.parse(c.state.FinishedAt) - Date.parse(c.state.StartedAt),
    ).restart
  }

  /** Whether the policy brings the container back after this exit, and when (lock held). */
  private restartDecision(c: Container, status: ExitStatus): { delayMs: number } | undefined {
    const m = this.restartManager(c)
    const ranMs = Date.parse(status.finishedAt) - Date.parse(c.state.StartedAt)
    const d = m.shouldRestart(status.exitCode, c.manuallyStopped === true, ranMs)
    if (!d.restart) return undefined
    c.restartCount = m.restartCount
    return { delayMs: d.delayMs }
  }

  /** Starts the container again after the back-off, unless stopped, removed or started since. */
  private scheduleRestart(c: Container, delayMs: number): void {
    const { store, states, waiters } = this.host
    const m = this.restartManager(c)
    const attempt = (async () => {
      const go = await m.wait(delayMs)
      await this.host.locked(c.id, async () => {
        if (!store.list().includes(c) || !c.state.Restarting) return
        if (go) {
          try {
            await this.host.startLocked(c)
            return
          } catch (err) {
            this.deps.logger.warn('restarting a container failed', { id: c.id, error: String(err) })
          }
        }
        await states.transition(c, { kind: 'restart-abandoned' })
        waiters.exited(c.id, { StatusCode: c.state.ExitCode, Error: null })
      })
    })()
      .catch((err: unknown) => {
        this.deps.logger.error('restart failed', { id: c.id, error: String(err) })
      })
      .finally(() => {
        if (this.restarts.get(c.id) === attempt) this.restarts.delete(c.id)
      })
    this.restarts.set(c.id, attempt)
  }

  /** Waits for every exit being handled and every restart being tried. */
  async settle(): Promise<void> {
    await Promise.all([...this.exited.values(), ...this.restarts.values()])
  }
}
