// berthd's command line: a few dockerd-style flags, parsed strictly.
import { isLogLevel, type LogLevel } from './log.ts'

export interface DaemonConfig {
  /** Path of the unix socket the API listens on. */
  socketPath: string
  dataRoot: string
  logLevel: LogLevel
  /** Group that may use the socket; root's group when unset. */
  group?: string
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

export type ParseResult =
  { action: 'run'; config: DaemonConfig } | { action: 'help' } | { action: 'version' }

/** A command line berthd cannot run with; main prints `berthd: MESSAGE` and exits 1. */
export class ConfigError extends Error {}

export const USAGE = `Usage:	berthd [OPTIONS]

A container engine that speaks the Docker Engine API

Options:
      --cdi-spec-dir list  CDI specification directories to use (default [/etc/cdi,/var/run/cdi])
      --data-root string   Root directory of persistent berthd state (default "${DEFAULT_DATA_ROOT}")
      --group string       Group for the unix socket (default "root")
      --gpus-from-env      Give containers whose environment sets NVIDIA_VISIBLE_DEVICES those GPUs
  -h, --help               Print usage
  -H, --host string        Daemon socket to listen on (default "unix://${DEFAULT_SOCKET}")
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

const LONG_WITH_VALUE: Record<string, 'host' | 'data-root' | 'log-level' | 'group'> = {
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
  }
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
    }
  }
  return { action: 'run', config: cfg }
}
