import type { CommandDef } from '../command.ts'
import { out } from '../command.ts'
import { tabwrite } from '../tabwriter.ts'

export const command: CommandDef = {
  usage: 'CONTAINER [ps OPTIONS]',
  short: 'Display the running processes of a container',
  aliases: ['berth container top', 'berth top'],
  args: { min: 1 },
  interspersed: false,
  flags: [],
  async run(ctx, f) {
    const [name, ...psArgs] = f.args as [string, ...string[]]
    const client = await ctx.client()
    const r = await client.json<{ Titles: string[]; Processes: string[][] | null }>(
      'GET',
      `/containers/${encodeURIComponent(name)}/top`,
      { query: { ps_args: psArgs.length > 0 ? psArgs.join(' ') : undefined } },
    )
    // docker's top table: tabwriter with a minimum width of 20 and padding 3.
    let text = r.Titles.join('\t') + '\n'
    for (const p of r.Processes ?? []) text += p.join('\t') + '\n'
    out(tabwrite(text, { minwidth: 20, padding: 3 }))
    return 0
  },
}
