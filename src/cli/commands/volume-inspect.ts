import type { CommandDef } from '../command.ts'
import { str } from '../command.ts'
import { inspectAll, inspectFormatFlag } from './inspect.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  short: 'Display detailed information on one or more volumes',
  args: { min: 1 },
  flags: [inspectFormatFlag],
  async run(ctx, f) {
    return inspectAll(await ctx.client(), f.args, str(f, 'format'), 'volume')
  },
}
