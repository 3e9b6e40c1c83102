import type { CommandDef } from '../command.ts'
import { bool, encodeFilters, filterFlag, list, out } from '../command.ts'
import { humanSize } from '../../lib/units.ts'
import { confirm } from '../prompt.ts'

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Remove unused images',
  args: { max: 0 },
  flags: [
    {
      long: 'all',
      short: 'a',
      kind: 'bool',
      desc: 'Remove all unused images, not just dangling ones',
    },
    { ...filterFlag, short: undefined, desc: 'Provide filter values (e.g. "until=<timestamp>")' },
    { long: 'force', short: 'f', kind: 'bool', desc: 'Do not prompt for confirmation' },
  ],
  async run(ctx, f) {
    const all = bool(f, 'all')
    const warning = all
      ? 'WARNING! This will remove all images without at least one container associated to them.'
      : 'WARNING! This will remove all dangling images.'
    if (!bool(f, 'force') && !(await confirm(warning + '\nAre you sure you want to continue?')))
      return 0
    const filters = [...list(f, 'filter'), `dangling=${all ? 'false' : 'true'}`]
    const client = await ctx.client()
    const rep = await client.json<{
      ImagesDeleted?: Array<{ Untagged?: string; Deleted?: string }> | null
      SpaceReclaimed?: number
    }>('POST', '/images/prune', { query: { filters: encodeFilters(filters) } })
    let s = ''
    const deleted = rep.ImagesDeleted ?? []
    if (deleted.length > 0) {
      s += 'Deleted Images:\n'
      for (const d of deleted) {
        if (d.Untagged) s += `untagged: ${d.Untagged}\n`
        if (d.Deleted) s += `deleted: ${d.Deleted}\n`
      }
      s += '\n'
    }
    s += `Total reclaimed space: ${humanSize(rep.SpaceReclaimed ?? 0)}\n`
    out(s)
    return 0
  },
}
