// What every way into the CLI shares: the global flags, a command's help, and running one
// command once its module is loaded (its flags, its arguments, the client it is given). The
// full entry (main.ts) and the small one for the everyday commands (core.ts) both go through
// here, so a command behaves the same whichever bundle the launcher picked.
import { CliError, err, out } from './command.ts'
import type { CommandDef, Ctx } from './command.ts'
import { flagUsages, FlagError, parseFlags } from './flags.ts'
import type { FlagDef, ParsedFlags } from './flags.ts'
import type { Client } from './client.ts'
import { defaultSocket } from './defaults.ts'

export { exitAfterFlush } from './stdio.ts'

export const globalFlags: FlagDef[] = [
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

export function cols(): number {
  return process.stdout.isTTY ? process.stdout.columns : 80
}

export function commandHelp(path: string, def: CommandDef): string {
  let s = `Usage:  ${path} ${def.usage}\n\n${def.long ?? def.short}\n`
  if (def.aliases && def.aliases.length > 0) s += `\nAliases:\n  ${def.aliases.join(', ')}\n`
  if (def.flags.length > 0) s += `\nOptions:\n${flagUsages(def.flags, cols() - 1)}`
  return s
}

export function resolveHost(hosts: string[]): { socket: string; explicit: boolean } {
  const h = hosts.length > 0 ? hosts[hosts.length - 1] : process.env.BERTH_HOST
  if (!h) return { socket: defaultSocket(), explicit: false }
  if (h.startsWith('unix://')) return { socket: h.slice('unix://'.length), explicit: true }
  if (h.startsWith('/')) return { socket: h, explicit: true }
  throw new CliError(`invalid host "${h}": only unix:// sockets are supported`)
}

export function argsError(path: string, def: CommandDef, n: number): CliError | undefined {
  const { min, max } = def.args ?? {}
  let msg: string | undefined
  let verb = 'Run'
  if (min !== undefined && max !== undefined && min === max && n !== min) {
    msg = `requires ${min} argument${min === 1 ? '' : 's'}`
  } else if (min !== undefined && max !== undefined && (n < min || n > max) && max > 0) {
    // cli.RequiresRangeArgs
    msg = `requires at least ${min} and at most ${max} argument${max === 1 ? '' : 's'}`
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

/** Runs a loaded command with the rest of the command line; g holds the global flags. */
export async function runCommand(
  g: ParsedFlags,
  path: string,
  command: CommandDef,
  rest: string[],
): Promise<number> {
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
    const flags = await daemonFlags(command.flags, g.values.host as string[])
    out(commandHelp(path, { ...command, flags }))
    return 0
  }
  const ae = argsError(path, command, f.args.length)
  if (ae) throw ae

  const { socket, explicit } = resolveHost((g.values.host as string[]) ?? [])
  let client: Client | undefined
  const ctx: Ctx = {
    path,
    host: `unix://${socket}`,
    config: String(g.values.config ?? ''),
    async client() {
      if (client) return client
      const { Client } = await import('./client.ts')
      // The daemon is started on first need: when a request finds nobody on the default socket.
      const onNoDaemon = explicit
        ? undefined
        : async (c: Client) => (await import('./autostart.ts')).startDaemon(c)
      client = new Client(socket, { onNoDaemon })
      return client
    },
  }
  await checkAnnotatedFlags(ctx, command.flags, f.changed)
  return command.run(ctx, f)
}

/**
 * docker's hideUnsupportedFeatures: a command's help leaves out the flags the daemon cannot
 * take (a newer API, another OS, experimental or swarm features). That needs a ping, so it
 * is asked only for commands with such flags, and when no daemon answers, all are listed.
 */
async function daemonFlags(flags: FlagDef[], hosts: string[]): Promise<FlagDef[]> {
  const annotated = (d: FlagDef) => d.minAPI !== undefined || d.osType || d.experimental || d.swarm
  if (!flags.some(annotated)) return flags
  const { Client, compareVersions } = await import('./client.ts')
  const c = new Client(resolveHost(hosts ?? []).socket)
  try {
    await c.ping(AbortSignal.timeout(2000))
  } catch {
    return flags
  }
  const unsupported = (d: FlagDef) =>
    (d.minAPI !== undefined && compareVersions(c.version, d.minAPI) < 0) ||
    (d.osType !== undefined && c.osType !== undefined && c.osType !== d.osType) ||
    (d.experimental === true && !c.experimental) ||
    (d.swarm === true && !(c.swarm ?? '').endsWith('/manager'))
  return flags.map((d) => (unsupported(d) ? { ...d, hidden: true } : d))
}

/**
 * docker's areFlagsSupported: a flag given that needs a newer API, another daemon OS or
 * experimental features is refused in docker's words. Only then does this cost a ping.
 */
async function checkAnnotatedFlags(
  ctx: Ctx,
  defs: readonly FlagDef[],
  changed: ReadonlySet<string>,
): Promise<void> {
  const used = defs.filter(
    (d) => changed.has(d.long) && (d.minAPI !== undefined || d.osType || d.experimental),
  )
  if (used.length === 0) return
  const c = await ctx.client()
  await c.ensureNegotiated()
  const { compareVersions } = await import('./client.ts')
  const errs: string[] = []
  for (const d of used) {
    if (d.minAPI !== undefined && compareVersions(c.version, d.minAPI) < 0) {
      errs.push(
        `"--${d.long}" requires API version ${d.minAPI}, but the berth daemon API version is ${c.version}`,
      )
    } else if (d.osType && c.osType && c.osType !== d.osType) {
      errs.push(
        `"--${d.long}" is only supported on a berth daemon running on ${d.osType}, but the berth daemon is running on ${c.osType}`,
      )
    } else if (d.experimental && !c.experimental) {
      errs.push(
        `"--${d.long}" is only supported on a berth daemon with experimental features enabled`,
      )
    }
  }
  if (errs.length > 0) throw new CliError(errs.join('\n'))
}

/** Runs main as a command runs: a CliError's words to stderr and its code as the exit status. */
export async function runMain(main: () => Promise<number>): Promise<number> {
  try {
    return await main()
  } catch (e) {
    if (e instanceof CliError) {
      if (e.message) err(e.message + '\n')
      return e.code
    }
    err(((e as Error).message ?? String(e)) + '\n')
    return 1
  }
}
