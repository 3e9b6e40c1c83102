import { createWriteStream } from 'node:fs'
import { rename, unlink } from 'node:fs/promises'
import { dirname, join, basename } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { CommandDef } from '../command.ts'
import { CliError, str } from '../command.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  short: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  aliases: ['berth image save', 'berth save'],
  args: { min: 1 },
  flags: [
    { long: 'output', short: 'o', kind: 'string', desc: 'Write to a file, instead of STDOUT' },
    {
      long: 'platform',
      kind: 'string',
      desc: 'Save only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")',
      minAPI: '1.48',
    },
  ],
  async run(ctx, f) {
    const output = str(f, 'output')
    if (!output && process.stdout.isTTY) {
      throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect')
    }
    const client = await ctx.client()
    const res = await client.request('GET', '/images/get', { query: { names: f.args } })
    if (!output) {
      await pipeline(res, process.stdout, { end: false })
      return 0
    }
    // write beside the target and rename, so a failed save never leaves a partial file
    const tmp = join(dirname(output), `.${basename(output)}.${process.pid}.tmp`)
    try {
      await pipeline(res, createWriteStream(tmp))
      await rename(tmp, output)
    } catch (e) {
      await unlink(tmp).catch(() => undefined)
      throw new CliError(`failed to save image: ${(e as Error).message}`)
    }
    return 0
  },
}
