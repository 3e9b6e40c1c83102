// Docker's health-check rules, pure: the intervals, and the state machine a probe's result
// drives (moby daemon/health.go, with 25.0's start interval). The config's checks and its
// merge with the image's are the container's (container/config.ts).
import { formatDuration } from '../../lib/duration.ts'
import type { Health, HealthConfig, HealthcheckResult } from './types.ts'

const NS_PER_MS = 1_000_000
/** Docker's defaults (ms). */
export const DEFAULT_INTERVAL_MS = 30_000
export const DEFAULT_TIMEOUT_MS = 30_000
export const DEFAULT_START_INTERVAL_MS = 5_000
export const DEFAULT_RETRIES = 3
/** State.Health.Log keeps this many results. */
export const MAX_LOG_ENTRIES = 5
/** A probe's output is cut after this many bytes. */
export const MAX_OUTPUT_LEN = 4096

/** A probe's timings and retries, Docker's defaults filled in (ms). */
export interface ProbeSettings {
  intervalMs: number
  timeoutMs: number
  startPeriodMs: number
  startIntervalMs: number
  retries: number
}

export function probeSettings(h: HealthConfig | null | undefined): ProbeSettings {
  h ??= {}
  const ms = (ns: number | undefined, def: number): number => (ns && ns > 0 ? ns / NS_PER_MS : def)
  return {
    intervalMs: ms(h.Interval, DEFAULT_INTERVAL_MS),
    timeoutMs: ms(h.Timeout, DEFAULT_TIMEOUT_MS),
    startPeriodMs: ms(h.StartPeriod, 0),
    startIntervalMs: ms(h.StartInterval, DEFAULT_START_INTERVAL_MS),
    retries: h.Retries && h.Retries > 0 ? h.Retries : DEFAULT_RETRIES,
  }
}

/**
 * The wait before the next probe (moby 25's getInterval): the start interval while the
 * container is still starting within its start period, else the interval.
 */
export function nextDelayMs(
  s: ProbeSettings,
  status: Health['Status'] | undefined,
  sinceStartMs: number,
): number {
  if (sinceStartMs >= s.startPeriodMs) return s.intervalMs
  return status === 'starting' ? s.startIntervalMs : s.intervalMs
}

/**
 * moby's handleProbeResult: the result joins the log (the last five kept); exit 0 makes the
 * container healthy; a failure counts towards the streak, except while it is still starting
 * within its start period; `retries` failures in a row make it unhealthy.
 */
export function applyResult(
  prev: Health,
  result: HealthcheckResult,
  s: Pick<ProbeSettings, 'retries' | 'startPeriodMs'>,
  startedAtMs: number,
): Health {
  const log = [...prev.Log, result].slice(-MAX_LOG_ENTRIES)
  if (result.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log: log }
  const inStartPeriod =
    prev.Status === 'starting' && Date.parse(result.Start) - startedAtMs < s.startPeriodMs
  if (inStartPeriod) return { ...prev, Log: log }
  const streak = prev.FailingStreak + 1
  return {
    Status: streak >= s.retries ? 'unhealthy' : prev.Status,
    FailingStreak: streak,
    Log: log,
  }
}

/** Docker's result for a probe that ran past its timeout. */
export function timeoutOutput(timeoutMs: number): string {
  return `Health check exceeded timeout (${formatDuration(BigInt(Math.round(timeoutMs * NS_PER_MS)))})`
}

/** Docker's limitedBuffer: the first 4096 bytes, then "..." when more came. */
export class LimitedOutput {
  private readonly chunks: Buffer[] = []
  private size = 0
  private truncated = false

  write(data: Uint8Array): void {
    const keep = Math.min(MAX_OUTPUT_LEN - this.size, data.length)
    if (keep > 0) {
      this.chunks.push(Buffer.from(data.subarray(0, keep)))
      this.size += keep
    }
    if (keep < data.length) this.truncated = true
  }

  toString(): string {
    // Go's JSON turns invalid UTF-8 into U+FFFD, as Buffer's decoding does.
    const out = Buffer.concat(this.chunks).toString('utf8')
    return this.truncated ? `${out}...` : out
  }
}

/** A time as State.Health.Log shows it: RFC 3339, nanosecond digits (JS has milliseconds). */
export function isoNanos(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')
}
