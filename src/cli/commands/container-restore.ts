import type { CommandDef } from '../command.ts'
import { CliError, err, forEach, out, str } from '../command.ts'
import { berthOnly } from '../guard.ts'

interface RestoreResult {
  Id: string
  Name: string
  Warnings: string[] | null
}

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Bring back a removed container from the trash (berthd --keep-removed)',
  args: { min: 1 },
  flags: [
    {
      long: 'name',
      kind: 'string',
      desc: 'Name for the restored container (default: its old name, when free)',
    },
  ],
  async run(ctx, f) {
    const name = str(f, 'name')
    if (name && f.args.length > 1) throw new CliError('berth: --name restores one container only')
    const client = await ctx.client()
    return forEach(f.args, async (ref) => {
      const r = await berthOnly<RestoreResult>(
        client,
        'POST',
        `/berth/v1/trash/${encodeURIComponent(ref)}/restore`,
        { name: name || undefined },
      )
      if (r === undefined)
        throw new CliError('this daemon keeps no removed containers (not berthd)')
      for (const w of r.Warnings ?? []) err(`WARNING: ${w}\n`)
      out(r.Name + '\n')
    })
  },
}
