// A container's state machine. Every change of a container's state goes through transition(),
// which checks that the move is allowed, writes the new state atomically, and only then makes it
// the container's and emits the container's event: no caller can forget one of the three. The
// container's other events (create, attach, kill, destroy, rename...) go out through emit().
import { Conflict } from '../errors.ts'
import { containerAttributes, type EventSink } from '../events/types.ts'
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
  }
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
function eventOf(m: Move): { action: string; extra?: Record<string, string> } | undefined {
  switch (m.kind) {
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
    const next = nextState(c.state, m, nowIso())
    if (persisted(c, m)) await this.store.saveState(c, next)
    c.state = next
    const ev = eventOf(m)
    if (ev) this.emit(c, ev.action, ev.extra)
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
