import type { CommandDef } from '../command.ts'
import { bool, encodeFilters, filterFlag, list, out } from '../command.ts'
import { confirm } from '../prompt.ts'
import { humanSize } from '../../lib/units.ts'
import { berthOnly, pruneReport, type Unsaved } from '../guard.ts'

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Remove all stopped containers',
  args: { max: 0 },
  flags: [
    { ...filterFlag, short: undefined, desc: 'Provide filter values (e.g. "until=<timestamp>")' },
    { long: 'force', short: 'f', kind: 'bool', desc: 'Do not prompt for confirmation' },
  ],
  async run(ctx, f) {
    const filters = encodeFilters(list(f, 'filter'))
    const client = await ctx.client()
    if (!bool(f, 'force')) {
      // berth's guard: what these containers hold that no image or volume does, before asking.
      const unsaved = await berthOnly<Unsaved[]>(client, 'GET', '/berth/v1/containers/unsaved', {
        prune: true,
        filters,
      })
      const warning = 'WARNING! This will remove all stopped containers.\n'
      if (
        !(await confirm(
          warning + pruneReport(unsaved ?? []) + 'Are you sure you want to continue?',
        ))
      )
        return 0
    }
    const rep = await client.json<{ ContainersDeleted?: string[] | null; SpaceReclaimed?: number }>(
      'POST',
      '/containers/prune',
      { query: { filters } },
    )
    let s = ''
    const deleted = rep.ContainersDeleted ?? []
    if (deleted.length > 0) s += `Deleted Containers:\n${deleted.join('\n')}\n\n`
    s += `Total reclaimed space: ${humanSize(rep.SpaceReclaimed ?? 0)}\n`
    out(s)
    return 0
  },
}
