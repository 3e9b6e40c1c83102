import type { CommandDef } from '../command.ts'
import { str } from '../command.ts'
import { inspectAll, inspectFormatFlag } from './inspect.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] NETWORK [NETWORK...]',
  short: 'Display detailed information on one or more networks',
  args: { min: 1 },
  flags: [
    inspectFormatFlag,
    { long: 'verbose', short: 'v', kind: 'bool', desc: 'Verbose output for diagnostics' },
  ],
  async run(ctx, f) {
    return inspectAll(await ctx.client(), f.args, str(f, 'format'), 'network')
  },
}
