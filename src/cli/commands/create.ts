import type { CommandDef } from '../command.ts'
import { bool, CliError, out, str } from '../command.ts'
import { createFlags, parseContainerConfig } from '../containeropts.ts'
import { checkPullOption, createContainer, withHelp } from '../containerrun.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Create a new container',
  aliases: ['berth container create', 'berth create'],
  interspersed: false,
  args: { min: 1 },
  flags: createFlags,
  async run(ctx, f) {
    let cfg
    try {
      checkPullOption(str(f, 'pull'))
      cfg = await parseContainerConfig(f, false, ctx.host.slice('unix://'.length))
    } catch (e) {
      throw new CliError(withHelp((e as Error).message, 'create'), 125)
    }
    try {
      const client = await ctx.client()
      const id = await createContainer(client, cfg, str(f, 'pull'), bool(f, 'quiet'))
      out(id + '\n')
    } catch (e) {
      // docker's create prints the daemon's error as it is, with status 1
      if (e instanceof CliError) throw e
      throw new CliError((e as Error).message, 1)
    }
    return 0
  },
}
