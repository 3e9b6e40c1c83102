import type { CommandDef } from '../command.ts'
import { bool, encodeFilters, list, out } from '../command.ts'
import { confirm } from '../prompt.ts'
import { humanSize } from '../../lib/units.ts'

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Remove unused local volumes',
  args: { max: 0 },
  flags: [
    {
      long: 'all',
      short: 'a',
      kind: 'bool',
      desc: 'Remove all unused volumes, not just anonymous ones',
    },
    {
      long: 'filter',
      kind: 'list',
      typeName: 'filter',
      desc: 'Provide filter values (e.g. "label=<label>")',
    },
    { long: 'force', short: 'f', kind: 'bool', desc: 'Do not prompt for confirmation' },
  ],
  async run(ctx, f) {
    const all = bool(f, 'all')
    const warning = all
      ? 'WARNING! This will remove all local volumes not used by at least one container.'
      : 'WARNING! This will remove anonymous local volumes not used by at least one container.'
    if (!bool(f, 'force') && !(await confirm(warning + '\nAre you sure you want to continue?')))
      return 0
    const filters = [...list(f, 'filter')]
    if (all) filters.push('all=true')
    const client = await ctx.client()
    const rep = await client.json<{ VolumesDeleted?: string[] | null; SpaceReclaimed?: number }>(
      'POST',
      '/volumes/prune',
      { query: { filters: encodeFilters(filters) } },
    )
    let s = ''
    const deleted = rep.VolumesDeleted ?? []
    if (deleted.length > 0) s += `Deleted Volumes:\n${deleted.join('\n')}\n\n`
    s += `Total reclaimed space: ${humanSize(rep.SpaceReclaimed ?? 0)}\n`
    out(s)
    return 0
  },
}
