import type { CommandDef } from '../command.ts'
import { bool, formatFlagDesc, out, str } from '../command.ts'
import { historyContext, historyHeaders } from '../formatters.ts'
import type { HistoryItem } from '../formatters.ts'
import { formatRows } from '../template/index.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] IMAGE',
  short: 'Show the history of an image',
  aliases: ['berth image history', 'berth history'],
  args: { min: 1, max: 1 },
  flags: [
    { long: 'format', kind: 'string', desc: formatFlagDesc },
    {
      long: 'human',
      short: 'H',
      kind: 'bool',
      def: true,
      desc: 'Print sizes and dates in human readable format',
    },
    { long: 'no-trunc', kind: 'bool', desc: "Don't truncate output" },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only show image IDs' },
    {
      long: 'platform',
      kind: 'string',
      desc: 'Show history for the given platform. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")',
      minAPI: '1.48',
    },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    const items = await client.json<HistoryItem[]>(
      'GET',
      `/images/${encodeURIComponent(f.args[0])}/history`,
    )
    let format = str(f, 'format')
    if (bool(f, 'quiet')) format = '{{.ID}}'
    else if (!format || format === 'table') {
      format = 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}'
    }
    const rows = items.map((h) => historyContext(h, !bool(f, 'no-trunc'), bool(f, 'human')))
    const headers = bool(f, 'human')
      ? historyHeaders
      : { ...historyHeaders, CreatedSince: 'CREATED AT' }
    out(formatRows(format, rows, headers))
    return 0
  },
}
