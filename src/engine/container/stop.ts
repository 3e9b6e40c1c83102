// Signals to a container's process: docker kill, docker stop (the stop signal, then SIGKILL),
// and the SIGKILL of rm -f, each waiting a bounded time for the exit and saying so when it
// does not come (moby's Kill and containerStop).
import { Conflict, Internal, NotModified } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Runtime } from '../runtime/types.ts'
import { parseSignal } from './signals.ts'
import type { ContainerStates } from './state.ts'
import type { Supervisor } from './supervisor.ts'
import type { Container } from './types.ts'
import { settlesWithin } from './waiters.ts'

/** How long a container may take to go after a SIGKILL that was sent (moby's Kill). */
const KILLED_EXIT_MS = 10_000
/** How long to wait for an exit anyway when a signal could not be sent (moby's stop). */
const UNSIGNALLED_EXIT_MS = 2_000

export interface SignalsDeps {
  runtime: Pick<Runtime, 'kill' | 'resume'>
  states: ContainerStates
  supervisor: Supervisor
  logger: Logger
}

export class ContainerSignals {
  constructor(private readonly deps: SignalsDeps) {}

  async kill(c: Container, ref: string, signal = 'KILL'): Promise<void> {
    const signo = parseSignal(signal)
    if (!c.state.Running) {
      throw new Conflict(`Cannot kill container: ${ref}: Container ${c.id} is not running`)
    }
    // A restarting container has no process: the note that it is stopped is enough.
    if (await this.deps.supervisor.noteManualStop(c, signal)) return
    const exit = this.deps.supervisor.exitHandled(c.id)
    await this.send(c, signo)
    await this.thawAfterSignal(c)
    // Like moby's Kill: after SIGKILL the answer waits (briefly) until the container is down,
    // so a client that inspects next sees the exit code.
    if (signo === 9 && exit) await settlesWithin(exit, KILLED_EXIT_MS)
  }

  private send(c: Container, signo: number): Promise<void> {
    return this.deps.states.signal(c, signo, () => this.deps.runtime.kill(c.id, String(signo)))
  }

  /** Docker unpauses a container it signalled, so the signal is delivered. */
  async thawAfterSignal(c: Container): Promise<void> {
    if (!c.state.Paused) return
    try {
      await this.deps.runtime.resume(c.id)
    } catch (err) {
      // Gone meanwhile is fine; a container still frozen is worth a line in the log.
      if (c.state.Paused) {
        this.deps.logger.warn('cannot unpause a signalled container', {
          id: c.id,
          error: String(err),
        })
      }
      return
    }
    // Its exit may be recorded first (a signal that killed it): then there is nothing to thaw.
    await this.deps.states.transition(c, { kind: 'thaw' }).catch((err: unknown) => {
      if (!(err instanceof Conflict)) throw err
    })
  }

  /**
   * Sends SIGKILL and waits, for a while, until the container's exit has been handled
   * (moby's Kill). When it does not come, the error says why, in `wrap`'s words.
   */
  async killAndWait(
    c: Container,
    exit: Promise<void>,
    wrap: (why: string, cause?: unknown) => Error,
  ): Promise<void> {
    let failed: unknown
    try {
      await this.send(c, 9)
      await this.thawAfterSignal(c)
    } catch (err) {
      failed = err
    }
    if (await settlesWithin(exit, failed === undefined ? KILLED_EXIT_MS : UNSIGNALLED_EXIT_MS)) {
      return
    }
    if (failed !== undefined) {
      const why = `Cannot kill container ${c.id}: ${failed instanceof Error ? failed.message : String(failed)}`
      this.deps.logger.error('killing a container failed', { id: c.id, error: why })
      throw wrap(why, failed)
    }
    throw wrap('tried to kill container, but did not receive an exit event')
  }

  async stop(c: Container, ref: string, timeoutSeconds?: number, signal?: string): Promise<void> {
    if (!c.state.Running) throw new NotModified('container already stopped')
    const stopSignal = signal || c.config.StopSignal || 'TERM'
    const signo = parseSignal(stopSignal)
    const timeout = timeoutSeconds ?? c.config.StopTimeout ?? 10
    if (await this.deps.supervisor.noteManualStop(c, 'KILL')) return
    const exit = this.deps.supervisor.exitHandled(c.id) ?? Promise.resolve()
    // 1. The stop signal, and its time to work (moby's containerStop). A signal that could not
    // be sent is logged, and the exit waited for a little anyway, as it may be under way.
    let waitMs = timeout < 0 ? Infinity : timeout * 1000
    try {
      await this.send(c, signo)
      await this.thawAfterSignal(c)
    } catch (err) {
      this.deps.logger.warn('sending the stop signal failed; killing the container', {
        id: c.id,
        signal: signo,
        error: String(err),
      })
      waitMs = UNSIGNALLED_EXIT_MS
    }
    const gone = waitMs === Infinity ? (await exit, true) : await settlesWithin(exit, waitMs)
    // 2. Then SIGKILL.
    if (!gone) {
      await this.killAndWait(
        c,
        exit,
        (why, cause) => new Internal(`cannot stop container: ${ref}: ${why}`, { cause }),
      )
    }
    this.deps.states.emit(c, 'stop')
  }
}
