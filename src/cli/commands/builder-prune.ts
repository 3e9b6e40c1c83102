import type { CommandDef } from '../command.ts'
import { bool, CliError, encodeFilters, filterFlag, list, out, str } from '../command.ts'
import { humanSize, ramInBytes } from '../../lib/units.ts'
import { confirm } from '../prompt.ts'

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Remove build cache',
  args: { max: 0 },
  flags: [
    {
      long: 'all',
      short: 'a',
      kind: 'bool',
      desc: 'Remove all unused build cache, not just dangling ones',
    },
    { ...filterFlag, short: undefined, desc: 'Provide filter values (e.g. "until=24h")' },
    { long: 'force', short: 'f', kind: 'bool', desc: 'Do not prompt for confirmation' },
    {
      long: 'keep-storage',
      kind: 'string',
      typeName: 'bytes',
      desc: 'Amount of disk space to keep for cache',
    },
  ],
  async run(ctx, f) {
    const all = bool(f, 'all')
    const keepFlag = str(f, 'keep-storage')
    const keep = keepFlag ? ramInBytes(keepFlag) : 0
    if (keep === undefined) {
      throw new CliError(
        `invalid argument "${keepFlag}" for "--keep-storage" flag: invalid size: '${keepFlag}'\n\nUsage:  berth builder prune [OPTIONS]\n\nRun 'berth builder prune --help' for more information`,
        125,
      )
    }
    const warning = all
      ? 'WARNING! This will remove all build cache.'
      : 'WARNING! This will remove all dangling build cache.'
    if (!bool(f, 'force') && !(await confirm(warning + '\nAre you sure you want to continue?')))
      return 0
    const client = await ctx.client()
    const rep = await client.json<{ CachesDeleted?: string[] | null; SpaceReclaimed?: number }>(
      'POST',
      '/build/prune',
      {
        query: {
          all: all || undefined,
          filters: encodeFilters(list(f, 'filter')),
          // As the docker CLI sends it: bytes, only when set.
          'keep-storage': keep ? String(keep) : undefined,
        },
      },
    )
    let s = ''
    const deleted = rep.CachesDeleted ?? []
    if (deleted.length > 0) {
      s += 'Deleted build cache objects:\n'
      for (const d of deleted) s += `${d}\n`
    }
    s += `\nTotal reclaimed space: ${humanSize(rep.SpaceReclaimed ?? 0)}\n`
    out(s)
    return 0
  },
}
