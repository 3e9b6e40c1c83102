import type { CommandDef } from '../command.ts'
import { bool, forEach, out } from '../command.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  short: 'Remove one or more volumes',
  long: 'Remove one or more volumes. You cannot remove a volume that is in use by a container.',
  aliases: ['berth volume rm', 'berth volume remove'],
  args: { min: 1 },
  flags: [
    { long: 'force', short: 'f', kind: 'bool', desc: 'Force the removal of one or more volumes' },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    return forEach(f.args, async (n) => {
      const res = await client.request('DELETE', `/volumes/${encodeURIComponent(n)}`, {
        query: { force: bool(f, 'force') || undefined },
      })
      res.resume()
      out(n + '\n')
    })
  },
}
