import type { CommandDef } from '../command.ts'
import { bool, forEach, out } from '../command.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Remove one or more containers',
  aliases: ['berth container rm', 'berth container remove', 'berth rm'],
  args: { min: 1 },
  flags: [
    {
      long: 'force',
      short: 'f',
      kind: 'bool',
      desc: 'Force the removal of a running container (uses SIGKILL)',
    },
    { long: 'link', short: 'l', kind: 'bool', desc: 'Remove the specified link' },
    {
      long: 'volumes',
      short: 'v',
      kind: 'bool',
      desc: 'Remove anonymous volumes associated with the container',
    },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    return forEach(f.args, async (n) => {
      const name = n.replace(/^\/+/, '')
      const res = await client.request('DELETE', `/containers/${encodeURIComponent(name)}`, {
        query: {
          force: bool(f, 'force') || undefined,
          v: bool(f, 'volumes') || undefined,
          link: bool(f, 'link') || undefined,
        },
      })
      res.resume()
      out(n + '\n')
    })
  },
}
