// Docker's log drivers as berth keeps them: HostConfig.LogConfig checked at create (Docker's
// words), and turned into what conmon writes. Every driver that reads back (json-file, local)
// is conmon's k8s-file on disk, capped by max-size and kept as max-file files; none writes
// nothing. Pure.
import { InvalidArgument } from '../errors.ts'
import type { LogConfig, LogFileOptions } from '../runtime/types.ts'

/** The drivers berth has (what /info lists as Plugins.Log). */
export const LOG_DRIVERS = ['json-file', 'local'] as const
export const DEFAULT_LOG_DRIVER = 'json-file'

const OPTS: Record<string, readonly string[]> = {
  'json-file': [
    'max-file',
    'max-size',
    'compress',
    'labels',
    'labels-regex',
    'env',
    'env-regex',
    'tag',
  ],
  local: ['max-file', 'max-size', 'compress'],
}

// The local driver's defaults (moby daemon/logger/local).
const LOCAL_MAX_SIZE = 20 * 1024 * 1024
const LOCAL_MAX_FILES = 5

/**
 * The request's LogConfig as Docker records it (an empty Type is json-file), or InvalidArgument
 * in Docker's words: an unknown driver or option at once, as dockerd does; a bad value too,
 * where dockerd would only fail the start (with 500, leaving a container that cannot start).
 */
export function checkLogConfig(v: unknown): LogConfig {
  const lc = (typeof v === 'object' && v !== null ? v : {}) as {
    Type?: unknown
    Config?: unknown
  }
  const type = typeof lc.Type === 'string' && lc.Type !== '' ? lc.Type : DEFAULT_LOG_DRIVER
  const config: Record<string, string> = {}
  if (typeof lc.Config === 'object' && lc.Config !== null) {
    for (const [k, val] of Object.entries(lc.Config as Record<string, unknown>)) {
      config[k] = String(val)
    }
  }
  if (type !== 'none') {
    const known = OPTS[type]
    if (!known)
      throw new InvalidArgument(
        `error looking up logging plugin ${type}: plugin "${type}" not found`,
      )
    for (const k of Object.keys(config)) {
      if (!known.includes(k)) {
        throw new InvalidArgument(
          type === 'local'
            ? `unknown log opt '${k}' for log driver local`
            : `unknown log opt '${k}' for json-file log driver`,
        )
      }
    }
  }
  const out = { Type: type, Config: config }
  logFileOptions(out)
  return out
}

/** What conmon does for a checked LogConfig; InvalidArgument in dockerd's words for bad values. */
export function logFileOptions(lc: LogConfig): LogFileOptions {
  const c = lc.Config
  const fail = (msg: string): never => {
    throw new InvalidArgument(`failed to initialize logging driver: ${msg}`)
  }
  if (lc.Type === 'none') return { enabled: false, maxFiles: 1 }
  if (lc.Type === 'local') {
    let maxSize = LOCAL_MAX_SIZE
    let maxFiles = LOCAL_MAX_FILES
    let compress = true
    if (c['max-size'] !== undefined) {
      const s = fromHumanSize(c['max-size'])
      if (s === undefined)
        fail(`invalid value for max-size: ${c['max-size']}: invalid size: '${c['max-size']}'`)
      maxSize = s as number
    }
    if (c['max-file'] !== undefined) {
      const n = atoi(c['max-file'])
      if (n === undefined) {
        fail(`invalid value for max-file: ${c['max-file']}: ${atoiError(c['max-file'])}`)
      }
      maxFiles = n as number
    }
    if (c['compress'] !== undefined) {
      const b = parseBool(c['compress'])
      if (b === undefined) {
        fail(`error reading compress log option: ${parseBoolError(c['compress'])}`)
      }
      compress = b as boolean
    }
    if (maxFiles < 0) fail('max file count cannot be less than 0')
    if (compress && maxFiles <= 1) fail('compression cannot be enabled when max file count is 1')
    // 0 is no limit (moby's local driver), for size and for count.
    return {
      enabled: true,
      ...(maxSize > 0 ? { maxSize } : {}),
      maxFiles: maxSize > 0 && maxFiles > 0 ? maxFiles : 1,
      ...(compress && maxSize > 0 && maxFiles > 1 ? { compress: true } : {}),
    }
  }
  // json-file (moby daemon/logger/jsonfilelog New).
  let maxSize: number | undefined
  if (c['max-size'] !== undefined) {
    const s = fromHumanSize(c['max-size'])
    if (s === undefined) fail(`invalid size: '${c['max-size']}'`)
    if ((s as number) <= 0) fail('max-size must be a positive number')
    maxSize = s as number
  }
  let maxFiles = 1
  if (c['max-file'] !== undefined) {
    const n = atoi(c['max-file'])
    if (n === undefined) fail(atoiError(c['max-file']))
    if ((n as number) < 1) fail('max-file cannot be less than 1')
    maxFiles = n as number
  }
  let compress = false
  if (c['compress'] !== undefined) {
    const b = parseBool(c['compress'])
    if (b === undefined) fail(parseBoolError(c['compress']))
    if (b === true && (maxFiles === 1 || maxSize === undefined)) {
      fail('compress cannot be true when max-file is less than 2 or max-size is not set')
    }
    compress = b === true
  }
  // Without max-size, json-file never rotates, whatever max-file says.
  return maxSize === undefined
    ? { enabled: true, maxFiles: 1 }
    : { enabled: true, maxSize, maxFiles, ...(compress ? { compress: true } : {}) }
}

/** go-units FromHumanSize: decimal units (k = 1000), an optional i and b. */
export function fromHumanSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(s)
  if (!m) return undefined
  const n = Number(m[1])
  if (!Number.isFinite(n)) return undefined
  const mult = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 }[(m[2] ?? '').toLowerCase()] ?? 1
  return Math.trunc(n * mult)
}

function atoi(s: string): number | undefined {
  return /^[+-]?\d+$/.test(s) ? Number(s) : undefined
}

function atoiError(s: string): string {
  return `strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`
}

const TRUE = ['1', 't', 'T', 'TRUE', 'true', 'True']
const FALSE = ['0', 'f', 'F', 'FALSE', 'false', 'False']

function parseBool(s: string): boolean | undefined {
  return TRUE.includes(s) ? true : FALSE.includes(s) ? false : undefined
}

function parseBoolError(s: string): string {
  return `strconv.ParseBool: parsing ${JSON.stringify(s)}: invalid syntax`
}
