import type { CommandDef } from '../command.ts'
import { CliError } from '../command.ts'

export const command: CommandDef = {
  usage: 'CONTAINER NEW_NAME',
  short: 'Rename a container',
  aliases: ['berth container rename', 'berth rename'],
  args: { min: 2, max: 2 },
  flags: [],
  async run(ctx, f) {
    const [oldName, newName] = f.args.map((a) => a.trim()) as [string, string]
    if (oldName === '' || newName === '') {
      throw new CliError('Error: Neither old nor new names may be empty')
    }
    const client = await ctx.client()
    try {
      const res = await client.request(
        'POST',
        `/containers/${encodeURIComponent(oldName)}/rename`,
        {
          query: { name: newName },
        },
      )
      res.resume()
    } catch (e) {
      throw new CliError(
        `${(e as Error).message}\nError: failed to rename container named ${oldName}`,
      )
    }
    return 0
  },
}
