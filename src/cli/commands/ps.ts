import type { CommandDef } from '../command.ts'
import { bool, encodeFilters, filterFlag, formatFlagDesc, int, list, out, str } from '../command.ts'
import { containerContext, containerHeaders } from '../formatters.ts'
import type { ContainerSummary } from '../formatters.ts'
import { formatRows } from '../template/index.ts'
import { berthOnly, unsavedCell, type Unsaved } from '../guard.ts'

const DEFAULT_TABLE =
  'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Unsaved}}\t{{.Ports}}\t{{.Names}}'

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
    let table = false
    if (quiet) format = '{{.ID}}'
    else if (!format || format === 'table') {
      table = true
      format = DEFAULT_TABLE
      if (size) format += '\t{{.Size}}'
    } else if (format.includes('.Size')) size = true
    // berthd says what each container holds unsaved (its own route, asked beside the list).
    const wantUnsaved = !quiet && (format.includes('.Unsaved') || format === 'json')
    let limit = int(f, 'last')
    if (bool(f, 'latest') && limit === -1) limit = 1
    const client = await ctx.client()
    const [cs, unsaved] = await Promise.all([
      client.json<ContainerSummary[]>('GET', '/containers/json', {
        query: {
          all: bool(f, 'all') || undefined,
          limit: limit > 0 ? limit : undefined,
          size: size && !quiet ? true : undefined,
          filters: encodeFilters(list(f, 'filter')),
        },
      }),
      wantUnsaved
        ? berthOnly<Unsaved[]>(client, 'GET', '/berth/v1/containers/unsaved')
        : Promise.resolve(undefined),
    ])
    // Another daemon (dockerd): docker's own table.
    if (table && unsaved === undefined) format = format.replace('\t{{.Unsaved}}', '')
    const byId = new Map((unsaved ?? []).map((u) => [u.Id, u]))
    const now = Date.now()
    out(
      formatRows(
        format,
        cs.map((c) => ({
          ...containerContext(c, !bool(f, 'no-trunc'), now),
          Unsaved: () => unsavedCell(byId.get(c.Id)),
        })),
        { ...containerHeaders, Unsaved: 'UNSAVED' },
      ),
    )
    return 0
  },
}
