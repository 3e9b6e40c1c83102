import type { CommandDef } from '../command.ts'
import { str } from '../command.ts'
import { inspectAll } from './inspect.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  short: 'Display detailed information on one or more images',
  args: { min: 1 },
  flags: [
    {
      long: 'format',
      short: 'f',
      kind: 'string',
      desc: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
    },
  ],
  async run(ctx, f) {
    return inspectAll(await ctx.client(), f.args, str(f, 'format'), 'image')
  },
}
