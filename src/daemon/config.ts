// berthd's command line: a few dockerd-style flags, parsed strictly, and dockerd's daemon.json
// for the same settings.
import { readFile } from 'node:fs/promises'
import { isBerthError } from '../engine/errors.ts'
import { formatDuration, parseDurationMs } from '../lib/duration.ts'
import { parseInsecureRegistries, validateMirror } from '../engine/registry/endpoint.ts'
import { parseProxyUrl } from '../engine/registry/proxy.ts'
import { isLogLevel, type LogLevel } from './log.ts'
import { formatCidr6, parseCidr6 } from '../engine/network/ipv6.ts'
import { berthPaths, type BerthPaths } from '../lib/userpaths.ts'

export interface DaemonConfig {
  /** Path of the unix socket the API listens on. */
  socketPath: string
  dataRoot: string
  logLevel: LogLevel
  /** Group that may use the socket; root's group when unset. */
  group?: string
  /** Registries reached without TLS verification, and over plain HTTP (--insecure-registry). */
  insecureRegistries?: string[]
  /** Docker Hub mirrors (--registry-mirror, daemon.json `registry-mirrors`), validated. */
  registryMirrors?: string[]
  /**
   * The registry client's proxies (--http-proxy, --https-proxy, --no-proxy, daemon.json
   * `proxies`, as Docker 23+ has them); each one set overrides the daemon's environment.
   */
  proxies?: { httpProxy?: string; httpsProxy?: string; noProxy?: string }
  /** The daemon.json read at start; a missing default one is no error. */
  configFile?: string
  /** Layers a pull fetches at once, and a push sends at once (dockerd's defaults: 3 and 5). */
  maxConcurrentDownloads?: number
  maxConcurrentUploads?: number
  /** Per-registry CAs and client certificates, in HOST:PORT folders (Docker's certs.d). */
  registryCertsDir?: string
  /**
   * `--keep-removed`: how long a removed container's record and writable layer stay in the
   * trash (ms), for `berth container restore`. Absent or 0: removed at once, as Docker does.
   */
  keepRemovedMs?: number
  /**
   * Every container whose environment sets NVIDIA_VISIBLE_DEVICES gets those GPUs without
   * --gpus, as under NVIDIA's runtime (`nvidia-docker`); off unless set.
   */
  gpusFromEnv?: boolean
  /** Where CDI specs are read (dockerd's --cdi-spec-dir); /etc/cdi and /var/run/cdi unless set. */
  cdiSpecDirs?: string[]
  /** The default bridge with IPv6 (dockerd's --ipv6, daemon.json `ipv6`). */
  ipv6?: boolean
  /** Its IPv6 subnet (--fixed-cidr-v6, daemon.json `fixed-cidr-v6`). */
  fixedCidrV6?: string
  /**
   * berthd serves an ordinary user (rootless): its socket, data root and runtime state are the
   * user's own, and it runs in a user namespace mapped from /etc/subuid and /etc/subgid.
   */
  rootless?: { uid: number; execRoot: string; privateTmp?: string }
}

const ROOT_PATHS = berthPaths(0, {})
export const DEFAULT_SOCKET = ROOT_PATHS.socket
export const DEFAULT_DATA_ROOT = ROOT_PATHS.dataRoot
export const DEFAULT_CONFIG_FILE = ROOT_PATHS.configFile

export type ParseResult =
  | { action: 'run'; config: DaemonConfig; given: ReadonlySet<string> }
  | { action: 'help' }
  | { action: 'version' }

/** A command line berthd cannot run with; main prints `berthd: MESSAGE` and exits 1. */
export class ConfigError extends Error {}

export const USAGE = `Usage:	berthd [OPTIONS]

A container engine that speaks the Docker Engine API

Options:
      --cdi-spec-dir list         CDI specification directories to use (default [/etc/cdi,/var/run/cdi])
      --config-file string        Daemon configuration file (default "${DEFAULT_CONFIG_FILE}")
      --data-root string          Root directory of persistent berthd state (default "${DEFAULT_DATA_ROOT}")
      --fixed-cidr-v6 string      IPv6 subnet for the default bridge (with --ipv6)
      --gpus-from-env             Give containers whose environment sets NVIDIA_VISIBLE_DEVICES those GPUs
      --group string              Group for the unix socket (default "root")
  -h, --help                      Print usage
  -H, --host string               Daemon socket to listen on (default "unix://${DEFAULT_SOCKET}")
      --http-proxy string         HTTP proxy URL to use for outgoing traffic
      --https-proxy string        HTTPS proxy URL to use for outgoing traffic
      --insecure-registry list    Enable insecure registry communication
      --ipv6                      Enable IPv6 networking on the default bridge
      --keep-removed duration     Keep removed containers in the trash this long, for
                                  "berth container restore" (default 0s: no trash)
      --max-concurrent-downloads int   Set the max concurrent downloads (default 3)
      --max-concurrent-uploads int     Set the max concurrent uploads (default 5)
      --no-proxy string           Comma-separated list of hosts or IP addresses for which the proxy is skipped
      --registry-mirror list      Preferred registry mirror
      --registry-certs string     Per-registry TLS files, in HOST:PORT folders (default "/etc/docker/certs.d")
  -l, --log-level string          Set the logging level ("debug"|"info"|"warn"|"error") (default "info")
  -v, --version                   Print version information and quit
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

type Key =
  | 'host'
  | 'data-root'
  | 'log-level'
  | 'group'
  | 'insecure-registry'
  | 'config-file'
  | 'max-concurrent-downloads'
  | 'max-concurrent-uploads'
  | 'registry-certs'
  | 'keep-removed'
  | 'gpus-from-env'
  | 'cdi-spec-dir'
  | 'registry-mirror'
  | 'http-proxy'
  | 'https-proxy'
  | 'no-proxy'
  | 'ipv6'
  | 'fixed-cidr-v6'

const LONG_WITH_VALUE: Record<string, Key> = {
  '--host': 'host',
  '-H': 'host',
  '--data-root': 'data-root',
  '--log-level': 'log-level',
  '-l': 'log-level',
  '--group': 'group',
  '-G': 'group',
  '--insecure-registry': 'insecure-registry',
  '--config-file': 'config-file',
  '--max-concurrent-downloads': 'max-concurrent-downloads',
  '--max-concurrent-uploads': 'max-concurrent-uploads',
  '--registry-certs': 'registry-certs',
  '--keep-removed': 'keep-removed',
  '--registry-mirror': 'registry-mirror',
  '--http-proxy': 'http-proxy',
  '--https-proxy': 'https-proxy',
  '--no-proxy': 'no-proxy',
  '--fixed-cidr-v6': 'fixed-cidr-v6',
}

/** A boolean flag's value as pflag reads it (Go's strconv.ParseBool). */
function parseBoolFlag(flag: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false
  throw new ConfigError(
    `invalid argument "${value}" for "${flag}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`,
  )
}

/**
 * berthd's command line over the defaults of the user it serves (`paths`: root's unless given;
 * see lib/userpaths.ts).
 */
export function parseArgs(
  argv: readonly string[],
  paths: BerthPaths & { uid?: number } = ROOT_PATHS,
): ParseResult {
  const cfg: DaemonConfig = {
    socketPath: paths.socket,
    dataRoot: paths.dataRoot,
    logLevel: 'info',
    insecureRegistries: [],
    configFile: paths.configFile,
    ...(paths.rootless
      ? {
          rootless: {
            uid: paths.uid ?? process.getuid?.() ?? 0,
            execRoot: paths.execRoot,
            ...(paths.privateTmp ? { privateTmp: paths.privateTmp } : {}),
          },
        }
      : {}),
  }
  let hostSeen = false
  const given = new Set<Key>()
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
      given.add('gpus-from-env')
      continue
    }
    if (flag === '--ipv6') {
      cfg.ipv6 = parseBoolFlag(flag, value ?? 'true')
      given.add('ipv6')
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
      given.add('cdi-spec-dir')
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
      case 'insecure-registry':
        ;(cfg.insecureRegistries ??= []).push(value)
        break
      case 'config-file':
        cfg.configFile = value
        break
      case 'max-concurrent-downloads':
        cfg.maxConcurrentDownloads = concurrency(value, 'downloads')
        break
      case 'max-concurrent-uploads':
        cfg.maxConcurrentUploads = concurrency(value, 'uploads')
        break
      case 'keep-removed':
        cfg.keepRemovedMs = parseKeepRemoved(value)
        break
      case 'registry-certs':
        if (!value.startsWith('/'))
          throw new ConfigError(`--registry-certs must be an absolute path: ${value}`)
        cfg.registryCertsDir = value
        break
      case 'registry-mirror':
        ;(cfg.registryMirrors ??= []).push(mirror(value))
        break
      case 'http-proxy':
        ;(cfg.proxies ??= {}).httpProxy = proxyUrl(value)
        break
      case 'https-proxy':
        ;(cfg.proxies ??= {}).httpsProxy = proxyUrl(value)
        break
      case 'no-proxy':
        ;(cfg.proxies ??= {}).noProxy = value
        break
      case 'fixed-cidr-v6':
        cfg.fixedCidrV6 = fixedCidrV6(value)
        break
    }
    given.add(key)
  }
  checkInsecure(cfg.insecureRegistries ?? [])
  return { action: 'run', config: cfg, given }
}

/** --fixed-cidr-v6: an IPv6 subnet, CIDR. */
function fixedCidrV6(value: string): string {
  const c = parseCidr6(value)
  if (!c) throw new ConfigError(`invalid fixed-cidr-v6: ${value}`)
  return formatCidr6(c)
}

function mirror(value: string): string {
  try {
    return validateMirror(value)
  } catch (err) {
    if (isBerthError(err)) throw new ConfigError(err.message)
    throw err
  }
}

function proxyUrl(value: string): string {
  if (value === '') return value
  try {
    parseProxyUrl(value)
    return value
  } catch (err) {
    if (isBerthError(err)) throw new ConfigError(err.message)
    throw err
  }
}

/** daemon.json's `proxies` keys (Docker 23+), and the flag each one shares with the command line. */
const PROXY_KEYS: Record<string, 'http-proxy' | 'https-proxy' | 'no-proxy'> = {
  'http-proxy': 'http-proxy',
  'https-proxy': 'https-proxy',
  'no-proxy': 'no-proxy',
}

/** dockerd's check of --max-concurrent-downloads and -uploads (berth wants at least one). */
function concurrency(value: unknown, what: 'downloads' | 'uploads'): number {
  const n =
    typeof value === 'number' ? value : /^-?[0-9]+$/.test(String(value)) ? Number(value) : NaN
  if (!Number.isInteger(n)) {
    throw new ConfigError(
      `invalid argument ${JSON.stringify(String(value))} for max concurrent ${what}`,
    )
  }
  if (n < 1) throw new ConfigError(`invalid max concurrent ${what}: ${n}`)
  return n
}

function checkInsecure(list: string[]): void {
  try {
    parseInsecureRegistries(list)
  } catch (err) {
    if (isBerthError(err)) throw new ConfigError(err.message)
    throw err
  }
}

/** daemon.json keys berthd knows, and the flag each one shares with the command line. */
const FILE_KEYS: Record<string, Key> = {
  'insecure-registries': 'insecure-registry',
  'data-root': 'data-root',
  'log-level': 'log-level',
  group: 'group',
  hosts: 'host',
  'max-concurrent-downloads': 'max-concurrent-downloads',
  'max-concurrent-uploads': 'max-concurrent-uploads',
  'keep-removed': 'keep-removed',
  'gpus-from-env': 'gpus-from-env',
  'cdi-spec-dirs': 'cdi-spec-dir',
  'registry-mirrors': 'registry-mirror',
  proxies: 'http-proxy',
  ipv6: 'ipv6',
  'fixed-cidr-v6': 'fixed-cidr-v6',
}

/**
 * Merges daemon.json into a parsed command line, with dockerd's rules: a key given both ways is
 * an error, an unknown key is an error, and a missing file is an error only when --config-file
 * named it.
 */
export async function applyConfigFile(
  cfg: DaemonConfig,
  given: ReadonlySet<string>,
): Promise<DaemonConfig> {
  const path = cfg.configFile ?? DEFAULT_CONFIG_FILE
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ENOENT' && !given.has('config-file')) return cfg
    throw new ConfigError(
      `unable to configure the Docker daemon with file ${path}: ${(err as Error).message}`,
    )
  }
  let file: Record<string, unknown>
  try {
    const v = JSON.parse(text) as unknown
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new Error('not a JSON object')
    file = v as Record<string, unknown>
  } catch (err) {
    throw new ConfigError(
      `unable to configure the Docker daemon with file ${path}: ${(err as Error).message}`,
    )
  }
  // dockerd's words for what is wrong with the file as a whole
  const fail = (why: string): ConfigError =>
    new ConfigError(`unable to configure the Docker daemon with file ${path}: ${why}`)
  const unknown = Object.keys(file).filter((k) => !(k in FILE_KEYS))
  if (unknown.length > 0) {
    throw fail(
      `the following directives don't match any configuration option: ${unknown.join(', ')}`,
    )
  }
  // `proxies` nests its keys; dockerd flattens them before these checks.
  const proxies = file['proxies']
  if (
    proxies !== undefined &&
    (typeof proxies !== 'object' || proxies === null || Array.isArray(proxies))
  ) {
    throw fail(`proxies must be an object, got ${JSON.stringify(proxies)}`)
  }
  const nested = (proxies ?? {}) as Record<string, unknown>
  const unknownNested = Object.keys(nested).filter((k) => !(k in PROXY_KEYS))
  if (unknownNested.length > 0) {
    throw fail(
      `the following directives don't match any configuration option: ${unknownNested.join(', ')}`,
    )
  }
  const proxyConflicts = Object.keys(nested)
    .filter((k) => given.has(PROXY_KEYS[k]!))
    .map((k) => `${k}: (from flag: ${proxyFlagValue(cfg, k)}, from file: ${fileValue(nested[k])})`)
  const conflicts = Object.keys(file)
    .filter((k) => k !== 'proxies' && given.has(FILE_KEYS[k]!))
    .map((k) => `${k}: (from flag: ${flagValue(cfg, k)}, from file: ${fileValue(file[k])})`)
    .concat(proxyConflicts)
  if (conflicts.length > 0) {
    throw fail(
      `the following directives are specified both as a flag and in the configuration file: ${conflicts.join(', ')}`,
    )
  }
  const out: DaemonConfig = { ...cfg, insecureRegistries: [...(cfg.insecureRegistries ?? [])] }
  const str = (k: string): string => {
    const v = file[k]
    if (typeof v !== 'string') throw new ConfigError(`invalid value for ${k} in ${path}`)
    return v
  }
  const strs = (k: string): string[] => {
    const v = file[k]
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw new ConfigError(`invalid value for ${k} in ${path}`)
    return v as string[]
  }
  if ('insecure-registries' in file) {
    out.insecureRegistries = strs('insecure-registries')
    checkInsecure(out.insecureRegistries)
  }
  if ('data-root' in file) {
    const v = str('data-root')
    if (!v.startsWith('/')) throw new ConfigError(`data-root must be an absolute path: ${v}`)
    out.dataRoot = v.replace(/(.)\/+$/, '$1')
  }
  if ('log-level' in file) {
    const v = str('log-level')
    if (!isLogLevel(v)) throw new ConfigError(`unable to parse logging level: ${v}`)
    out.logLevel = v
  }
  if ('group' in file) out.group = str('group')
  if ('max-concurrent-downloads' in file) {
    out.maxConcurrentDownloads = concurrency(file['max-concurrent-downloads'], 'downloads')
  }
  if ('max-concurrent-uploads' in file) {
    out.maxConcurrentUploads = concurrency(file['max-concurrent-uploads'], 'uploads')
  }
  if ('keep-removed' in file) {
    const v = file['keep-removed']
    if (typeof v !== 'string') throw fail(`keep-removed must be a string, got ${JSON.stringify(v)}`)
    try {
      out.keepRemovedMs = parseKeepRemoved(v)
    } catch (err) {
      throw fail((err as Error).message)
    }
  }
  if ('gpus-from-env' in file) {
    const v = file['gpus-from-env']
    if (typeof v !== 'boolean')
      throw fail(`gpus-from-env must be true or false, got ${JSON.stringify(v)}`)
    out.gpusFromEnv = v
  }
  if ('ipv6' in file) {
    const v = file['ipv6']
    if (typeof v !== 'boolean') throw fail(`ipv6 must be true or false, got ${JSON.stringify(v)}`)
    out.ipv6 = v
  }
  if ('fixed-cidr-v6' in file) {
    try {
      out.fixedCidrV6 = fixedCidrV6(str('fixed-cidr-v6'))
    } catch (err) {
      throw fail((err as Error).message)
    }
  }
  if ('cdi-spec-dirs' in file) {
    const dirs = strs('cdi-spec-dirs')
    const relative = dirs.find((d) => !d.startsWith('/'))
    if (relative !== undefined) throw fail(`cdi-spec-dirs must be absolute paths: ${relative}`)
    out.cdiSpecDirs = dirs
  }
  if ('registry-mirrors' in file) {
    try {
      out.registryMirrors = strs('registry-mirrors').map((m) => validateMirror(m))
    } catch (err) {
      if (isBerthError(err)) throw fail(err.message)
      throw err
    }
  }
  for (const [k, v] of Object.entries(nested)) {
    if (typeof v !== 'string') throw fail(`${k} must be a string, got ${JSON.stringify(v)}`)
    const p = (out.proxies = { ...out.proxies })
    if (k === 'no-proxy') p.noProxy = v
    else {
      try {
        if (v !== '') parseProxyUrl(v)
      } catch (err) {
        if (isBerthError(err)) throw fail(err.message)
        throw err
      }
      if (k === 'http-proxy') p.httpProxy = v
      else p.httpsProxy = v
    }
  }
  if ('hosts' in file) {
    const hosts = strs('hosts')
    if (hosts.length !== 1) throw new ConfigError('berthd listens on one socket; give one host')
    out.socketPath = parseHost(hosts[0]!)
  }
  return out
}

function flagValue(cfg: DaemonConfig, fileKey: string): string {
  switch (fileKey) {
    case 'insecure-registries':
      return `[${(cfg.insecureRegistries ?? []).join(' ')}]`
    case 'data-root':
      return cfg.dataRoot
    case 'log-level':
      return cfg.logLevel
    case 'group':
      return cfg.group ?? ''
    case 'max-concurrent-downloads':
      return String(cfg.maxConcurrentDownloads)
    case 'max-concurrent-uploads':
      return String(cfg.maxConcurrentUploads)
    case 'keep-removed':
      return formatDuration(Math.round((cfg.keepRemovedMs ?? 0) * 1e6))
    case 'gpus-from-env':
      return String(cfg.gpusFromEnv ?? false)
    case 'cdi-spec-dirs':
      return `[${(cfg.cdiSpecDirs ?? []).join(' ')}]`
    case 'registry-mirrors':
      return `[${(cfg.registryMirrors ?? []).join(' ')}]`
    case 'ipv6':
      return String(cfg.ipv6 ?? false)
    case 'fixed-cidr-v6':
      return cfg.fixedCidrV6 ?? ''
    default:
      return `[unix://${cfg.socketPath}]`
  }
}

function proxyFlagValue(cfg: DaemonConfig, key: string): string {
  const p = cfg.proxies ?? {}
  return (
    (key === 'http-proxy' ? p.httpProxy : key === 'https-proxy' ? p.httpsProxy : p.noProxy) ?? ''
  )
}

function fileValue(v: unknown): string {
  return Array.isArray(v) ? `[${v.join(' ')}]` : String(v)
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
