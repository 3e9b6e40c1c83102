// berthd's logger: one logfmt line per event on stderr, in dockerd's shape
// (`time="..." level=info msg="..." key=value`), so existing log tooling reads it.

import type { LogFields, Logger, LogValue } from '../engine/logger.ts'

// The engine's Logger, which this logger implements; re-exported for the daemon's callers.
export type { LogFields, Logger, LogValue }
export { nullLogger } from '../engine/logger.ts'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s)
}

// logrus, which dockerd uses, spells the warning level out.
const LEVEL_NAMES: Record<LogLevel, string> = {
  debug: 'debug',
  info: 'info',
  warn: 'warning',
  error: 'error',
}

/** dockerd's timestamp: RFC 3339 with nanoseconds; JS only has milliseconds. */
export function logTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')
}

function quote(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
}

function formatValue(v: LogValue): string {
  const s = v === null || v === undefined ? '' : String(v)
  // logrus quotes anything that is not a plain token.
  return /^[A-Za-z0-9\-._/@^+:]+$/.test(s) ? s : quote(s)
}

export function formatLine(
  level: LogLevel,
  msg: string,
  fields: LogFields | undefined,
  now: Date,
): string {
  let line = `time=${quote(logTime(now))} level=${LEVEL_NAMES[level]} msg=${formatValue(msg)}`
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue
      line += ` ${k}=${formatValue(v)}`
    }
  }
  return line + '\n'
}

export interface LoggerOptions {
  level: LogLevel
  /** Where lines go; stderr unless a test says otherwise. */
  write?: (line: string) => void
  now?: () => Date
}

export function createLogger(opts: LoggerOptions): Logger {
  const min = LOG_LEVELS.indexOf(opts.level)
  const write = opts.write ?? ((line: string) => void process.stderr.write(line))
  const now = opts.now ?? (() => new Date())
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      if (LOG_LEVELS.indexOf(level) < min) return
      write(formatLine(level, msg, fields, now()))
    }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
