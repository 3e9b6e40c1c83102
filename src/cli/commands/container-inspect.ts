import type { CommandDef } from '../command.ts'
import { bool, str } from '../command.ts'
import { inspectAll, inspectFormatFlag } from './inspect.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Display detailed information on one or more containers',
  args: { min: 1 },
  flags: [
    inspectFormatFlag,
    { long: 'size', short: 's', kind: 'bool', desc: 'Display total file sizes' },
  ],
  async run(ctx, f) {
    return inspectAll(await ctx.client(), f.args, str(f, 'format'), 'container', bool(f, 'size'))
  },
}
