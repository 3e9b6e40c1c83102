import type { CommandDef } from '../command.ts'
import { out } from '../command.ts'

const KINDS = ['C', 'A', 'D']

export const command: CommandDef = {
  usage: 'CONTAINER',
  short: "Inspect changes to files or directories on a container's filesystem",
  aliases: ['berth container diff', 'berth diff'],
  args: { min: 1, max: 1 },
  flags: [],
  async run(ctx, f) {
    const client = await ctx.client()
    const id = encodeURIComponent(f.args[0] as string)
    const changes = await client.json<{ Path: string; Kind: number }[] | null>(
      'GET',
      `/containers/${id}/changes`,
    )
    for (const c of changes ?? []) out(`${KINDS[c.Kind] ?? '?'} ${c.Path}\n`)
    return 0
  },
}
