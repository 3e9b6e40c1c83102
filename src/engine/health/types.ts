// Health checks: Docker's HEALTHCHECK run as an exec in a running container on a timer, the
// results kept in the container's state (State.Health). Data and interfaces only.
import type { HealthConfig } from '../image/types.ts'

export type { HealthConfig }

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy'

/** One probe's result, as State.Health.Log shows it (times RFC 3339 with nanoseconds). */
export interface HealthcheckResult {
  Start: string
  End: string
  ExitCode: number
  Output: string
}

/** Docker's State.Health. */
export interface Health {
  Status: HealthStatus
  FailingStreak: number
  /** The last five results, oldest first. */
  Log: HealthcheckResult[]
}

/** What a probe run returns (its start and end are the monitor's to stamp). */
export interface ProbeOutcome {
  exitCode: number
  output: string
}

/** Runs one probe command in a running container, as an exec. */
export interface ProbeRunner {
  /**
   * Runs cmd (an argv) in the container and resolves with its exit code and output (at most
   * 4096 bytes of stdout and stderr together, then "..."). A process that cannot be started
   * rejects with the runtime's words. When `signal` aborts (a timeout or a stop), the process
   * is killed, and the promise settles once it is gone.
   */
  run(containerId: string, cmd: string[], signal: AbortSignal): Promise<ProbeOutcome>
}

/** Timers the monitor uses (a fake clock in tests). */
export interface HealthClock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** A container as the monitor needs to see it. */
export interface HealthSubject {
  id: string
  config: { Healthcheck?: HealthConfig | null; Shell?: string[] | null }
  state: {
    Running: boolean
    Paused: boolean
    Restarting: boolean
    StartedAt: string
    Health?: Health
  }
}

/** Where the monitor's results go: the container's state (written, and the event emitted). */
export interface HealthRecorder {
  /**
   * Replaces the container's State.Health with update(current Health), if the container still
   * runs the process that started at startedAt; resolves with the new Health, or undefined
   * when the result was dropped (stopped, paused, restarted or removed since). The state's
   * writer orders it with the container's other changes.
   */
  record(
    id: string,
    startedAt: string,
    update: (prev: Health | undefined) => Health,
  ): Promise<Health | undefined>
}

/** The daemon's health checker: follows the containers' runs. */
export interface HealthMonitorApi {
  /** Starts, keeps or stops checking the container after a change of its state. */
  sync(c: HealthSubject): void
  /** Stops every timer (daemon shutdown; containers keep running). */
  close(): void
}

/**
 * The command a probe runs, or undefined when there is no check (no Test, NONE, or a type
 * Docker does not know: it then checks nothing, and the container has no State.Health).
 * Pure; here so that the container's state machine knows which containers are checked.
 */
export function probeCommand(
  h: HealthConfig | undefined | null,
  shell: string[] | undefined | null,
): string[] | undefined {
  const test = h?.Test ?? []
  switch (test[0]) {
    case 'CMD':
      return test.length > 1 ? test.slice(1) : undefined
    case 'CMD-SHELL':
      return [...(shell && shell.length > 0 ? shell : ['/bin/sh', '-c']), ...test.slice(1)]
    default:
      return undefined
  }
}
