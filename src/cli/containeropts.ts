// run's and create's flags, every one docker 28 has, with docker's help text, and their
// translation into the create request exactly as the docker CLI sends it
// (cli/command/container/opts.go, create.go and the client's ContainerCreate): the same fields,
// the same empty values (null, [] or left out, as Go encodes them), the same API-version rules.
// The CLI refuses only what docker's CLI refuses; the daemon judges the rest and explains.
import { readFile } from 'node:fs/promises'
import type { FlagDef, ParsedFlags } from './flags.ts'
import { CliError, bool, int, list, str } from './command.ts'
import { bytesFlag, hostFlags, hostOptions, ramInBytes, sizeValue } from './hostopts.ts'
import { parseVolumeOpts, volumeFlags } from './volumeopts.ts'
import {
  attachValue,
  deviceCgroupRuleValue,
  dnsSearchValue,
  envValue,
  extraHostValue,
  gpuRequest,
  ipValue,
  isMAC,
  isUserDefinedNetwork,
  kvMap,
  labelValue,
  linkValue,
  networkAttachment,
  throttleBpsDevice,
  throttleIOpsDevice,
  weightDevice,
} from './dockeropts.ts'
import type { DeviceRequest, NetworkAttachment } from './dockeropts.ts'
import { portSettings } from './portspec.ts'
import { parseGoDuration } from '../lib/units.ts'
import { compareVersions } from './client.ts'

/** Go's time.ParseDuration as a flag value check, with Go's words. */
function durationValue(v: string): string {
  if (parseGoDuration(v) !== undefined) return v
  const q = JSON.stringify(v)
  const unit = /^[-+]?(?:\d+\.?\d*|\.\d+)([^\d.]+)/.exec(v)
  if (/^[-+]?(?:\d+\.?\d*|\.\d+)$/.test(v) && v !== '') {
    throw new Error(`time: missing unit in duration ${q}`)
  }
  if (unit && !/^(ns|us|µs|μs|ms|s|m|h)/.test(unit[1] as string)) {
    throw new Error(
      `time: unknown unit ${JSON.stringify(/^[^\d.]+/.exec(unit[1] as string)?.[0])} in duration ${q}`,
    )
  }
  throw new Error(`time: invalid duration ${q}`)
}

/** A duration flag's value in nanoseconds (0 when not given). */
function durationNs(f: ParsedFlags, name: string): number {
  const v = str(f, name)
  return v === '' ? 0 : Math.round((parseGoDuration(v) ?? 0) * 1e6)
}

const check = (fn: (v: string) => unknown) => (v: string) => (fn(v), v)

/** run's and create's own flags; the rest are shared (containerFlags). */
export const createOnlyFlags: FlagDef[] = [
  {
    long: 'pull',
    kind: 'string',
    def: 'missing',
    desc: 'Pull image before creating ("always", "|missing", "never")',
  },
]

export const runOnlyFlags: FlagDef[] = [
  {
    long: 'detach',
    short: 'd',
    kind: 'bool',
    desc: 'Run container in background and print container ID',
  },
  {
    long: 'detach-keys',
    kind: 'string',
    desc: 'Override the key sequence for detaching a container',
  },
  {
    long: 'pull',
    kind: 'string',
    def: 'missing',
    desc: 'Pull image before running ("always", "missing", "never")',
  },
  { long: 'sig-proxy', kind: 'bool', def: true, desc: 'Proxy received signals to the process' },
]

const durationFlag = (long: string, desc: string): FlagDef => ({
  long,
  kind: 'string',
  typeName: 'duration',
  desc: `${desc} (ms|s|m|h) (default 0s)`,
  value: durationValue,
})

/** The flags run and create share: docker's addFlags, plus name, quiet, platform and trust. */
export const containerFlags: FlagDef[] = [
  { long: 'help', kind: 'bool', desc: 'Print usage' },
  { long: 'name', kind: 'string', desc: 'Assign a name to the container' },
  { long: 'quiet', short: 'q', kind: 'bool', desc: 'Suppress the pull output' },
  {
    long: 'use-api-socket',
    kind: 'bool',
    desc: 'Bind mount Docker API socket and required auth',
  },
  {
    long: 'platform',
    kind: 'string',
    desc: 'Set platform if server is multi-platform capable',
    minAPI: '1.32',
  },
  { long: 'disable-content-trust', kind: 'bool', def: true, desc: 'Skip image verification' },
  // general purpose
  {
    long: 'attach',
    short: 'a',
    kind: 'list',
    desc: 'Attach to STDIN, STDOUT or STDERR',
    value: attachValue,
  },
  {
    long: 'device-cgroup-rule',
    kind: 'list',
    desc: 'Add a rule to the cgroup allowed devices list',
    value: deviceCgroupRuleValue,
  },
  {
    long: 'gpus',
    kind: 'list',
    typeName: 'gpu-request',
    desc: "GPU devices to add to the container ('all' to pass all GPUs)",
    value: check(gpuRequest),
    minAPI: '1.40',
  },
  { long: 'env', short: 'e', kind: 'list', desc: 'Set environment variables', value: envValue },
  { long: 'env-file', kind: 'list', desc: 'Read in a file of environment variables' },
  { long: 'entrypoint', kind: 'string', desc: 'Overwrite the default ENTRYPOINT of the image' },
  { long: 'hostname', short: 'h', kind: 'string', desc: 'Container host name' },
  { long: 'domainname', kind: 'string', desc: 'Container NIS domain name' },
  { long: 'interactive', short: 'i', kind: 'bool', desc: 'Keep STDIN open even if not attached' },
  {
    long: 'label',
    short: 'l',
    kind: 'list',
    desc: 'Set meta data on a container',
    value: labelValue,
  },
  { long: 'label-file', kind: 'list', desc: 'Read in a line delimited file of labels' },
  {
    long: 'restart',
    kind: 'string',
    def: 'no',
    desc: 'Restart policy to apply when a container exits',
  },
  { long: 'tty', short: 't', kind: 'bool', desc: 'Allocate a pseudo-TTY' },
  {
    long: 'user',
    short: 'u',
    kind: 'string',
    desc: 'Username or UID (format: <name|uid>[:<group|gid>])',
  },
  { long: 'workdir', short: 'w', kind: 'string', desc: 'Working directory inside the container' },
  {
    long: 'rm',
    kind: 'bool',
    desc: 'Automatically remove the container and its associated anonymous volumes when it exits',
  },
  // security
  { long: 'userns', kind: 'string', desc: 'User namespace to use' },
  {
    long: 'cgroupns',
    kind: 'string',
    desc: `Cgroup namespace to use (host|private)
'host':    Run the container in the Docker host's cgroup namespace
'private': Run the container in its own private cgroup namespace
'':        Use the cgroup namespace as configured by the
           default-cgroupns-mode option on the daemon (default)`,
    minAPI: '1.41',
  },
  // network and ports
  {
    long: 'add-host',
    kind: 'list',
    desc: 'Add a custom host-to-IP mapping (host:ip)',
    value: extraHostValue,
  },
  { long: 'dns', kind: 'list', desc: 'Set custom DNS servers', value: ipValue },
  { long: 'dns-opt', kind: 'list', desc: 'Set DNS options', hidden: true, into: 'dns-option' },
  { long: 'dns-option', kind: 'list', desc: 'Set DNS options' },
  {
    long: 'dns-search',
    kind: 'list',
    desc: 'Set custom DNS search domains',
    value: dnsSearchValue,
  },
  { long: 'expose', kind: 'list', desc: 'Expose a port or a range of ports' },
  { long: 'ip', kind: 'string', desc: 'IPv4 address (e.g., 172.30.100.104)' },
  { long: 'ip6', kind: 'string', desc: 'IPv6 address (e.g., 2001:db8::33)' },
  { long: 'link', kind: 'list', desc: 'Add link to another container', value: linkValue },
  { long: 'link-local-ip', kind: 'list', desc: 'Container IPv4/IPv6 link-local addresses' },
  { long: 'mac-address', kind: 'string', desc: 'Container MAC address (e.g., 92:d0:c6:0a:29:33)' },
  { long: 'publish', short: 'p', kind: 'list', desc: "Publish a container's port(s) to the host" },
  {
    long: 'publish-all',
    short: 'P',
    kind: 'bool',
    desc: 'Publish all exposed ports to random ports',
  },
  {
    long: 'net',
    kind: 'list',
    desc: 'Connect a container to a network',
    hidden: true,
    into: 'network',
  },
  {
    long: 'network',
    kind: 'list',
    typeName: 'network',
    desc: 'Connect a container to a network',
    value: check(networkAttachment),
  },
  {
    long: 'net-alias',
    kind: 'list',
    desc: 'Add network-scoped alias for the container',
    hidden: true,
    into: 'network-alias',
  },
  { long: 'network-alias', kind: 'list', desc: 'Add network-scoped alias for the container' },
  // logging and storage
  { long: 'log-driver', kind: 'string', desc: 'Logging driver for the container' },
  { long: 'volume-driver', kind: 'string', desc: 'Optional volume driver for the container' },
  { long: 'log-opt', kind: 'list', desc: 'Log driver options' },
  { long: 'storage-opt', kind: 'list', desc: 'Storage driver options for the container' },
  // health checks
  { long: 'health-cmd', kind: 'string', desc: 'Command to run to check health' },
  durationFlag('health-interval', 'Time between running the check'),
  { long: 'health-retries', kind: 'int', desc: 'Consecutive failures needed to report unhealthy' },
  durationFlag('health-timeout', 'Maximum time to allow one check to run'),
  {
    ...durationFlag(
      'health-start-period',
      'Start period for the container to initialize before starting health-retries countdown',
    ),
    minAPI: '1.29',
  },
  {
    ...durationFlag(
      'health-start-interval',
      'Time between running the check during the start period',
    ),
    minAPI: '1.44',
  },
  { long: 'no-healthcheck', kind: 'bool', desc: 'Disable any container-specified HEALTHCHECK' },
  // resources
  {
    long: 'blkio-weight',
    kind: 'uint',
    bits: 16,
    typeName: 'uint16',
    desc: 'Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)',
  },
  {
    long: 'blkio-weight-device',
    kind: 'list',
    defText: '[]',
    desc: 'Block IO weight (relative device weight)',
    value: check(weightDevice),
  },
  { long: 'cidfile', kind: 'string', desc: 'Write the container ID to the file' },
  { long: 'cpu-count', kind: 'int', desc: 'CPU count (Windows only)', osType: 'windows' },
  { long: 'cpu-percent', kind: 'int', desc: 'CPU percent (Windows only)', osType: 'windows' },
  {
    long: 'cpu-rt-period',
    kind: 'int',
    desc: 'Limit CPU real-time period in microseconds',
    minAPI: '1.25',
  },
  {
    long: 'cpu-rt-runtime',
    kind: 'int',
    desc: 'Limit CPU real-time runtime in microseconds',
    minAPI: '1.25',
  },
  {
    long: 'device-read-bps',
    kind: 'list',
    defText: '[]',
    desc: 'Limit read rate (bytes per second) from a device',
    value: check((v) => throttleBpsDevice(v, ramInBytes)),
  },
  {
    long: 'device-read-iops',
    kind: 'list',
    defText: '[]',
    desc: 'Limit read rate (IO per second) from a device',
    value: check(throttleIOpsDevice),
  },
  {
    long: 'device-write-bps',
    kind: 'list',
    defText: '[]',
    desc: 'Limit write rate (bytes per second) to a device',
    value: check((v) => throttleBpsDevice(v, ramInBytes)),
  },
  {
    long: 'device-write-iops',
    kind: 'list',
    defText: '[]',
    desc: 'Limit write rate (IO per second) to a device',
    value: check(throttleIOpsDevice),
  },
  {
    long: 'io-maxbandwidth',
    kind: 'string',
    typeName: 'bytes',
    desc: 'Maximum IO bandwidth limit for the system drive (Windows only)',
    value: sizeValue,
    osType: 'windows',
  },
  {
    long: 'io-maxiops',
    kind: 'uint',
    desc: 'Maximum IOps limit for the system drive (Windows only)',
    osType: 'windows',
  },
  {
    long: 'kernel-memory',
    kind: 'string',
    typeName: 'bytes',
    desc: 'Kernel memory limit',
    value: sizeValue,
  },
  {
    long: 'memory-swappiness',
    kind: 'int',
    def: -1,
    desc: 'Tune container memory swappiness (0 to 100)',
  },
  { long: 'oom-kill-disable', kind: 'bool', desc: 'Disable OOM Killer' },
  // low-level execution
  { long: 'cgroup-parent', kind: 'string', desc: 'Optional parent cgroup for the container' },
  { long: 'ipc', kind: 'string', desc: 'IPC mode to use' },
  { long: 'isolation', kind: 'string', desc: 'Container isolation technology' },
  { long: 'pid', kind: 'string', desc: 'PID namespace to use' },
  { long: 'uts', kind: 'string', desc: 'UTS namespace to use' },
  { long: 'runtime', kind: 'string', desc: 'Runtime to use for this container' },
  {
    long: 'annotation',
    kind: 'list',
    typeName: 'map',
    defText: 'map[]',
    desc: 'Add an annotation to the container (passed through to the OCI runtime)',
    minAPI: '1.43',
  },
  ...hostFlags,
  ...volumeFlags,
]

export const createFlags: FlagDef[] = [...containerFlags, ...createOnlyFlags]
export const runFlags: FlagDef[] = [...containerFlags, ...runOnlyFlags]

/**
 * kvfile.Parse: NAME=VALUE lines, '#' comments, surrounding space trimmed on the left; with
 * lookup (env files), NAME alone takes our environment's value and is left out when unset;
 * without (label files), it is left out.
 */
export function parseKVFile(text: string, file: string, lookup: boolean): string[] {
  const out: string[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i] as string
    if (i === lines.length - 1 && l === '') break
    if (l.endsWith('\r')) l = l.slice(0, -1)
    if (i === 0 && l.startsWith('\ufeff')) l = l.slice(1)
    const line = l.replace(/^\s+/, '')
    if (line === '' || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    const key = eq >= 0 ? line.slice(0, eq) : line
    if (key === '')
      throw new CliError(`invalid env file (${file}): no variable name on line '${line}'`)
    if (/[ \t]/.test(key)) {
      throw new CliError(`invalid env file (${file}): variable '${key}' contains whitespaces`)
    }
    if (eq >= 0) out.push(line)
    else if (lookup && process.env[key] !== undefined) out.push(`${key}=${process.env[key]}`)
  }
  return out
}

/** An env file's lines, as docker's --env-file reads them. */
export function parseEnvFile(text: string, file: string): string[] {
  return parseKVFile(text, file, true)
}

async function readKVFiles(files: readonly string[], lookup: boolean): Promise<string[]> {
  const out: string[] = []
  for (const file of files) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      const why = code === 'ENOENT' ? 'no such file or directory' : (e as Error).message
      throw new CliError(`open ${file}: ${why}`)
    }
    out.push(...parseKVFile(text, file, lookup))
  }
  return out
}

/** opts.ParseRestartPolicy: NAME[:MAX-RETRIES]; the daemon judges the name. */
export function parseRestartPolicy(v: string): { Name: string; MaximumRetryCount: number } {
  if (v === '') return { Name: '', MaximumRetryCount: 0 }
  const colon = v.indexOf(':')
  const name = colon < 0 ? v : v.slice(0, colon)
  const count = colon < 0 ? '' : v.slice(colon + 1)
  if (colon >= 0 && name === '') {
    throw new CliError('invalid restart policy format: no policy provided before colon', 125)
  }
  let max = 0
  if (count !== '') {
    if (!/^[+-]?\d+$/.test(count)) {
      throw new CliError(
        'invalid restart policy format: maximum retry count must be an integer',
        125,
      )
    }
    max = Number.parseInt(count, 10)
  }
  return { Name: name, MaximumRetryCount: max }
}

/** An EndpointSettings as Go encodes it, from what --network and its companions say. */
function endpoint(n: NetworkAttachment): Record<string, unknown> {
  if (n.Target.trim() === '') throw new Error('no name set for network')
  if (!isUserDefinedNetwork(n.Target)) {
    if (n.Aliases.length > 0) {
      throw new Error('network-scoped aliases are only supported for user-defined networks')
    }
    if (n.Links.length > 0) throw new Error('links are only supported for user-defined networks')
  }
  if (n.MacAddress !== '' && !isMAC(n.MacAddress)) {
    throw new Error(`${n.MacAddress} is not a valid mac address`)
  }
  const ipam =
    n.IPv4Address !== '' || n.IPv6Address !== '' || n.LinkLocalIPs.length > 0
      ? {
          ...(n.IPv4Address !== '' ? { IPv4Address: n.IPv4Address } : {}),
          ...(n.IPv6Address !== '' ? { IPv6Address: n.IPv6Address } : {}),
          ...(n.LinkLocalIPs.length > 0 ? { LinkLocalIPs: n.LinkLocalIPs } : {}),
        }
      : null
  return {
    IPAMConfig: ipam,
    Links: n.Links.length > 0 ? n.Links : null,
    Aliases: n.Aliases.length > 0 ? n.Aliases : null,
    MacAddress: n.MacAddress,
    DriverOpts: n.DriverOpts && Object.keys(n.DriverOpts).length > 0 ? n.DriverOpts : null,
    GwPriority: n.GwPriority,
    NetworkID: '',
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  }
}

const isEmptyEndpoint = (e: Record<string, unknown>): boolean =>
  e.IPAMConfig === null &&
  e.Links === null &&
  e.Aliases === null &&
  e.MacAddress === '' &&
  e.DriverOpts === null &&
  e.GwPriority === 0

/** parseNetworkOpts: the endpoints to ask for, with the single-network options applied. */
function networkEndpoints(f: ParsedFlags): Record<string, Record<string, unknown>> {
  const nets = list(f, 'network').map(networkAttachment)
  const aliases = list(f, 'network-alias')
  const links = list(f, 'link')
  const linkLocal = list(f, 'link-local-ip')
  const [ip4, ip6, mac] = [str(f, 'ip'), str(f, 'ip6'), str(f, 'mac-address')]
  // applyContainerOptions: the old single-network flags apply to the first network
  const apply = (n: NetworkAttachment) => {
    const conflict = (what: string) => new Error(`conflicting options: cannot specify both ${what}`)
    if (n.Aliases.length > 0 && aliases.length > 0) {
      throw conflict('--network-alias and per-network alias')
    }
    if (n.Links.length > 0 && links.length > 0) throw conflict('--link and per-network links')
    if (n.IPv4Address !== '' && ip4 !== '') throw conflict('--ip and per-network IPv4 address')
    if (n.IPv6Address !== '' && ip6 !== '') throw conflict('--ip6 and per-network IPv6 address')
    if (n.MacAddress !== '' && mac !== '') {
      throw conflict('--mac-address and per-network MAC address')
    }
    if (n.LinkLocalIPs.length > 0 && linkLocal.length > 0) {
      throw conflict('--link-local-ip and per-network link-local IP addresses')
    }
    if (aliases.length > 0) n.Aliases = [...aliases]
    if (isUserDefinedNetwork(n.Target) && links.length > 0) n.Links = [...links]
    if (ip4 !== '') n.IPv4Address = ip4
    if (ip6 !== '') n.IPv6Address = ip6
    if (mac !== '') n.MacAddress = mac
    if (linkLocal.length > 0) n.LinkLocalIPs = [...linkLocal]
  }
  const out: Record<string, Record<string, unknown>> = {}
  if (nets.length === 0) {
    const n = networkAttachment('default')
    apply(n)
    out.default = endpoint(n)
    return out
  }
  let userDefined = false
  let other = false
  nets.forEach((n, i) => {
    if (isUserDefinedNetwork(n.Target)) userDefined = true
    else other = true
    if (i === 0) apply(n)
    const ep = endpoint(n)
    if (out[n.Target] !== undefined) {
      throw new Error(`network ${JSON.stringify(n.Target)} is specified multiple times`)
    }
    // a single network with nothing to say about it goes without an endpoint, as docker sends it
    if (i === 0 && nets.length === 1 && isEmptyEndpoint(ep)) return
    out[n.Target] = ep
  })
  if (userDefined && other) {
    throw new Error(
      'conflicting options: cannot attach both user-defined and non-user-defined network-modes',
    )
  }
  return out
}

/** The namespace-mode checks docker makes before sending anything. */
function checkModes(f: ParsedFlags): void {
  const pid = str(f, 'pid')
  if (!(pid === '' || pid === 'host' || /^container:./.test(pid))) {
    throw new Error('--pid: invalid PID mode')
  }
  if (!['', 'host'].includes(str(f, 'uts'))) throw new Error('--uts: invalid UTS mode')
  if (!['', 'host'].includes(str(f, 'userns'))) throw new Error('--userns: invalid USER mode')
  if (!['', 'host', 'private'].includes(str(f, 'cgroupns'))) {
    throw new Error('--cgroupns: invalid CGROUP mode')
  }
}

/** The health check run/create ask for, or undefined (the image's own). */
function healthcheck(f: ParsedFlags): Record<string, unknown> | undefined {
  const cmd = str(f, 'health-cmd')
  const interval = durationNs(f, 'health-interval')
  const timeout = durationNs(f, 'health-timeout')
  const startPeriod = durationNs(f, 'health-start-period')
  const startInterval = durationNs(f, 'health-start-interval')
  const retries = int(f, 'health-retries')
  const any =
    cmd !== '' ||
    interval !== 0 ||
    timeout !== 0 ||
    startPeriod !== 0 ||
    retries !== 0 ||
    startInterval !== 0
  if (bool(f, 'no-healthcheck')) {
    if (any) throw new Error('--no-healthcheck conflicts with --health-* options')
    return { Test: ['NONE'] }
  }
  if (!any) return undefined
  for (const [name, v] of [
    ['health-interval', interval],
    ['health-timeout', timeout],
    ['health-retries', retries],
    ['health-start-period', startPeriod],
    ['health-start-interval', startInterval],
  ] as const) {
    if (v < 0) throw new Error(`--${name} cannot be negative`)
  }
  // HealthConfig's fields are all omitempty
  const h: Record<string, unknown> = {}
  if (cmd !== '') h.Test = ['CMD-SHELL', cmd]
  for (const [k, v] of Object.entries({
    Interval: interval,
    Timeout: timeout,
    StartPeriod: startPeriod,
    StartInterval: startInterval,
    Retries: retries,
  })) {
    if (v !== 0) h[k] = v
  }
  return h
}

/** containerd's platforms.Parse and Format for --platform: os[/arch[/variant]], normalised. */
export function normalizePlatform(p: string): string {
  const parts = p.toLowerCase().split('/')
  if (parts.length > 3 || parts.some((x) => x === '')) {
    throw new CliError(
      `error parsing specified platform: "${p}": invalid platform specifier: invalid argument`,
    )
  }
  const archs: Record<string, string> = {
    x86_64: 'amd64',
    'x86-64': 'amd64',
    aarch64: 'arm64',
    armhf: 'arm',
    armel: 'arm',
    i386: '386',
  }
  const knownArch = (a: string) =>
    ['amd64', 'arm64', 'arm', '386', 'ppc64le', 's390x', 'riscv64', 'mips64le', 'loong64'].includes(
      archs[a] ?? a,
    )
  let [os, arch, variant] = parts as [string, string | undefined, string | undefined]
  if (parts.length === 1 && knownArch(os)) [os, arch] = ['linux', os]
  arch = arch === undefined ? undefined : (archs[arch] ?? arch)
  if (arch === 'arm64' && variant === 'v8') variant = undefined
  if (arch === 'amd64' && variant === 'v1') variant = undefined
  return [os, arch, variant].filter((x) => x !== undefined).join('/')
}

export interface ContainerConfig {
  name: string
  /** the create request's body at an API version (docker drops or moves fields by version) */
  bodyFor(apiVersion: string): Record<string, unknown>
  /** the body at berth's own API version */
  body: Record<string, unknown>
  platform: string
  cidfile: string
  tty: boolean
  attachStdin: boolean
  attachStdout: boolean
  attachStderr: boolean
  autoRemove: boolean
  image: string
  /** --dns servers on the host's loopback, which docker warns about after creating */
  loopbackDNS: string | undefined
}

/**
 * run's and create's flags as the create request (docker's parse()); throws docker's words,
 * which run and create print with their help line and status 125.
 */
export async function parseContainerConfig(
  f: ParsedFlags,
  detach: boolean,
  socketPath?: string,
): Promise<ContainerConfig> {
  const [image, ...cmd] = f.args as [string, ...string[]]
  if (!bool(f, 'disable-content-trust')) {
    throw new Error('image verification (--disable-content-trust=false) is not supported')
  }
  const attach = list(f, 'attach')
  const mac = str(f, 'mac-address')
  if (mac !== '' && !isMAC(mac)) throw new Error(`${mac} is not a valid mac address`)
  const interactive = bool(f, 'interactive')
  let attachStdin = attach.includes('stdin') || interactive
  let attachStdout = attach.length === 0 || attach.includes('stdout')
  let attachStderr = attach.length === 0 || attach.includes('stderr')
  const swappiness = int(f, 'memory-swappiness')
  if (swappiness !== -1 && (swappiness < 0 || swappiness > 100)) {
    throw new Error(`invalid value: ${swappiness}. Valid memory swappiness range is 0-100`)
  }
  const vol = parseVolumeOpts(f)
  let entrypoint: string[] | null = null
  if (str(f, 'entrypoint') !== '') entrypoint = [str(f, 'entrypoint')]
  else if (f.changed.has('entrypoint')) entrypoint = ['']
  const ports = portSettings(list(f, 'publish'), list(f, 'expose'))
  const host = await hostOptions(f)
  // docker passes -e through a map (its proxy settings step): one value per name, the last
  // given; it also sends them in Go's random map order, which berth does not copy
  const envByName = new Map<string, string>()
  for (const e of list(f, 'env')) envByName.set(e.split('=')[0] as string, e)
  const env = [...(await readKVFiles(list(f, 'env-file'), true)), ...envByName.values()]
  const labels = kvMap([...(await readKVFiles(list(f, 'label-file'), false)), ...list(f, 'label')])
  checkModes(f)
  const restart = parseRestartPolicy(str(f, 'restart'))
  const logDriver = str(f, 'log-driver')
  const logOpts = list(f, 'log-opt')
  if (logDriver === 'none' && logOpts.length > 0) {
    throw new Error(`invalid logging opts for driver ${logDriver}`)
  }
  const storageOpt: Record<string, string> = {}
  for (const o of list(f, 'storage-opt')) {
    const eq = o.indexOf('=')
    if (eq < 0) throw new Error('invalid storage option')
    storageOpt[o.slice(0, eq)] = o.slice(eq + 1)
  }
  const health = healthcheck(f)
  let deviceRequests: DeviceRequest[] | null = list(f, 'gpus').map(gpuRequest)
  if (host.cdiDevices.length > 0) {
    deviceRequests.push({
      Driver: 'cdi',
      Count: 0,
      DeviceIDs: host.cdiDevices,
      Capabilities: null,
      Options: null,
    })
  }
  if (deviceRequests.length === 0) deviceRequests = null
  const autoRemove = bool(f, 'rm')
  if (autoRemove && restart.Name !== '' && restart.Name !== 'no') {
    throw new Error('conflicting options: cannot specify both --restart and --rm')
  }
  const endpoints = networkEndpoints(f)
  const networkMode = list(f, 'network').map(networkAttachment)[0]?.Target ?? 'default'
  const tty = bool(f, 'tty')
  if (detach) attachStdin = attachStdout = attachStderr = false
  const mounts = [...vol.mounts]
  if (bool(f, 'use-api-socket')) {
    // the daemon's socket as /var/run/docker.sock (there are no registry credentials to add)
    mounts.push({
      Type: 'bind',
      Source: socketPath ?? '/run/berth/berth.sock',
      Target: '/var/run/docker.sock',
      BindOptions: {},
    })
  }
  const consoleSize: [number, number] =
    process.stdout.isTTY === true
      ? (([w, h]) => [h, w] as [number, number])(process.stdout.getWindowSize())
      : [0, 0]
  const some = (v: string[]) => (v.length > 0 ? v : null)
  const annotations = kvMap(list(f, 'annotation'))
  const mainMac = (endpoints[networkMode]?.MacAddress as string | undefined) ?? ''

  const bodyFor = (version: string): Record<string, unknown> => {
    const atLeast = (v: string) => compareVersions(version, v) >= 0
    const needs = (v: string, what: string, used: boolean) => {
      if (used && !atLeast(v)) {
        throw new CliError(
          `"${what}" requires API version ${v}, but the berth daemon API version is ${version}`,
        )
      }
    }
    needs('1.25', 'stop timeout', f.changed.has('stop-timeout'))
    needs('1.44', 'specify health-check start interval', health?.StartInterval !== undefined)
    needs(
      '1.44',
      'specify mac-address per network',
      Object.values(endpoints).some((e) => e.MacAddress !== ''),
    )
    const kernelMemory = atLeast('1.40') && !atLeast('1.42') ? bytesFlag(f, 'kernel-memory') : 0
    const config: Record<string, unknown> = {
      Hostname: str(f, 'hostname'),
      Domainname: str(f, 'domainname'),
      User: str(f, 'user'),
      AttachStdin: attachStdin,
      AttachStdout: attachStdout,
      AttachStderr: attachStderr,
      ...(Object.keys(ports.exposed).length > 0 ? { ExposedPorts: ports.exposed } : {}),
      Tty: tty,
      OpenStdin: interactive,
      StdinOnce: interactive && attachStdin,
      Env: some(env),
      Cmd: cmd.length > 0 ? cmd : null,
      ...(health ? { Healthcheck: health } : {}),
      Image: image,
      Volumes: vol.volumes,
      WorkingDir: str(f, 'workdir'),
      Entrypoint: entrypoint,
      ...(mainMac !== '' && !atLeast('1.44') ? { MacAddress: mainMac } : {}),
      OnBuild: null,
      Labels: labels,
      ...host.config,
    }
    const hostConfig: Record<string, unknown> = {
      Binds: vol.binds,
      ContainerIDFile: str(f, 'cidfile'),
      LogConfig: { Type: logDriver, Config: kvMap(logOpts) },
      NetworkMode: networkMode,
      PortBindings: ports.bindings,
      RestartPolicy: restart,
      AutoRemove: autoRemove && atLeast('1.25'),
      VolumeDriver: str(f, 'volume-driver'),
      VolumesFrom: vol.volumesFrom,
      ConsoleSize: consoleSize,
      ...(Object.keys(annotations).length > 0 ? { Annotations: annotations } : {}),
      CapAdd: host.hostConfig.CapAdd,
      CapDrop: host.hostConfig.CapDrop,
      CgroupnsMode: str(f, 'cgroupns'),
      Dns: list(f, 'dns'),
      DnsOptions: list(f, 'dns-option'),
      DnsSearch: list(f, 'dns-search'),
      ExtraHosts: some(list(f, 'add-host')),
      GroupAdd: host.hostConfig.GroupAdd,
      IpcMode: str(f, 'ipc'),
      Cgroup: '',
      Links: some(list(f, 'link')),
      OomScoreAdj: host.hostConfig.OomScoreAdj,
      PidMode: str(f, 'pid'),
      Privileged: host.hostConfig.Privileged,
      PublishAllPorts: bool(f, 'publish-all'),
      ReadonlyRootfs: host.hostConfig.ReadonlyRootfs,
      SecurityOpt: host.hostConfig.SecurityOpt,
      ...(Object.keys(storageOpt).length > 0 ? { StorageOpt: storageOpt } : {}),
      ...(host.hostConfig.Tmpfs !== undefined ? { Tmpfs: host.hostConfig.Tmpfs } : {}),
      UTSMode: str(f, 'uts'),
      UsernsMode: str(f, 'userns'),
      ShmSize: host.hostConfig.ShmSize,
      ...(host.hostConfig.Sysctls !== undefined ? { Sysctls: host.hostConfig.Sysctls } : {}),
      ...(str(f, 'runtime') !== '' ? { Runtime: str(f, 'runtime') } : {}),
      Isolation: str(f, 'isolation'),
      CpuShares: host.hostConfig.CpuShares,
      Memory: host.hostConfig.Memory,
      NanoCpus: host.hostConfig.NanoCpus,
      CgroupParent: str(f, 'cgroup-parent'),
      BlkioWeight: int(f, 'blkio-weight'),
      BlkioWeightDevice: list(f, 'blkio-weight-device').map(weightDevice),
      BlkioDeviceReadBps: list(f, 'device-read-bps').map((v) => throttleBpsDevice(v, ramInBytes)),
      BlkioDeviceWriteBps: list(f, 'device-write-bps').map((v) => throttleBpsDevice(v, ramInBytes)),
      BlkioDeviceReadIOps: list(f, 'device-read-iops').map(throttleIOpsDevice),
      BlkioDeviceWriteIOps: list(f, 'device-write-iops').map(throttleIOpsDevice),
      CpuPeriod: host.hostConfig.CpuPeriod,
      CpuQuota: host.hostConfig.CpuQuota,
      CpuRealtimePeriod: int(f, 'cpu-rt-period'),
      CpuRealtimeRuntime: int(f, 'cpu-rt-runtime'),
      CpusetCpus: host.hostConfig.CpusetCpus,
      CpusetMems: host.hostConfig.CpusetMems,
      Devices: host.hostConfig.Devices,
      DeviceCgroupRules: some(list(f, 'device-cgroup-rule')),
      DeviceRequests: deviceRequests,
      ...(kernelMemory !== 0 ? { KernelMemory: kernelMemory } : {}),
      MemoryReservation: host.hostConfig.MemoryReservation,
      MemorySwap: host.hostConfig.MemorySwap,
      MemorySwappiness: swappiness,
      OomKillDisable: bool(f, 'oom-kill-disable'),
      PidsLimit: host.hostConfig.PidsLimit,
      Ulimits: host.hostConfig.Ulimits,
      CpuCount: int(f, 'cpu-count'),
      CpuPercent: int(f, 'cpu-percent'),
      IOMaximumIOps: int(f, 'io-maxiops'),
      IOMaximumBandwidth: bytesFlag(f, 'io-maxbandwidth'),
      ...(mounts.length > 0 ? { Mounts: mounts } : {}),
      MaskedPaths: host.hostConfig.MaskedPaths,
      ReadonlyPaths: host.hostConfig.ReadonlyPaths,
      ...(host.hostConfig.Init !== undefined ? { Init: host.hostConfig.Init } : {}),
    }
    // API 1.41 and older Linux daemons do not honour ConsoleSize (docker zeroes it with a platform)
    if (str(f, 'platform') !== '' && !atLeast('1.42')) hostConfig.ConsoleSize = [0, 0]
    return { ...config, HostConfig: hostConfig, NetworkingConfig: { EndpointsConfig: endpoints } }
  }
  const loopbackDNS = list(f, 'dns').find((d) => /^127\./.test(d) || d === '::1')
  const platform = str(f, 'platform')
  return {
    name: str(f, 'name'),
    bodyFor,
    body: bodyFor('1.45'),
    platform: platform === '' ? '' : normalizePlatform(platform),
    cidfile: str(f, 'cidfile'),
    tty,
    attachStdin,
    attachStdout,
    attachStderr,
    autoRemove,
    image,
    loopbackDNS,
  }
}
