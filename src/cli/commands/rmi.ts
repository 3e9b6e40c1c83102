import type { CommandDef } from '../command.ts'
import { bool, forEach, out } from '../command.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  short: 'Remove one or more images',
  aliases: ['berth image rm', 'berth image remove', 'berth rmi'],
  args: { min: 1 },
  flags: [
    { long: 'force', short: 'f', kind: 'bool', desc: 'Force removal of the image' },
    { long: 'no-prune', kind: 'bool', desc: 'Do not delete untagged parents' },
    {
      long: 'platform',
      kind: 'list',
      typeName: 'strings',
      desc: 'Remove only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")',
      minAPI: '1.50',
    },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    return forEach(f.args, async (name) => {
      const dels = await client.json<Array<{ Untagged?: string; Deleted?: string }>>(
        'DELETE',
        `/images/${encodeURIComponent(name)}`,
        {
          query: {
            force: bool(f, 'force') || undefined,
            noprune: bool(f, 'no-prune') || undefined,
          },
        },
      )
      let s = ''
      for (const d of dels ?? []) {
        if (d.Deleted) s += `Deleted: ${d.Deleted}\n`
        else if (d.Untagged) s += `Untagged: ${d.Untagged}\n`
      }
      out(s)
    })
  },
}
