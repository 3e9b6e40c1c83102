import type { CommandDef } from '../command.ts'
import { forEach, out } from '../command.ts'

export const command: CommandDef = {
  usage: 'CONTAINER [CONTAINER...]',
  short: 'Unpause all processes within one or more containers',
  aliases: ['berth container unpause', 'berth unpause'],
  args: { min: 1 },
  flags: [],
  async run(ctx, f) {
    const client = await ctx.client()
    return forEach(f.args, async (n) => {
      const res = await client.request('POST', `/containers/${encodeURIComponent(n)}/unpause`)
      res.resume()
      out(n + '\n')
    })
  },
}
