import type { CommandDef } from '../command.ts'
import { forEach, out, str } from '../command.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Restart one or more containers',
  aliases: ['berth container restart', 'berth restart'],
  args: { min: 1 },
  flags: [
    { long: 'signal', short: 's', kind: 'string', desc: 'Signal to send to the container' },
    {
      long: 'timeout',
      short: 't',
      kind: 'int',
      desc: 'Seconds to wait before killing the container',
    },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    return forEach(f.args, async (n) => {
      const res = await client.request('POST', `/containers/${encodeURIComponent(n)}/restart`, {
        query: {
          t: f.changed.has('timeout') ? String(f.values.timeout) : undefined,
          signal: str(f, 'signal') || undefined,
        },
      })
      res.resume()
      out(n + '\n')
    })
  },
}
