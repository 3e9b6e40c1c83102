import type { CommandDef } from '../command.ts'
import { bool, encodeFilters, filterFlag, formatFlagDesc, int, list, out, str } from '../command.ts'
import { containerContext, containerHeaders } from '../formatters.ts'
import type { ContainerSummary } from '../formatters.ts'
import { formatRows } from '../template/index.ts'

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'List containers',
  aliases: ['berth container ls', 'berth container list', 'berth container ps', 'berth ps'],
  args: { max: 0 },
  flags: [
    {
      long: 'all',
      short: 'a',
      kind: 'bool',
      desc: 'Show all containers (default shows just running)',
    },
    filterFlag,
    { long: 'format', kind: 'string', desc: formatFlagDesc },
    {
      long: 'last',
      short: 'n',
      kind: 'int',
      def: -1,
      desc: 'Show n last created containers (includes all states)',
    },
    {
      long: 'latest',
      short: 'l',
      kind: 'bool',
      desc: 'Show the latest created container (includes all states)',
    },
    { long: 'no-trunc', kind: 'bool', desc: "Don't truncate output" },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only display container IDs' },
    { long: 'size', short: 's', kind: 'bool', desc: 'Display total file sizes' },
  ],
  async run(ctx, f) {
    let format = str(f, 'format')
    const quiet = bool(f, 'quiet')
    let size = bool(f, 'size')
    if (quiet) format = '{{.ID}}'
    else if (!format || format === 'table') {
      format =
        'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}'
      if (size) format += '\t{{.Size}}'
    } else if (format.includes('.Size')) size = true
    let limit = int(f, 'last')
    if (bool(f, 'latest') && limit === -1) limit = 1
    const client = await ctx.client()
    const cs = await client.json<ContainerSummary[]>('GET', '/containers/json', {
      query: {
        all: bool(f, 'all') || undefined,
        limit: limit > 0 ? limit : undefined,
        size: size && !quiet ? true : undefined,
        filters: encodeFilters(list(f, 'filter')),
      },
    })
    const now = Date.now()
    out(
      formatRows(
        format,
        cs.map((c) => containerContext(c, !bool(f, 'no-trunc'), now)),
        containerHeaders,
      ),
    )
    return 0
  },
}
