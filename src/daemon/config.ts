// berthd's command line: a few dockerd-style flags, parsed strictly, and the daemon's
// configuration file (dockerd's daemon.json, with the same keys as the flags).
import { readFile } from 'node:fs/promises'
import { parseDurationMs } from '../lib/duration.ts'
import { isLogLevel, type LogLevel } from './log.ts'

export interface DaemonConfig {
  /** Path of the unix socket the API listens on. */
  socketPath: string
  dataRoot: string
  logLevel: LogLevel
  /** Group that may use the socket; root's group when unset. */
  group?: string
  /**
   * `--keep-removed`: how long a removed container's record and writable layer stay in the
   * trash (ms), for `berth container restore`. Absent or 0: removed at once, as Docker does.
   */
  keepRemovedMs?: number
  /** `--config-file`: the JSON file read at start (default DEFAULT_CONFIG_FILE). */
  configFile?: string
  /** Whether --config-file was given (then a missing file is an error). */
  configFileGiven?: boolean
  /** The settings given as flags, as typed (`data-root`: ...): the file must not repeat them. */
  fromFlags?: Record<string, string>
  /**
   * Every container whose environment sets NVIDIA_VISIBLE_DEVICES gets those GPUs without
   * --gpus, as under NVIDIA's runtime (`nvidia-docker`); off unless set.
   */
  gpusFromEnv?: boolean
  /** Where CDI specs are read (dockerd's --cdi-spec-dir); /etc/cdi and /var/run/cdi unless set. */
  cdiSpecDirs?: string[]
}

export const DEFAULT_SOCKET = '/run/berth/berth.sock'
export const DEFAULT_DATA_ROOT = '/var/lib/berth'
export const DEFAULT_CONFIG_FILE = '/etc/berth/daemon.json'

export type ParseResult =
  { action: 'run'; config: DaemonConfig } | { action: 'help' } | { action: 'version' }

/** A command line berthd cannot run with; main prints `berthd: MESSAGE` and exits 1. */
export class ConfigError extends Error {}

export const USAGE = `Usage:	berthd [OPTIONS]

A container engine that speaks the Docker Engine API

Options:
      --cdi-spec-dir list  CDI specification directories to use (default [/etc/cdi,/var/run/cdi])
      --config-file string Daemon configuration file (default "${DEFAULT_CONFIG_FILE}")
      --data-root string   Root directory of persistent berthd state (default "${DEFAULT_DATA_ROOT}")
      --group string       Group for the unix socket (default "root")
      --gpus-from-env      Give containers whose environment sets NVIDIA_VISIBLE_DEVICES those GPUs
  -h, --help               Print usage
  -H, --host string        Daemon socket to listen on (default "unix://${DEFAULT_SOCKET}")
      --keep-removed duration
                           Keep removed containers in the trash this long, for
                           "berth container restore" (default 0s: no trash)
  -l, --log-level string   Set the logging level ("debug"|"info"|"warn"|"error") (default "info")
  -v, --version            Print version information and quit
`

/** `unix:///path` to its path; berthd listens only on unix sockets. */
export function parseHost(host: string): string {
  if (host.startsWith('unix://')) {
    const p = host.slice('unix://'.length)
    if (p === '') return DEFAULT_SOCKET
    if (!p.startsWith('/'))
      throw new ConfigError(`invalid host: ${host}: the socket path must be absolute`)
    return p
  }
  if (host.startsWith('/')) return host
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) {
    throw new ConfigError(`invalid host: ${host}: berthd listens only on unix:// sockets`)
  }
  throw new ConfigError(`invalid host: ${host}`)
}

const LONG_WITH_VALUE: Record<
  string,
  'host' | 'data-root' | 'log-level' | 'group' | 'keep-removed' | 'config-file'
> = {
  '--config-file': 'config-file',
  '--keep-removed': 'keep-removed',
  '--host': 'host',
  '-H': 'host',
  '--data-root': 'data-root',
  '--log-level': 'log-level',
  '-l': 'log-level',
  '--group': 'group',
  '-G': 'group',
}

/** A boolean flag's value as pflag reads it (Go's strconv.ParseBool). */
function parseBoolFlag(flag: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false
  throw new ConfigError(
    `invalid argument "${value}" for "${flag}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`,
  )
}

export function parseArgs(argv: readonly string[]): ParseResult {
  const cfg: DaemonConfig = {
    socketPath: DEFAULT_SOCKET,
    dataRoot: DEFAULT_DATA_ROOT,
    logLevel: 'info',
    configFile: DEFAULT_CONFIG_FILE,
  }
  const fromFlags: Record<string, string> = {}
  let hostSeen = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') return { action: 'help' }
    if (arg === '--version' || arg === '-v') return { action: 'version' }
    let flag = arg
    let value: string | undefined
    const eq = arg.indexOf('=')
    if (arg.startsWith('--') && eq > 0) {
      flag = arg.slice(0, eq)
      value = arg.slice(eq + 1)
    } else if (/^-[A-Za-z]./.test(arg) && !arg.startsWith('--')) {
      // -Hunix:///x, as pflag allows
      flag = arg.slice(0, 2)
      value = arg.slice(2).replace(/^=/, '')
    }
    if (flag === '--gpus-from-env') {
      cfg.gpusFromEnv = parseBoolFlag(flag, value ?? 'true')
      continue
    }
    if (flag === '--cdi-spec-dir') {
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new ConfigError(`flag needs an argument: ${flag}`)
        value = argv[++i]!
      }
      // Specs are found under the host's root: a relative directory would depend on our cwd.
      if (!value.startsWith('/')) {
        throw new ConfigError(`--cdi-spec-dir must be an absolute path: ${value}`)
      }
      cfg.cdiSpecDirs = [...(cfg.cdiSpecDirs ?? []), value]
      continue
    }
    const key = LONG_WITH_VALUE[flag]
    if (!key) {
      if (arg.startsWith('-')) {
        throw new ConfigError(
          arg.startsWith('--')
            ? `unknown flag: ${flag}`
            : `unknown shorthand flag: '${arg[1]}' in ${arg}`,
        )
      }
      throw new ConfigError(`"berthd" accepts no arguments, got ${JSON.stringify(arg)}`)
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new ConfigError(`flag needs an argument: ${flag}`)
      value = argv[++i]!
    }
    if (key !== 'config-file') fromFlags[key === 'host' ? 'hosts' : key] = value
    switch (key) {
      case 'host':
        if (hostSeen) throw new ConfigError('berthd listens on one socket; give --host once')
        hostSeen = true
        cfg.socketPath = parseHost(value)
        break
      case 'data-root':
        if (!value.startsWith('/'))
          throw new ConfigError(`--data-root must be an absolute path: ${value}`)
        cfg.dataRoot = value.replace(/(.)\/+$/, '$1')
        break
      case 'log-level':
        if (!isLogLevel(value)) throw new ConfigError(`unable to parse logging level: ${value}`)
        cfg.logLevel = value
        break
      case 'group':
        cfg.group = value
        break
      case 'keep-removed':
        cfg.keepRemovedMs = parseKeepRemoved(value)
        break
      case 'config-file':
        if (!value.startsWith('/'))
          throw new ConfigError(`--config-file must be an absolute path: ${value}`)
        cfg.configFile = value
        cfg.configFileGiven = true
        break
    }
  }
  if (Object.keys(fromFlags).length > 0) cfg.fromFlags = fromFlags
  return { action: 'run', config: cfg }
}

/** The keys the configuration file may hold (dockerd's names for the same settings). */
const FILE_KEYS = ['data-root', 'log-level', 'group', 'keep-removed'] as const

/**
 * Reads the configuration file into the settings, as dockerd does: unknown keys and keys also
 * given as flags are errors; a missing file is fine unless it was named with --config-file.
 */
export async function applyConfigFile(cfg: DaemonConfig): Promise<DaemonConfig> {
  const path = cfg.configFile ?? DEFAULT_CONFIG_FILE
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !cfg.configFileGiven) return cfg
    throw new ConfigError(
      `unable to configure the Docker daemon with file ${path}: ${(err as Error).message}`,
    )
  }
  const fail = (why: string): ConfigError =>
    new ConfigError(`unable to configure the Docker daemon with file ${path}: ${why}`)
  let file: unknown
  try {
    file = JSON.parse(text)
  } catch (err) {
    throw fail((err as Error).message)
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) {
    throw fail('the configuration must be a JSON object')
  }
  const entries = Object.entries(file as Record<string, unknown>)
  const unknown = entries.filter(([k]) => !(FILE_KEYS as readonly string[]).includes(k))
  if (unknown.length > 0) {
    throw fail(
      `the following directives don't match any configuration option: ${unknown.map(([k]) => k).join(', ')}`,
    )
  }
  const both = entries.filter(([k]) => cfg.fromFlags?.[k] !== undefined)
  if (both.length > 0) {
    throw fail(
      `the following directives are specified both as a flag and in the configuration file: ${both.map(([k, v]) => `${k}: (from flag: ${cfg.fromFlags?.[k] ?? ''}, from file: ${String(v)})`).join(', ')}`,
    )
  }
  const out: DaemonConfig = { ...cfg }
  for (const [k, v] of entries) {
    if (typeof v !== 'string') throw fail(`${k} must be a string, got ${JSON.stringify(v)}`)
    switch (k) {
      case 'data-root':
        if (!v.startsWith('/')) throw fail(`data-root must be an absolute path: ${v}`)
        out.dataRoot = v.replace(/(.)\/+$/, '$1')
        break
      case 'log-level':
        if (!isLogLevel(v)) throw fail(`unable to parse logging level: ${v}`)
        out.logLevel = v
        break
      case 'group':
        out.group = v
        break
      case 'keep-removed':
        try {
          out.keepRemovedMs = parseKeepRemoved(v)
        } catch (err) {
          throw fail((err as Error).message)
        }
        break
    }
  }
  return out
}

/** `--keep-removed` (and daemon.json's `keep-removed`): a Go duration, not negative. */
export function parseKeepRemoved(value: string): number {
  let ms: number
  try {
    ms = parseDurationMs(value)
  } catch (err) {
    throw new ConfigError(
      `invalid argument ${JSON.stringify(value)} for "--keep-removed" flag: ${(err as Error).message}`,
    )
  }
  if (ms < 0) throw new ConfigError(`--keep-removed must not be negative: ${value}`)
  return ms
}
