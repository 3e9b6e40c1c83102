// The run/create flags and their translation into the create request body, following docker's
// cli/command/container/opts.go for the options berth supports so far.
import { readFile } from 'node:fs/promises'
import type { FlagDef, ParsedFlags } from './flags.ts'
import { CliError, bool, list, str } from './command.ts'
import { gpuFlags } from './gpus.ts'
import { hostFlags, hostOptions } from './hostopts.ts'
import { parseVolumeOpts, volumeFlags } from './volumeopts.ts'

export const createFlags: FlagDef[] = [
  { long: 'attach', short: 'a', kind: 'list', desc: 'Attach to STDIN, STDOUT or STDERR' },
  { long: 'entrypoint', kind: 'string', desc: 'Overwrite the default ENTRYPOINT of the image' },
  { long: 'env', short: 'e', kind: 'list', desc: 'Set environment variables' },
  { long: 'env-file', kind: 'list', desc: 'Read in a file of environment variables' },
  { long: 'hostname', short: 'h', kind: 'string', desc: 'Container host name' },
  { long: 'interactive', short: 'i', kind: 'bool', desc: 'Keep STDIN open even if not attached' },
  { long: 'label', short: 'l', kind: 'list', desc: 'Set meta data on a container' },
  { long: 'label-file', kind: 'list', desc: 'Read in a line delimited file of labels' },
  { long: 'name', kind: 'string', desc: 'Assign a name to the container' },
  {
    long: 'network',
    kind: 'string',
    typeName: 'network',
    desc: 'Connect a container to a network',
  },
  {
    long: 'pull',
    kind: 'string',
    def: 'missing',
    desc: 'Pull image before running ("always", "missing", "never")',
  },
  {
    long: 'rm',
    kind: 'bool',
    desc: 'Automatically remove the container and its associated anonymous volumes when it exits',
  },
  { long: 'tty', short: 't', kind: 'bool', desc: 'Allocate a pseudo-TTY' },
  {
    long: 'user',
    short: 'u',
    kind: 'string',
    desc: 'Username or UID (format: "<name|uid>[:<group|gid>]")',
  },
  { long: 'workdir', short: 'w', kind: 'string', desc: 'Working directory inside the container' },
  { long: 'quiet', short: 'q', kind: 'bool', desc: 'Suppress the pull output' },
  {
    long: 'restart',
    kind: 'string',
    def: 'no',
    desc: 'Restart policy to apply when a container exits',
  },
  ...hostFlags,
  ...gpuFlags,
  ...volumeFlags,
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
  { long: 'sig-proxy', kind: 'bool', def: true, desc: 'Proxy received signals to the process' },
]

/** opts.ValidateEnv: NAME alone takes its value from our environment when set there. */
export function expandEnv(v: string): string {
  const eq = v.indexOf('=')
  const k = eq >= 0 ? v.slice(0, eq) : v
  if (k === '') throw new CliError(`invalid environment variable: ${v}`)
  if (eq >= 0) return v
  const e = process.env[k]
  return e !== undefined ? `${k}=${e}` : v
}

/** opts.ParseEnvFile: NAME=VALUE lines, '#' comments, NAME alone looked up like -e. */
export function parseEnvFile(text: string, file: string): string[] {
  const outv: string[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/^[ \t]+/, '').replace(/\r$/, '')
    if (line === '' || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    const k = eq >= 0 ? line.slice(0, eq) : line
    if (k === '') throw new CliError(`invalid environment variable: ${line}`)
    if (/\s/.test(k)) throw new CliError(`variable '${k}' contains whitespaces`)
    if ([...k].some((ch) => ch.charCodeAt(0) > 0x7f))
      throw new CliError(`env file ${file} contains invalid utf8 bytes at line ${i + 1}`)
    if (eq >= 0) outv.push(line)
    else {
      const e = process.env[k]
      if (e !== undefined) outv.push(`${k}=${e}`)
    }
  }
  return outv
}

/** opts.ParseRestartPolicy: NAME[:MAX-RETRIES]; the daemon judges the name. */
export function parseRestartPolicy(v: string): { Name: string; MaximumRetryCount: number } {
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

export interface ContainerConfig {
  name: string
  body: Record<string, unknown>
  tty: boolean
  attachStdin: boolean
  attachStdout: boolean
  attachStderr: boolean
  autoRemove: boolean
  image: string
}

export async function parseContainerConfig(
  f: ParsedFlags,
  detach: boolean,
): Promise<ContainerConfig> {
  const [image, ...cmd] = f.args
  const env: string[] = []
  for (const file of list(f, 'env-file')) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch {
      throw new CliError(`open ${file}: no such file or directory`)
    }
    env.push(...parseEnvFile(text, file))
  }
  for (const e of list(f, 'env')) env.push(expandEnv(e))

  const labels: Record<string, string> = {}
  for (const file of list(f, 'label-file')) {
    const text = await readFile(file, 'utf8').catch(() => {
      throw new CliError(`open ${file}: no such file or directory`)
    })
    for (const l of text.split('\n')) {
      const t = l.trim()
      if (!t || t.startsWith('#')) continue
      const eq = t.indexOf('=')
      labels[eq >= 0 ? t.slice(0, eq) : t] = eq >= 0 ? t.slice(eq + 1) : ''
    }
  }
  for (const l of list(f, 'label')) {
    const eq = l.indexOf('=')
    labels[eq >= 0 ? l.slice(0, eq) : l] = eq >= 0 ? l.slice(eq + 1) : ''
  }

  const attach = list(f, 'attach').map((a) => a.toLowerCase())
  for (const a of attach) {
    if (a !== 'stdin' && a !== 'stdout' && a !== 'stderr') {
      throw new CliError(
        `invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`,
        125,
      )
    }
  }
  const interactive = bool(f, 'interactive')
  let attachStdin = attach.length > 0 ? attach.includes('stdin') : interactive
  let attachStdout = attach.length > 0 ? attach.includes('stdout') : true
  let attachStderr = attach.length > 0 ? attach.includes('stderr') : true
  if (detach) {
    if (attach.length > 0)
      throw new CliError('conflicting options: cannot specify both --attach and --detach', 125)
    attachStdin = attachStdout = attachStderr = false
  }
  const tty = bool(f, 'tty')

  let entrypoint: string[] | null = null
  if (str(f, 'entrypoint') !== '') entrypoint = [str(f, 'entrypoint')]
  else if (f.changed.has('entrypoint')) entrypoint = ['']

  const network = str(f, 'network') || 'default'
  const hostOpts = await hostOptions(f)
  const autoRemove = bool(f, 'rm')
  const vol = parseVolumeOpts(f)
  const body: Record<string, unknown> = {
    Hostname: str(f, 'hostname'),
    Domainname: '',
    User: str(f, 'user'),
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    Tty: tty,
    OpenStdin: interactive,
    StdinOnce: interactive && attachStdin && !detach,
    Env: env,
    Cmd: cmd.length > 0 ? cmd : null,
    Image: image,
    Volumes: vol.volumes,
    WorkingDir: str(f, 'workdir'),
    Entrypoint: entrypoint,
    OnBuild: null,
    Labels: labels,
    ...hostOpts.config,
    HostConfig: {
      ...hostOpts.hostConfig,
      Binds: vol.binds,
      VolumesFrom: vol.volumesFrom,
      Mounts: vol.mounts.length > 0 ? vol.mounts : null,
      NetworkMode: network,
      RestartPolicy: parseRestartPolicy(str(f, 'restart') || 'no'),
      AutoRemove: autoRemove,
      LogConfig: { Type: '', Config: {} },
    },
    NetworkingConfig: {
      EndpointsConfig:
        network === 'default' || network === 'none' || network === 'host' ? {} : { [network]: {} },
    },
  }
  return {
    name: str(f, 'name'),
    body,
    tty,
    attachStdin,
    attachStdout,
    attachStderr,
    autoRemove,
    image,
  }
}
