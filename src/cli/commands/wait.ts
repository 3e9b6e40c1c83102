import type { CommandDef } from '../command.ts'
import { forEach, out } from '../command.ts'
import { waitExit } from '../containerrun.ts'

export const command: CommandDef = {
  usage: 'CONTAINER [CONTAINER...]',
  short: 'Block until one or more containers stop, then print their exit codes',
  aliases: ['berth container wait', 'berth wait'],
  args: { min: 1 },
  flags: [],
  async run(ctx, f) {
    const client = await ctx.client()
    return forEach(f.args, async (n) => {
      // docker sends no condition: the daemon's default, not-running
      out(`${await waitExit(client, n, '')}\n`)
    })
  },
}
