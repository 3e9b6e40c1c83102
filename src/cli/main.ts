// berth: a docker-compatible CLI that only speaks the Engine API.
//
// Start-up is most of what a short command costs, so this entry imports only flag parsing:
// each command module, the API client (node:http) and the daemon starter are loaded when a
// command needs them, and the first request goes out without a ping (see Client.request).
import { CliError } from './command.ts'
import type { CommandDef } from './command.ts'
import { flagUsages, parseFlags } from './flags.ts'
import { BERTH_VERSION } from '../lib/buildinfo.ts'
import { API_VERSION } from './defaults.ts'
import { cols, exitAfterFlush, globalFlags, runCommand, runMain } from './dispatch.ts'

export { BERTH_VERSION }
export { commandHelp } from './dispatch.ts'

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
  build: { short: 'Build an image from a Dockerfile', load: () => import('./commands/build.ts') },
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
  pull: { short: 'Download an image from a registry', load: () => import('./commands/pull.ts') },
  push: { short: 'Upload an image to a registry', load: () => import('./commands/push.ts') },
  login: { short: 'Authenticate to a registry', load: () => import('./commands/login.ts') },
  logout: { short: 'Log out from a registry', load: () => import('./commands/logout.ts') },
  port: {
    short: 'List port mappings or a specific mapping for the container',
    load: () => import('./commands/port.ts'),
  },
  notebook: {
    short: 'Start a Jupyter notebook published on 127.0.0.1, for an ssh tunnel',
    load: () => import('./commands/notebook.ts'),
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
      update: 'volume-update',
    },
  },
  builder: {
    short: 'Manage builds',
    subs: { build: 'build', prune: 'builder-prune' },
  },
  image: {
    short: 'Manage images',
    subs: {
      build: 'build',
      history: 'history',
      import: 'import',
      inspect: 'image-inspect',
      load: 'load',
      ls: 'images',
      list: 'images',
      prune: 'image-prune',
      pull: 'pull',
      push: 'push',
      rm: 'rmi',
      remove: 'rmi',
      save: 'save',
      tag: 'tag',
    },
  },
  system: {
    short: 'Manage berth',
    subs: { df: 'system-df', events: 'events', info: 'info', prune: 'system-prune' },
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
      inspect: 'container-inspect',
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
      restore: 'container-restore',
      rm: 'rm',
      remove: 'rm',
      run: 'run',
      start: 'start',
      stats: 'stats',
      stop: 'stop',
      top: 'top',
      trash: 'container-trash',
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
  'builder-prune': {
    short: 'Remove build cache',
    load: () => import('./commands/builder-prune.ts'),
  },
  'container-prune': {
    short: 'Remove all stopped containers',
    load: () => import('./commands/container-prune.ts'),
  },
  'container-inspect': {
    short: 'Display detailed information on one or more containers',
    load: () => import('./commands/container-inspect.ts'),
  },
  'container-restore': {
    short: 'Bring back a removed container from the trash',
    load: () => import('./commands/container-restore.ts'),
  },
  'container-trash': {
    short: 'Manage the removed containers berthd keeps',
    load: () => import('./commands/container-trash.ts'),
  },
  'system-df': { short: 'Show berth disk usage', load: () => import('./commands/system-df.ts') },
  'system-prune': { short: 'Remove unused data', load: () => import('./commands/system-prune.ts') },
}

/**
 * docker's commands that berth does not have yet, or will not have: each answers with what to
 * use meanwhile and exits 1. A command that lands goes into `commands` (or `management`) and
 * its line here goes; an entry there wins over one here.
 */
interface Pending {
  short: string
  /** what berth says instead, after "berth: " */
  say: string
  /** left out of `berth --help` (docker's swarm and plugin commands) */
  unlisted?: boolean
}

const pending: Record<string, Pending> = {
  search: {
    short: 'Search Docker Hub for images',
    say: 'search is not there yet: berth does not search Docker Hub. Meanwhile, `berth pull NAME[:TAG]` pulls an image by its name.',
  },
  'volume-update': {
    unlisted: true,
    short: 'Update a volume (cluster volumes only)',
    say: 'volume update is for the cluster volumes of swarm mode, which berth does not have.',
  },
  compose: {
    short: 'Docker Compose',
    say: 'there is no compose command. docker-compose talks to berthd unchanged: DOCKER_HOST=unix:///run/berth/berth.sock docker-compose up',
    unlisted: true,
  },
  context: {
    short: 'Manage contexts',
    say: 'there are no contexts: berth finds its daemon through --host, then BERTH_HOST, then /run/berth/berth.sock.',
    unlisted: true,
  },
  checkpoint: {
    short: 'Manage checkpoints',
    say: 'checkpoints are not supported.',
    unlisted: true,
  },
  manifest: {
    short: 'Manage Docker image manifests and manifest lists',
    say: 'manifest is not there yet: berth cannot reach registries yet.',
    unlisted: true,
  },
  plugin: { short: 'Manage plugins', say: 'plugins are not supported.', unlisted: true },
  trust: {
    short: 'Manage trust on Docker images',
    say: 'content trust is not supported.',
    unlisted: true,
  },
  buildx: {
    short: 'Docker Buildx',
    say: "there is no buildx: `berth build` (and `docker build` without buildx) builds with berth's own builder.",
    unlisted: true,
  },
  ...Object.fromEntries(
    ['config', 'node', 'secret', 'service', 'stack', 'swarm'].map((n) => [
      n,
      { short: `Manage Swarm ${n}s`, say: 'swarm mode is not supported.', unlisted: true },
    ]),
  ),
}

/** docker's "Common Commands", in docker's order; the rest are listed alphabetically. */
const common = [
  'run',
  'exec',
  'ps',
  'build',
  'pull',
  'push',
  'images',
  'login',
  'logout',
  'search',
  'version',
  'info',
]

function shortOf(name: string): string | undefined {
  return commands[name]?.short ?? management[name]?.short ?? hidden[name]?.short
}

/** `berth --help`: docker's groups (common, management, the rest), berth's commands in them. */
function topHelp(): string {
  const line = (name: string, short: string) => `  ${name.padEnd(11)} ${short}\n`
  const listed = (name: string) =>
    commands[name] !== undefined || (pending[name] !== undefined && !pending[name].unlisted)
  let s =
    'Usage:  berth [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\nCommon Commands:\n'
  for (const name of common)
    if (listed(name)) s += line(name, shortOf(name) ?? pending[name]!.short)
  s += '\nManagement Commands:\n'
  const mgmt = new Set([...Object.keys(management), 'builder', 'network'])
  for (const name of [...mgmt].sort()) {
    if (management[name]) s += line(name, management[name].short)
    else if (pending[name] && !pending[name].unlisted) s += line(name, pending[name].short)
  }
  s += '\nCommands:\n'
  const rest = new Set([...Object.keys(commands), ...Object.keys(pending)])
  for (const name of [...rest].sort()) {
    if (common.includes(name) || mgmt.has(name) || !listed(name)) continue
    s += line(name, shortOf(name) ?? pending[name]!.short)
  }
  s += `\nGlobal Options:\n${flagUsages(globalFlags, cols() - 1)}`
  s += "\nRun 'berth COMMAND --help' for more information on a command.\n"
  return s
}

function managementHelp(name: string): string {
  const m = management[name]
  let s = `Usage:  berth ${name} COMMAND\n\n${m.short}\n\nCommands:\n`
  // each command once, under its first name (ls, not list)
  const primary = new Map<string, string>()
  for (const [sub, target] of Object.entries(m.subs))
    if (!primary.has(target)) primary.set(target, sub)
  for (const [target, sub] of [...primary].sort((a, b) => (a[1] < b[1] ? -1 : 1))) {
    const short = shortOf(target) ?? pending[target]?.short ?? ''
    s += `  ${sub.padEnd(11)} ${short}\n`
  }
  return s + `\nRun 'berth ${name} COMMAND --help' for more information on a command.\n`
}

/** t[k] when t has k itself: a command named "constructor" is unknown, not Object's. */
function own<T>(t: Record<string, T>, k: string): T | undefined {
  return Object.hasOwn(t, k) ? t[k] : undefined
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
  const group = own(management, name)
  if (group) {
    const sub = rest[0]
    if (!sub || sub.startsWith('-')) {
      process.stdout.write(managementHelp(name))
      return 0
    }
    const target = own(group.subs, sub)
    if (!target) {
      throw new CliError(
        `berth: unknown command: berth ${name} ${sub}\n\nRun 'berth ${name} --help' for more information`,
      )
    }
    path = `berth ${name} ${sub}`
    name = target
    rest = rest.slice(1)
  }
  const hiddenEntry = own(hidden, name)
  const entry = own(commands, name) ?? hiddenEntry
  if (!entry || (hiddenEntry && path === `berth ${name}`)) {
    const p = own(pending, name)
    if (p && !own(management, name)) throw new CliError(`berth: ${p.say}`, 1)
    throw new CliError(
      `berth: unknown command: berth ${name}\n\nRun 'berth --help' for more information`,
    )
  }
  const { command } = await entry.load()
  return runCommand(g, path, command, rest)
}

export function runCli(argv: string[]): Promise<number> {
  return runMain(() => main(argv))
}

export { exitAfterFlush }

// Run from source (node --import tsx src/cli/main.ts); the bundle is started by launch.ts.
if (/(^|\/)main\.ts$/.test(process.argv[1] ?? '')) {
  runCli(process.argv.slice(2)).then(exitAfterFlush, (e: unknown) => {
    process.stderr.write(String(e) + '\n')
    process.exit(1)
  })
}
