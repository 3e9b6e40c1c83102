// Restart policies as Docker applies them (moby restartmanager): no, on-failure[:N], always,
// unless-stopped, with a back-off that starts at 100 ms, doubles up to a minute, and starts
// over once a run lasted 10 seconds.
import { constants as osConstants } from 'node:os'
import { InvalidArgument } from '../errors.ts'

export interface RestartPolicy {
  Name: string
  MaximumRetryCount?: number
}

const BACKOFF_START_MS = 100
const BACKOFF_MAX_MS = 60_000
const RESET_AFTER_MS = 10_000

export function policyName(p: RestartPolicy | undefined): string {
  return p?.Name ?? ''
}

export function isNone(p: RestartPolicy | undefined): boolean {
  const n = policyName(p)
  return n === '' || n === 'no'
}

/** moby's validateRestartPolicy, plus the AutoRemove conflict, in Docker's words. */
export function validateRestartPolicy(p: RestartPolicy | undefined, autoRemove: boolean): void {
  const name = policyName(p)
  const max = p?.MaximumRetryCount ?? 0
  switch (name) {
    case 'always':
    case 'unless-stopped':
    case 'no':
      if (max !== 0) {
        throw new InvalidArgument(
          "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        )
      }
      break
    case 'on-failure':
      if (max < 0) {
        throw new InvalidArgument('invalid restart policy: maximum retry count cannot be negative')
      }
      break
    case '':
      break
    default:
      throw new InvalidArgument(
        `invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
      )
  }
  if (autoRemove && !isNone(p)) {
    throw new InvalidArgument("can't create 'AutoRemove' container with restart policy")
  }
}

/**
 * One container's restart decisions. Lives in memory: a daemon restart starts a fresh one
 * (back-off from the start, not cancelled), as Docker's does.
 */
export class RestartManager {
  private timeoutMs = 0
  private cancelled = false
  private pending: { timer: NodeJS.Timeout; resolve(go: boolean): void } | undefined

  constructor(
    private readonly policy: RestartPolicy | undefined,
    public restartCount: number,
  ) {}

  /**
   * Whether the container should start again after this exit, and after how long.
   * `ranMs` is how long the run that ended lasted.
   */
  shouldRestart(
    exitCode: number,
    manuallyStopped: boolean,
    ranMs: number,
  ): { restart: false } | { restart: true; delayMs: number } {
    if (isNone(this.policy) || this.cancelled) return { restart: false }
    if (ranMs >= RESET_AFTER_MS) this.timeoutMs = 0
    if (this.timeoutMs === 0) this.timeoutMs = BACKOFF_START_MS
    else if (this.timeoutMs < BACKOFF_MAX_MS) this.timeoutMs *= 2
    if (this.timeoutMs > BACKOFF_MAX_MS) this.timeoutMs = BACKOFF_MAX_MS

    const name = policyName(this.policy)
    const max = this.policy?.MaximumRetryCount ?? 0
    let restart = false
    if (name === 'always') restart = true
    else if (name === 'unless-stopped') restart = !manuallyStopped
    else if (name === 'on-failure') {
      restart = exitCode !== 0 && (max === 0 || this.restartCount < max)
    }
    if (!restart) return { restart: false }
    this.restartCount++
    return { restart: true, delayMs: this.timeoutMs }
  }

  /** Waits out the back-off; false when cancelled meanwhile (stop, kill, rm). */
  wait(delayMs: number): Promise<boolean> {
    this.pending?.resolve(false)
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.pending = undefined
        resolve(!this.cancelled)
      }, delayMs)
      this.pending = {
        timer,
        resolve: (go) => {
          clearTimeout(timer)
          this.pending = undefined
          resolve(go)
        },
      }
    })
  }

  get waiting(): boolean {
    return this.pending !== undefined
  }

  /** No more restarts from this manager (Docker's ExitOnNext). */
  cancel(): void {
    this.cancelled = true
    this.pending?.resolve(false)
  }
}

/** A signal's name without SIG, from a name or a number ("SIGTERM", "term", "15" → "TERM"). */
export function signalName(sig: string): string {
  const s = sig.trim().toUpperCase()
  if (/^\d+$/.test(s)) {
    const n = Number(s)
    for (const [name, num] of Object.entries(osConstants.signals)) {
      if (num === n) return name.replace(/^SIG/, '')
    }
    return s
  }
  return s.replace(/^SIG/, '')
}

/**
 * moby's killWithSignal: KILL, the container's stop signal, or any signal when it names none,
 * ends the restart policy (ExitOnNext).
 */
export function exitsOnNext(signal: string, stopSignal: string | undefined): boolean {
  const sig = signalName(signal)
  if (sig === 'KILL' || !stopSignal) return true
  return sig === signalName(stopSignal)
}
