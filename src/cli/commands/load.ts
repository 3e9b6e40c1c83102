import { createReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import { displayJSONMessages, JSONMessageError } from '../client.ts'
import type { CommandDef } from '../command.ts'
import { bool, CliError, out, str } from '../command.ts'

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Load an image from a tar archive or STDIN',
  aliases: ['berth image load', 'berth load'],
  args: { max: 0 },
  flags: [
    {
      long: 'input',
      short: 'i',
      kind: 'string',
      desc: 'Read from tar archive file, instead of STDIN',
    },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Suppress the load output' },
    {
      long: 'platform',
      kind: 'string',
      desc: 'Load only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")',
      minAPI: '1.48',
    },
  ],
  async run(ctx, f) {
    const input = str(f, 'input')
    let body: Readable
    if (input) {
      body = createReadStream(input)
      await new Promise<void>((resolve, reject) => {
        body.once('open', () => resolve())
        body.once('error', (e: NodeJS.ErrnoException) =>
          reject(
            new CliError(
              e.code === 'ENOENT' ? `open ${input}: no such file or directory` : e.message,
            ),
          ),
        )
      })
    } else {
      if (process.stdin.isTTY) throw new CliError('requested load from stdin, but stdin is empty')
      body = process.stdin
    }
    const client = await ctx.client()
    const res = await client.request('POST', '/images/load', {
      query: { quiet: bool(f, 'quiet') || !process.stdout.isTTY ? true : undefined },
      body,
      headers: { 'Content-Type': 'application/x-tar' },
    })
    const ct = String(res.headers['content-type'] ?? '')
    if (ct.includes('json')) {
      try {
        await displayJSONMessages(res, out)
      } catch (e) {
        if (e instanceof JSONMessageError) throw new CliError(e.message)
        throw e
      }
    } else {
      for await (const c of res) out((c as Buffer).toString('utf8'))
    }
    return 0
  },
}
