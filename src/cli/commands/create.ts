import type { CommandDef } from '../command.ts'
import { bool, out, str } from '../command.ts'
import { createFlags, parseContainerConfig } from '../containeropts.ts'
import { createContainer, toStatusError, withHelp } from '../containerrun.ts'
import { CliError } from '../command.ts'

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
      cfg = await parseContainerConfig(f, true)
    } catch (e) {
      throw new CliError(withHelp((e as Error).message, 'create'), 125)
    }
    // create keeps the attach flags the user asked for, unlike a detached run
    cfg.body.AttachStdin = bool(f, 'interactive')
    cfg.body.AttachStdout = true
    cfg.body.AttachStderr = true
    try {
      const client = await ctx.client()
      const id = await createContainer(client, cfg, str(f, 'pull'), bool(f, 'quiet'), ctx.config)
      out(id + '\n')
    } catch (e) {
      const se = toStatusError(e, 'create')
      throw new CliError(se.message, 125)
    }
    return 0
  },
}
