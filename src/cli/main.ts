// berth: a docker-compatible CLI that only speaks the Engine API. Command modules are loaded
// lazily so that startup stays cheap.
import { API_VERSION, Client, ConnectError, DEFAULT_SOCKET } from './client.ts'
import { CliError } from './command.ts'
import type { CommandDef, Ctx } from './command.ts'
import { flagUsages, FlagError, parseFlags } from './flags.ts'
import type { FlagDef } from './flags.ts'

export const BERTH_VERSION = '0.1.0'

type Loader = () => Promise<{ command: CommandDef }>

interface Entry {
  short: string
  load: Loader
}

const commands: Record<string, Entry> = {
  run: {
    short: 'Create and run a new container from an image',
    load: () => import('./commands/run.ts'),
  },
  ps: { short: 'List containers', load: () => import('./commands/ps.ts') },
  pause: {
    short: 'Pause all processes within one or more containers',
    load: () => import('./commands/pause.ts'),
  },
  unpause: {
    short: 'Unpause all processes within one or more containers',
    load: () => import('./commands/unpause.ts'),
  },
  restart: { short: 'Restart one or more containers', load: () => import('./commands/restart.ts') },
  rename: { short: 'Rename a container', load: () => import('./commands/rename.ts') },
  top: {
    short: 'Display the running processes of a container',
    load: () => import('./commands/top.ts'),
  },
  stats: {
    short: 'Display a live stream of container(s) resource usage statistics',
    load: () => import('./commands/stats.ts'),
  },
  events: {
    short: 'Get real time events from the server',
    load: () => import('./commands/events.ts'),
  },
  update: {
    short: 'Update configuration of one or more containers',
    load: () => import('./commands/update.ts'),
  },
  exec: {
    short: 'Execute a command in a running container',
    load: () => import('./commands/exec.ts'),
  },
  attach: {
    short: 'Attach local standard input, output, and error streams to a running container',
    load: () => import('./commands/attach.ts'),
  },
  images: { short: 'List images', load: () => import('./commands/images.ts') },
  version: {
    short: 'Show the berth version information',
    load: () => import('./commands/version.ts'),
  },
  info: { short: 'Display system-wide information', load: () => import('./commands/info.ts') },
  create: { short: 'Create a new container', load: () => import('./commands/create.ts') },
  commit: {
    short: "Create a new image from a container's changes",
    load: () => import('./commands/commit.ts'),
  },
  cp: {
    short: 'Copy files/folders between a container and the local filesystem',
    load: () => import('./commands/cp.ts'),
  },
  diff: {
    short: "Inspect changes to files or directories on a container's filesystem",
    load: () => import('./commands/diff.ts'),
  },
  export: {
    short: "Export a container's filesystem as a tar archive",
    load: () => import('./commands/export.ts'),
  },
  history: { short: 'Show the history of an image', load: () => import('./commands/history.ts') },
  import: {
    short: 'Import the contents from a tarball to create a filesystem image',
    load: () => import('./commands/import.ts'),
  },
  inspect: {
    short: 'Return low-level information on berth objects',
    load: () => import('./commands/inspect.ts'),
  },
  kill: { short: 'Kill one or more running containers', load: () => import('./commands/kill.ts') },
  load: {
    short: 'Load an image from a tar archive or STDIN',
    load: () => import('./commands/load.ts'),
  },
  logs: { short: 'Fetch the logs of a container', load: () => import('./commands/logs.ts') },
  rm: { short: 'Remove one or more containers', load: () => import('./commands/rm.ts') },
  rmi: { short: 'Remove one or more images', load: () => import('./commands/rmi.ts') },
  save: {
    short: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
    load: () => import('./commands/save.ts'),
  },
  start: {
    short: 'Start one or more stopped containers',
    load: () => import('./commands/start.ts'),
  },
  stop: { short: 'Stop one or more running containers', load: () => import('./commands/stop.ts') },
  tag: {
    short: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
    load: () => import('./commands/tag.ts'),
  },
  wait: {
    short: 'Block until one or more containers stop, then print their exit codes',
    load: () => import('./commands/wait.ts'),
  },
  port: {
    short: 'List port mappings or a specific mapping for the container',
    load: () => import('./commands/port.ts'),
  },
}

const management: Record<string, { short: string; subs: Record<string, string> }> = {
  network: {
    short: 'Manage networks',
    subs: {
      connect: 'network-connect',
      create: 'network-create',
      disconnect: 'network-disconnect',
      inspect: 'network-inspect',
      ls: 'network-ls',
      list: 'network-ls',
      prune: 'network-prune',
      rm: 'network-rm',
      remove: 'network-rm',
    },
  },
  volume: {
    short: 'Manage volumes',
    subs: {
      create: 'volume-create',
      inspect: 'volume-inspect',
      ls: 'volume-ls',
      list: 'volume-ls',
      prune: 'volume-prune',
      rm: 'volume-rm',
      remove: 'volume-rm',
    },
  },
  image: {
    short: 'Manage images',
    subs: {
      history: 'history',
      import: 'import',
      inspect: 'image-inspect',
      load: 'load',
      ls: 'images',
      list: 'images',
      prune: 'image-prune',
      rm: 'rmi',
      remove: 'rmi',
      save: 'save',
      tag: 'tag',
    },
  },
  system: {
    short: 'Manage berth',
    subs: { events: 'events', info: 'info' },
  },
  container: {
    short: 'Manage containers',
    subs: {
      attach: 'attach',
      commit: 'commit',
      cp: 'cp',
      create: 'create',
      diff: 'diff',
      exec: 'exec',
      export: 'export',
      inspect: 'inspect',
      kill: 'kill',
      logs: 'logs',
      ls: 'ps',
      list: 'ps',
      ps: 'ps',
      pause: 'pause',
      port: 'port',
      prune: 'container-prune',
      rename: 'rename',
      restart: 'restart',
      rm: 'rm',
      remove: 'rm',
      run: 'run',
      start: 'start',
      stats: 'stats',
      stop: 'stop',
      top: 'top',
      unpause: 'unpause',
      update: 'update',
      wait: 'wait',
    },
  },
}

const hidden: Record<string, Entry> = {
  'network-connect': {
    short: 'Connect a container to a network',
    load: () => import('./commands/network-connect.ts'),
  },
  'network-create': {
    short: 'Create a network',
    load: () => import('./commands/network-create.ts'),
  },
  'network-disconnect': {
    short: 'Disconnect a container from a network',
    load: () => import('./commands/network-disconnect.ts'),
  },
  'network-inspect': {
    short: 'Display detailed information on one or more networks',
    load: () => import('./commands/network-inspect.ts'),
  },
  'network-ls': { short: 'List networks', load: () => import('./commands/network-ls.ts') },
  'network-prune': {
    short: 'Remove all unused networks',
    load: () => import('./commands/network-prune.ts'),
  },
  'network-rm': {
    short: 'Remove one or more networks',
    load: () => import('./commands/network-rm.ts'),
  },
  'volume-create': { short: 'Create a volume', load: () => import('./commands/volume-create.ts') },
  'volume-inspect': {
    short: 'Display detailed information on one or more volumes',
    load: () => import('./commands/volume-inspect.ts'),
  },
  'volume-ls': { short: 'List volumes', load: () => import('./commands/volume-ls.ts') },
  'volume-prune': {
    short: 'Remove unused local volumes',
    load: () => import('./commands/volume-prune.ts'),
  },
  'volume-rm': {
    short: 'Remove one or more volumes',
    load: () => import('./commands/volume-rm.ts'),
  },
  'image-inspect': {
    short: 'Display detailed information on one or more images',
    load: () => import('./commands/image-inspect.ts'),
  },
  'image-prune': { short: 'Remove unused images', load: () => import('./commands/image-prune.ts') },
  'container-prune': {
    short: 'Remove all stopped containers',
    load: () => import('./commands/container-prune.ts'),
  },
}

const globalFlags: FlagDef[] = [
  { long: 'config', kind: 'string', def: '', desc: 'Location of client config files' },
  { long: 'debug', short: 'D', kind: 'bool', desc: 'Enable debug mode' },
  { long: 'host', short: 'H', kind: 'list', desc: 'Daemon socket to connect to' },
  {
    long: 'log-level',
    short: 'l',
    kind: 'string',
    def: 'info',
    desc: 'Set the logging level ("debug", "info", "warn", "error", "fatal")',
  },
  { long: 'version', short: 'v', kind: 'bool', desc: 'Print version information and quit' },
]

function cols(): number {
  return process.stdout.isTTY ? process.stdout.columns : 80
}

export function commandHelp(path: string, def: CommandDef): string {
  let s = `\nUsage:  ${path} ${def.usage}\n\n${def.short}\n`
  if (def.aliases && def.aliases.length > 0) s += `\nAliases:\n  ${def.aliases.join(', ')}\n`
  if (def.flags.length > 0) s += `\nOptions:\n${flagUsages(def.flags, cols() - 1)}`
  return s
}

function topHelp(): string {
  let s =
    '\nUsage:  berth [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\nCommands:\n'
  for (const name of Object.keys(commands).sort())
    s += `  ${name.padEnd(11)} ${commands[name].short}\n`
  s += '\nManagement Commands:\n'
  for (const name of Object.keys(management))
    s += `  ${name.padEnd(11)} ${management[name].short}\n`
  s += `\nGlobal Options:\n${flagUsages(globalFlags, cols() - 1)}`
  s += "\nRun 'berth COMMAND --help' for more information on a command.\n"
  return s
}

async function managementHelp(name: string): Promise<string> {
  const m = management[name]
  let s = `\nUsage:  berth ${name} COMMAND\n\n${m.short}\n\nCommands:\n`
  const seen = new Set<string>()
  for (const [sub, target] of Object.entries(m.subs).sort()) {
    if (seen.has(target)) continue
    seen.add(target)
    const e = commands[target] ?? hidden[target]
    s += `  ${sub.padEnd(11)} ${e.short}\n`
  }
  return s + `\nRun 'berth ${name} COMMAND --help' for more information on a command.\n`
}

function resolveHost(hosts: string[]): { socket: string; explicit: boolean } {
  const h = hosts.length > 0 ? hosts[hosts.length - 1] : process.env.BERTH_HOST
  if (!h) return { socket: DEFAULT_SOCKET, explicit: false }
  if (h.startsWith('unix://')) return { socket: h.slice('unix://'.length), explicit: true }
  if (h.startsWith('/')) return { socket: h, explicit: true }
  throw new CliError(`invalid host "${h}": only unix:// sockets are supported`)
}

function argsError(path: string, def: CommandDef, n: number): CliError | undefined {
  const { min, max } = def.args ?? {}
  let msg: string | undefined
  let verb = 'Run'
  if (min !== undefined && max !== undefined && min === max && n !== min) {
    msg = `requires ${min} argument${min === 1 ? '' : 's'}`
  } else if (max === 0 && n > 0) msg = 'accepts no arguments'
  else if (min !== undefined && n < min) {
    msg = `requires at least ${min} argument${min === 1 ? '' : 's'}`
    verb = 'See'
  } else if (max !== undefined && n > max)
    msg = `requires at most ${max} argument${max === 1 ? '' : 's'}`
  if (!msg) return undefined
  return new CliError(
    `berth: '${path}' ${msg}\n\nUsage:  ${path} ${def.usage}\n\n${verb} '${path} --help' for more information`,
  )
}

export async function main(argv: string[]): Promise<number> {
  const g = parseFlags(globalFlags, argv, false)
  if (g.values.version) {
    process.stdout.write(`berth version ${BERTH_VERSION}, API ${API_VERSION}\n`)
    return 0
  }
  if (g.args.length === 0 || (g.help && g.args.length === 0)) {
    process.stdout.write(topHelp())
    return 0
  }
  let [name, ...rest] = g.args
  let path = `berth ${name}`
  if (management[name]) {
    const sub = rest[0]
    if (!sub || sub.startsWith('-')) {
      process.stdout.write(await managementHelp(name))
      return 0
    }
    const target = management[name].subs[sub]
    if (!target) {
      throw new CliError(
        `berth: unknown command: berth ${name} ${sub}\n\nRun 'berth ${name} --help' for more information`,
      )
    }
    path = `berth ${name} ${sub}`
    name = target
    rest = rest.slice(1)
  }
  const entry = commands[name] ?? hidden[name]
  if (!entry || (hidden[name] && path === `berth ${name}`)) {
    throw new CliError(
      `berth: unknown command: berth ${name}\n\nRun 'berth --help' for more information`,
    )
  }
  const { command } = await entry.load()
  let f
  try {
    f = parseFlags(command.flags, rest, command.interspersed ?? true)
  } catch (e) {
    if (e instanceof FlagError) {
      throw new CliError(
        `${e.message}\n\nUsage:  ${path} ${command.usage}\n\nRun '${path} --help' for more information`,
        125,
      )
    }
    throw e
  }
  if (f.help || g.help) {
    process.stdout.write(commandHelp(path, command))
    return 0
  }
  const ae = argsError(path, command, f.args.length)
  if (ae) throw ae

  const { socket, explicit } = resolveHost((g.values.host as string[]) ?? [])
  let client: Client | undefined
  const ctx: Ctx = {
    path,
    host: `unix://${socket}`,
    async client() {
      if (client) return client
      const c = new Client(socket)
      try {
        await c.ping()
      } catch (e) {
        if (!(e instanceof ConnectError) || explicit || e.errno === 'EACCES') throw e
        const { startDaemon } = await import('./autostart.ts')
        await startDaemon(c)
      }
      client = c
      return c
    },
  }
  return command.run(ctx, f)
}

export async function runCli(argv: string[]): Promise<number> {
  try {
    return await main(argv)
  } catch (e) {
    if (e instanceof CliError) {
      if (e.message) process.stderr.write(e.message + '\n')
      return e.code
    }
    process.stderr.write(((e as Error).message ?? String(e)) + '\n')
    return 1
  }
}

/** Exits once stdout and stderr have drained, so piped output is never cut short. */
export function exitAfterFlush(code: number): void {
  let pending = 2
  const done = () => {
    if (--pending === 0) process.exit(code)
  }
  process.stdout.write('', done)
  process.stderr.write('', done)
}

const isEntry = (() => {
  const a = process.argv[1] ?? ''
  return /(^|\/)(berth(\.mjs)?|main\.ts)$/.test(a)
})()

if (isEntry) {
  runCli(process.argv.slice(2)).then(exitAfterFlush, (e: unknown) => {
    process.stderr.write(String(e) + '\n')
    process.exit(1)
  })
}
