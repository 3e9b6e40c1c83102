// A container's state machine. Every change of a container's state goes through transition(),
// which checks that the move is allowed, writes the new state atomically, and only then makes it
// the container's and emits the container's event: no caller can forget one of the three. The
// container's other events (create, attach, kill, destroy, rename...) go out through emit().
import { Conflict } from '../errors.ts'
import { containerAttributes, type EventSink } from '../events/types.ts'
import { probeCommand, type Health } from '../health/types.ts'
import type { ExitStatus } from '../runtime/types.ts'
import type { Container, ContainerState, ContainerStatus } from './types.ts'
import { KeyedQueue } from './waiters.ts'

export const ZERO_TIME = '0001-01-01T00:00:00Z'

/** A move from one state to another, with what it needs to know. */
export type Move =
  /** The process runs. */
  | { kind: 'start'; pid: number }
  /** A start failed: the state stays, with the error and Docker's exit code recorded. */
  | { kind: 'start-failed'; exitCode: number; error: string }
  /**
   * The process exited (its monitor said so). With `restart`, its restart policy brings it
   * back after a back-off: it goes straight to restarting, never seen stopped in between.
   */
  | { kind: 'exit'; exit: ExitStatus; restart?: boolean }
  /** Found at daemon start: the process exited (or its monitor went) while berthd was down. */
  | { kind: 'exited-while-down'; exit: ExitStatus }
  | { kind: 'pause' }
  | { kind: 'unpause' }
  /** A paused container thawed so that a signal sent to it is delivered (no event). */
  | { kind: 'thaw' }
  /** An exit recorded earlier (while the daemon was down): its policy brings it back. */
  | { kind: 'restarting' }
  /** The restart did not happen (stopped by a user, or the start failed). */
  | { kind: 'restart-abandoned' }
  /** Found at daemon start running, though its record said it was waiting to restart. */
  | { kind: 'reattached' }
  /** Its removal began; the record goes next. */
  | { kind: 'removing' }
  /** Unusable (its root filesystem is gone): it can only be removed. */
  | { kind: 'dead'; why: string }
  /**
   * A health probe's result for the run that started at startedAt: `update` is the health
   * checker's rule (health/machine.ts), applied to the Health the container has then.
   */
  | { kind: 'health'; startedAt: string; update: (prev: Health | undefined) => Health }

type Kind = Move['kind']

const ANY: readonly ContainerStatus[] = [
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
]

/** The states each move may start from. */
const FROM: Record<Kind, readonly ContainerStatus[]> = {
  start: ['created', 'exited', 'restarting'],
  'start-failed': ['created', 'exited', 'restarting', 'dead'],
  exit: ['running', 'paused'],
  'exited-while-down': ['running', 'paused', 'restarting'],
  pause: ['running'],
  unpause: ['paused'],
  thaw: ['paused'],
  restarting: ['exited'],
  'restart-abandoned': ['restarting'],
  reattached: ['restarting'],
  removing: ['created', 'exited', 'dead', 'removing'],
  dead: ANY,
  health: ['running'],
}

/** Docker's timestamps: RFC 3339 with nanoseconds (JS has milliseconds). */
export function nowIso(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')
}

export function emptyState(): ContainerState {
  return {
    Status: 'created',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: '',
    StartedAt: ZERO_TIME,
    FinishedAt: ZERO_TIME,
  }
}

export function allowed(from: ContainerStatus, move: Kind): boolean {
  return FROM[move].includes(from)
}

function exited(s: ContainerState, exit: ExitStatus): ContainerState {
  return {
    ...s,
    Status: 'exited',
    Running: false,
    Restarting: false,
    Paused: false,
    Pid: 0,
    ExitCode: exit.exitCode,
    Error: exit.error ?? '',
    FinishedAt: exit.finishedAt,
  }
}

/** The state after a move (pure). */
export function nextState(s: ContainerState, m: Move, now: string): ContainerState {
  switch (m.kind) {
    case 'start':
      return {
        ...s,
        Status: 'running',
        Running: true,
        Restarting: false,
        Paused: false,
        Pid: m.pid,
        ExitCode: 0,
        Error: '',
        StartedAt: now,
        FinishedAt: ZERO_TIME,
      }
    case 'start-failed':
      return { ...s, ExitCode: m.exitCode, Error: m.error }
    case 'exit':
      if (m.restart) {
        return {
          ...s,
          Status: 'restarting',
          Running: true,
          Restarting: true,
          Paused: false,
          Pid: 0,
          ExitCode: m.exit.exitCode,
          Error: m.exit.error ?? '',
          FinishedAt: m.exit.finishedAt,
        }
      }
      return exited(s, m.exit)
    case 'exited-while-down':
      return exited(s, m.exit)
    case 'pause':
      return { ...s, Status: 'paused', Paused: true }
    case 'unpause':
    case 'thaw':
      return { ...s, Status: 'running', Paused: false }
    case 'restarting':
      return { ...s, Status: 'restarting', Running: true, Restarting: true, Pid: 0 }
    case 'restart-abandoned':
      return { ...s, Status: 'exited', Running: false, Restarting: false, Pid: 0 }
    case 'reattached':
      return { ...s, Status: 'running', Restarting: false }
    case 'removing':
      return { ...s, Status: 'removing' }
    case 'dead':
      return {
        ...s,
        Status: 'dead',
        Dead: true,
        Running: false,
        Restarting: false,
        Paused: false,
        Pid: 0,
        Error: m.why,
      }
    case 'health':
      // healthAfter() applies the checker's update.
      return { ...s }
  }
}

/**
 * The container's State.Health after a move, as dockerd keeps it: a start of a checked
 * container makes it starting (the earlier runs' log kept); leaving running (exit, pause)
 * stops the checks, which Docker then reports as unhealthy; a probe's result is the health
 * checker's to apply.
 */
export function healthAfter(
  c: Pick<Container, 'config' | 'state'>,
  m: Move,
  next: ContainerState,
): Health | undefined {
  const prev = c.state.Health
  if (m.kind === 'start') {
    if (!probeCommand(c.config.Healthcheck, c.config.Shell)) return undefined
    return { Status: 'starting', FailingStreak: 0, Log: prev ? [...prev.Log] : [] }
  }
  if (m.kind === 'health') return m.update(prev)
  if (prev && c.state.Status === 'running' && next.Status !== 'running') {
    return { ...prev, Status: 'unhealthy' }
  }
  return prev
}

/**
 * Whether the move is written to disk. Two are not: the start of a removal (the record goes
 * right after, and a crash in between leaves the state before it, which the next start
 * repairs), and the exit of a --rm container (its removal comes next; the exit file tells a
 * restarted daemon the same thing).
 */
function persisted(c: Container, m: Move): boolean {
  if (m.kind === 'removing') return false
  if (m.kind === 'exit' && c.hostConfig.AutoRemove === true) return false
  return true
}

/** The event a move emits, if any (Docker's action and extra attributes). */
function eventOf(
  m: Move,
  prev: ContainerState,
  next: ContainerState,
): { action: string; extra?: Record<string, string> } | undefined {
  switch (m.kind) {
    case 'health':
      return next.Health && next.Health.Status !== prev.Health?.Status
        ? { action: `health_status: ${next.Health.Status}` }
        : undefined
    case 'start':
      return { action: 'start' }
    case 'exit':
      return { action: 'die', extra: { exitCode: String(m.exit.exitCode) } }
    case 'pause':
      return { action: 'pause' }
    case 'unpause':
      return { action: 'unpause' }
    default:
      return undefined
  }
}

/** Where states are written (the container store): atomically, or not at all. */
export interface StateWriter {
  saveState(c: Container, state: ContainerState): Promise<void>
}

export class ContainerStates {
  /** One container's moves happen one at a time, each checked against the state before it. */
  private readonly queue = new KeyedQueue()
  /** Told of every container after each of its moves (the health checker follows runs). */
  private readonly observers: ((c: Container) => void)[] = []

  constructor(
    private readonly store: StateWriter,
    private readonly events?: EventSink,
  ) {}

  /** Moves the container: checks the move, writes the state, then applies it and emits. */
  transition(c: Container, m: Move): Promise<void> {
    return this.queue.run(c.id, () => this.move(c, m))
  }

  private async move(c: Container, m: Move): Promise<void> {
    if (!allowed(c.state.Status, m.kind)) {
      throw new Conflict(
        `cannot change container ${c.id} (${m.kind}) while it is ${c.state.Status}`,
      )
    }
    if (m.kind === 'health' && c.state.StartedAt !== m.startedAt) {
      throw new Conflict(`container ${c.id} was restarted since the health check began`)
    }
    const prev = c.state
    const next = nextState(prev, m, nowIso())
    const health = healthAfter(c, m, next)
    if (health) next.Health = health
    else delete next.Health
    if (persisted(c, m)) await this.store.saveState(c, next)
    c.state = next
    const ev = eventOf(m, prev, next)
    if (ev) this.emit(c, ev.action, ev.extra)
    for (const fn of this.observers) fn(c)
  }

  /** Calls fn with the container after each of its moves. */
  observe(fn: (c: Container) => void): void {
    this.observers.push(fn)
  }

  /**
   * Records a health probe's result for the run that started at startedAt (`update` makes the
   * new Health from the one the container has); the new Health, or undefined when the
   * container has stopped or started again since (the result is dropped).
   */
  async recordHealth(
    c: Container,
    startedAt: string,
    update: (prev: Health | undefined) => Health,
  ): Promise<Health | undefined> {
    try {
      await this.transition(c, { kind: 'health', startedAt, update })
    } catch (err) {
      if (err instanceof Conflict) return undefined
      throw err
    }
    return c.state.Health
  }

  /**
   * Sends a signal, then emits its 'kill' event, in the container's queue: the 'die' that the
   * signal causes is a move queued behind it, so it always comes after, as moby's container
   * lock orders them.
   */
  signal(c: Container, signo: number, send: () => Promise<void>): Promise<void> {
    return this.queue.run(c.id, async () => {
      await send()
      this.emit(c, 'kill', { signal: String(signo) })
    })
  }

  /** A container event that is not a change of state (create, attach, kill, destroy...). */
  emit(c: Container, action: string, extra?: Record<string, string>): void {
    this.events?.emit({
      Type: 'container',
      Action: action,
      Actor: { ID: c.id, Attributes: containerAttributes(c, extra) },
    })
  }

  /** An event about containers in general (prune). */
  emitGeneral(action: string, attributes: Record<string, string>): void {
    this.events?.emit({
      Type: 'container',
      Action: action,
      Actor: { ID: '', Attributes: attributes },
    })
  }
}
