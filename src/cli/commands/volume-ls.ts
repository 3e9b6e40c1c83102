import type { CommandDef } from '../command.ts'
import { bool, encodeFilters, formatFlagDesc, list, out, str } from '../command.ts'
import { formatRows } from '../template/index.ts'
import { volumeContext, volumeHeaders } from '../volumefmt.ts'
import type { VolumeSummary } from '../volumefmt.ts'

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'List volumes',
  aliases: ['berth volume ls', 'berth volume list'],
  args: { max: 0 },
  flags: [
    {
      long: 'cluster',
      kind: 'bool',
      desc: 'Display only cluster volumes, and use cluster volume list formatting',
    },
    {
      long: 'filter',
      short: 'f',
      kind: 'list',
      typeName: 'filter',
      desc: 'Provide filter values (e.g. "dangling=true")',
    },
    { long: 'format', kind: 'string', desc: formatFlagDesc },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only display volume names' },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    const rep = await client.json<{ Volumes?: VolumeSummary[] | null; Warnings?: string[] | null }>(
      'GET',
      '/volumes',
      { query: { filters: encodeFilters(list(f, 'filter')) } },
    )
    const vols = [...(rep.Volumes ?? [])].sort((a, b) =>
      a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0,
    )
    let format = str(f, 'format')
    if (bool(f, 'quiet')) format = '{{.Name}}'
    else if (!format || format === 'table') format = 'table {{.Driver}}\t{{.Name}}'
    out(formatRows(format, vols.map(volumeContext), volumeHeaders))
    for (const w of rep.Warnings ?? []) process.stderr.write(w + '\n')
    return 0
  },
}
