// The health checker: one timer per checked running container. A probe runs an interval after
// the container started (or after the previous probe ended), under its timeout; its result
// goes to the container's state through the recorder. Stopping, pausing or a new run of the
// container ends its watch (a probe then in flight is killed and its result dropped).
import { applyResult, isoNanos, nextDelayMs, probeSettings, timeoutOutput } from './machine.ts'
import { probeCommand } from './types.ts'
import type { ProbeSettings } from './machine.ts'
import type {
  HealthClock,
  HealthMonitorApi,
  HealthRecorder,
  HealthStatus,
  HealthSubject,
  HealthcheckResult,
  ProbeRunner,
} from './types.ts'
import type { Logger } from '../logger.ts'

export interface HealthMonitorDeps {
  runner: ProbeRunner
  recorder: HealthRecorder
  clock?: HealthClock
  logger?: Logger
}

interface Watch {
  id: string
  /** The run being checked (a new run gets a new watch). */
  startedAt: string
  startedAtMs: number
  cmd: string[]
  settings: ProbeSettings
  status: HealthStatus | undefined
  timer?: unknown
  /** Aborts the probe in flight. */
  abort?: AbortController
  stopped: boolean
}

export const realClock: HealthClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms)
    // A pending probe never keeps the daemon (or a test) alive.
    t.unref()
    return t
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
}

export class HealthMonitor implements HealthMonitorApi {
  private readonly watches = new Map<string, Watch>()
  private readonly clock: HealthClock

  constructor(private readonly deps: HealthMonitorDeps) {
    this.clock = deps.clock ?? realClock
  }

  /** Whether the container is being checked now (for tests and diagnostics). */
  watching(id: string): boolean {
    return this.watches.has(id)
  }

  sync(c: HealthSubject): void {
    const h = c.config.Healthcheck
    const cmd = probeCommand(h, c.config.Shell)
    const s = c.state
    const want = cmd !== undefined && !!h && s.Running && !s.Paused && !s.Restarting
    const cur = this.watches.get(c.id)
    if (cur && want && cur.startedAt === s.StartedAt) return
    if (cur) this.stop(cur)
    if (!want) return
    const w: Watch = {
      id: c.id,
      startedAt: s.StartedAt,
      startedAtMs: Date.parse(s.StartedAt),
      cmd,
      settings: probeSettings(h),
      status: s.Health?.Status ?? 'starting',
      stopped: false,
    }
    this.watches.set(c.id, w)
    this.schedule(w)
  }

  close(): void {
    for (const w of [...this.watches.values()]) this.stop(w)
  }

  private stop(w: Watch): void {
    w.stopped = true
    if (w.timer !== undefined) this.clock.clearTimeout(w.timer)
    w.timer = undefined
    w.abort?.abort()
    if (this.watches.get(w.id) === w) this.watches.delete(w.id)
  }

  private schedule(w: Watch): void {
    const delay = nextDelayMs(w.settings, w.status, this.clock.now() - w.startedAtMs)
    w.timer = this.clock.setTimeout(() => {
      w.timer = undefined
      this.probe(w).catch((err: unknown) => {
        this.deps.logger?.warn('health check failed to run', { id: w.id, error: String(err) })
      })
    }, delay)
  }

  private async probe(w: Watch): Promise<void> {
    if (w.stopped) return
    const ac = new AbortController()
    w.abort = ac
    const startMs = this.clock.now()
    const run = this.deps.runner.run(w.id, w.cmd, ac.signal).then(
      (o) => ({ ExitCode: o.exitCode, Output: o.output }),
      // A probe that cannot start fails with the runtime's words (Docker: exit code -1).
      (err: unknown) => ({
        ExitCode: -1,
        Output: err instanceof Error ? err.message : String(err),
      }),
    )
    let timer: unknown
    const timedOut = new Promise<undefined>((resolve) => {
      timer = this.clock.setTimeout(() => resolve(undefined), w.settings.timeoutMs)
    })
    const outcome = await Promise.race([run, timedOut])
    this.clock.clearTimeout(timer)
    if (w.stopped) {
      ac.abort()
      return
    }
    const result: HealthcheckResult = {
      Start: isoNanos(startMs),
      End: isoNanos(this.clock.now()),
      ExitCode: outcome ? outcome.ExitCode : -1,
      Output: outcome ? outcome.Output : timeoutOutput(w.settings.timeoutMs),
    }
    const health = await this.deps.recorder.record(w.id, w.startedAt, (prev) =>
      applyResult(
        prev ?? { Status: 'starting', FailingStreak: 0, Log: [] },
        result,
        w.settings,
        w.startedAtMs,
      ),
    )
    if (health) w.status = health.Status
    if (!outcome) {
      // Killed, and waited for, so that dying probes never pile up (as dockerd does).
      ac.abort()
      await run
    }
    w.abort = undefined
    if (!w.stopped) this.schedule(w)
  }
}
