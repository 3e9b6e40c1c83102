import type { CommandDef } from '../command.ts'
import { bool, encodeFilters, list, out } from '../command.ts'
import { confirm } from '../prompt.ts'

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Remove all unused networks',
  args: { max: 0 },
  flags: [
    {
      long: 'filter',
      kind: 'list',
      typeName: 'filter',
      desc: 'Provide filter values (e.g. "until=<timestamp>")',
    },
    { long: 'force', short: 'f', kind: 'bool', desc: 'Do not prompt for confirmation' },
  ],
  async run(ctx, f) {
    const warning =
      'WARNING! This will remove all custom networks not used by at least one container.'
    if (!bool(f, 'force') && !(await confirm(`${warning}\nAre you sure you want to continue?`)))
      return 0
    const client = await ctx.client()
    const rep = await client.json<{ NetworksDeleted?: string[] | null }>(
      'POST',
      '/networks/prune',
      {
        query: { filters: encodeFilters(list(f, 'filter')) },
      },
    )
    const deleted = rep.NetworksDeleted ?? []
    if (deleted.length > 0) out(`Deleted Networks:\n${deleted.join('\n')}\n\n`)
    return 0
  },
}
