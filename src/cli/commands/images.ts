import type { CommandDef } from '../command.ts'
import { bool, encodeFilters, filterFlag, formatFlagDesc, list, out, str } from '../command.ts'
import { imageContexts, imageHeaders } from '../formatters.ts'
import type { ImageSummary } from '../formatters.ts'
import { formatRows } from '../template/index.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  short: 'List images',
  aliases: ['berth image ls', 'berth image list', 'berth images'],
  args: { max: 1 },
  flags: [
    {
      long: 'all',
      short: 'a',
      kind: 'bool',
      desc: 'Show all images (default hides intermediate images)',
    },
    { long: 'digests', kind: 'bool', desc: 'Show digests' },
    filterFlag,
    { long: 'format', kind: 'string', desc: formatFlagDesc },
    { long: 'no-trunc', kind: 'bool', desc: "Don't truncate output" },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only show image IDs' },
    {
      long: 'tree',
      kind: 'bool',
      desc: 'List multi-platform images as a tree (EXPERIMENTAL)',
      minAPI: '1.47',
    },
  ],
  async run(ctx, f) {
    const filters = [...list(f, 'filter')]
    if (f.args[0]) filters.push(`reference=${f.args[0]}`)
    const client = await ctx.client()
    const images = await client.json<ImageSummary[]>('GET', '/images/json', {
      query: { all: bool(f, 'all') || undefined, filters: encodeFilters(filters) },
    })
    let format = str(f, 'format')
    const digests = bool(f, 'digests')
    if (bool(f, 'quiet')) format = '{{.ID}}'
    else if (!format || format === 'table') {
      format = digests
        ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
        : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
    }
    const rows = imageContexts(images, !bool(f, 'no-trunc'), digests || format.includes('.Digest'))
    out(formatRows(format, rows, imageHeaders))
    return 0
  },
}
