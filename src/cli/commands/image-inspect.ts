import type { CommandDef } from '../command.ts'
import { str } from '../command.ts'
import { inspectAll, inspectFormatFlag } from './inspect.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  short: 'Display detailed information on one or more images',
  args: { min: 1 },
  flags: [
    inspectFormatFlag,
    {
      long: 'platform',
      kind: 'string',
      desc: `Inspect a specific platform of the multi-platform image.
If the image or the server is not multi-platform capable, the command will error out if the platform does not match.
'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)`,
      minAPI: '1.49',
    },
  ],
  async run(ctx, f) {
    return inspectAll(await ctx.client(), f.args, str(f, 'format'), 'image')
  },
}
