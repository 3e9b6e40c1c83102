import { createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import type { CommandDef } from '../command.ts'
import { CliError, str } from '../command.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER',
  short: "Export a container's filesystem as a tar archive",
  aliases: ['berth container export', 'berth export'],
  args: { min: 1, max: 1 },
  flags: [
    { long: 'output', short: 'o', kind: 'string', desc: 'Write to a file, instead of STDOUT' },
  ],
  async run(ctx, f) {
    const output = str(f, 'output')
    if (!output && process.stdout.isTTY) {
      throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect')
    }
    const client = await ctx.client()
    const id = encodeURIComponent(f.args[0] as string)
    const res = await client.request('GET', `/containers/${id}/export`)
    if (output) await pipeline(res, createWriteStream(output))
    else await pipeline(res, process.stdout, { end: false })
    return 0
  },
}
