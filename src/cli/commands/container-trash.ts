// `berth container trash ls|purge`: the removed containers berthd keeps (--keep-removed).
import type { CommandDef } from '../command.ts'
import { bool, CliError, forEach, formatFlagDesc, out, str } from '../command.ts'
import { flagUsages, FlagError, parseFlags, type FlagDef, type ParsedFlags } from '../flags.ts'
import type { Client } from '../client.ts'
import { ago, berthOnly, unsavedCell, type TrashEntry, type TrashList } from '../guard.ts'
import { confirm } from '../prompt.ts'
import { STRUCT, formatRows } from '../template/index.ts'
import { humanDuration, humanSize, humanSizeWithPrecision, truncateID } from '../../lib/units.ts'

interface Sub {
  usage: string
  short: string
  flags: FlagDef[]
  run(client: () => Promise<Client>, f: ParsedFlags): Promise<number>
}

const trashHeaders: Record<string, string> = {
  ID: 'CONTAINER ID',
  Name: 'NAME',
  Image: 'IMAGE',
  RemovedSince: 'REMOVED',
  ExpiresIn: 'EXPIRES',
  Size: 'SIZE',
  Unsaved: 'UNSAVED',
  RemovedAt: 'REMOVED AT',
  ExpiresAt: 'EXPIRES AT',
  Command: 'COMMAND',
}

function entryContext(e: TrashEntry, trunc: boolean, now: number): object {
  return {
    [STRUCT]: '*berth.trashEntry',
    ID: () => (trunc ? truncateID(e.Id) : e.Id),
    Name: () => e.Name,
    Image: () => e.Image,
    Command: () => e.Command,
    RemovedSince: () => ago(e.RemovedAt, now),
    RemovedAt: () => e.RemovedAt,
    ExpiresIn: () => {
      const left = Date.parse(e.ExpiresAt) - now
      return left > 0 ? `in ${humanDuration(left).toLowerCase()}` : 'now'
    },
    ExpiresAt: () => e.ExpiresAt,
    Size: () => humanSizeWithPrecision(e.Size, 3),
    Unsaved: () => unsavedCell(e.Changes),
  }
}

async function trashList(client: Client): Promise<TrashList> {
  const t = await berthOnly<TrashList>(client, 'GET', '/berth/v1/trash')
  if (t === undefined) throw new CliError('this daemon keeps no removed containers (not berthd)')
  return t
}

const subs: Record<string, Sub> = {
  ls: {
    usage: 'berth container trash ls [OPTIONS]',
    short: 'List the removed containers kept in the trash',
    flags: [
      { long: 'format', kind: 'string', desc: formatFlagDesc },
      { long: 'no-trunc', kind: 'bool', desc: "Don't truncate output" },
      { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only display container IDs' },
    ],
    async run(client, f) {
      const t = await trashList(await client())
      let format = str(f, 'format')
      if (bool(f, 'quiet')) format = '{{.ID}}'
      else if (!format || format === 'table') {
        format =
          'table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.RemovedSince}}\t{{.ExpiresIn}}\t{{.Size}}\t{{.Unsaved}}'
      }
      const now = Date.now()
      out(
        formatRows(
          format,
          t.Entries.map((e) => entryContext(e, !bool(f, 'no-trunc'), now)),
          trashHeaders,
        ),
      )
      return 0
    },
  },
  purge: {
    usage: 'berth container trash purge [OPTIONS] [CONTAINER...]',
    short: 'Delete removed containers from the trash for good (all of them by default)',
    flags: [{ long: 'force', short: 'f', kind: 'bool', desc: 'Do not prompt for confirmation' }],
    async run(client, f) {
      const c = await client()
      if (f.args.length > 0) {
        return forEach(f.args, async (ref) => {
          await c.json('DELETE', `/berth/v1/trash/${encodeURIComponent(ref)}`)
          out(ref + '\n')
        })
      }
      if (!bool(f, 'force')) {
        const t = await trashList(c)
        const size = t.Entries.reduce((s, e) => s + e.Size, 0)
        const warning = `WARNING! This will delete the ${t.Entries.length} removed container${t.Entries.length === 1 ? '' : 's'} in the trash (${humanSize(size)}) for good.`
        if (!(await confirm(`${warning}\nAre you sure you want to continue?`))) return 0
      }
      const rep = await berthOnly<{ Deleted: string[] | null; SpaceReclaimed: number }>(
        c,
        'POST',
        '/berth/v1/trash/purge',
      )
      if (rep === undefined)
        throw new CliError('this daemon keeps no removed containers (not berthd)')
      let s = ''
      const deleted = rep.Deleted ?? []
      if (deleted.length > 0) s += `Deleted Containers:\n${deleted.join('\n')}\n\n`
      s += `Total reclaimed space: ${humanSize(rep.SpaceReclaimed)}\n`
      out(s)
      return 0
    },
  },
}

function help(): string {
  let s = '\nUsage:  berth container trash COMMAND\n\n'
  s += 'Manage the removed containers berthd keeps (berthd --keep-removed DURATION)\n\nCommands:\n'
  for (const [name, sub] of Object.entries(subs)) s += `  ${name.padEnd(11)} ${sub.short}\n`
  s += "\nRun 'berth container trash COMMAND --help' for more information on a command.\n"
  return s
}

export const command: CommandDef = {
  usage: 'COMMAND',
  short: 'Manage the removed containers berthd keeps',
  interspersed: false,
  flags: [],
  async run(ctx, f) {
    const [name, ...rest] = f.args
    if (name === undefined) {
      out(help())
      return 0
    }
    const sub = subs[name]
    if (!sub) {
      throw new CliError(
        `berth: unknown command: berth container trash ${name}\n\nRun 'berth container trash --help' for more information`,
      )
    }
    let sf: ParsedFlags
    try {
      sf = parseFlags(sub.flags, rest)
    } catch (e) {
      if (e instanceof FlagError) {
        throw new CliError(
          `${e.message}\n\nUsage:  ${sub.usage}\n\nRun 'berth container trash ${name} --help' for more information`,
          125,
        )
      }
      throw e
    }
    if (sf.help) {
      out(`\nUsage:  ${sub.usage}\n\n${sub.short}\n\nOptions:\n${flagUsages(sub.flags, 79)}`)
      return 0
    }
    if (name === 'ls' && sf.args.length > 0) {
      throw new CliError(
        `berth: 'berth container trash ls' accepts no arguments\n\nUsage:  ${sub.usage}\n\nRun 'berth container trash ls --help' for more information`,
      )
    }
    return sub.run(() => ctx.client(), sf)
  },
}
