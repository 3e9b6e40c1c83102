import { DaemonError } from '../client.ts'
import type { CommandDef } from '../command.ts'
import { CliError, out, str } from '../command.ts'
import { render } from '../template/index.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  short: 'Display detailed information on one or more volumes',
  args: { min: 1 },
  flags: [
    {
      long: 'format',
      short: 'f',
      kind: 'string',
      desc: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
    },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    const found: unknown[] = []
    const errs: string[] = []
    for (const n of f.args) {
      try {
        found.push(await client.json<unknown>('GET', `/volumes/${encodeURIComponent(n)}`))
      } catch (e) {
        if (e instanceof DaemonError && e.status === 404) errs.push(e.message)
        else throw e
      }
    }
    const format = str(f, 'format')
    if (format && format !== 'json') {
      let s = ''
      for (const v of found) s += render(format, v) + '\n'
      out(s)
    } else out((found.length === 0 ? '[]' : JSON.stringify(found, null, 4)) + '\n')
    if (errs.length > 0) throw new CliError(errs.join('\n'))
    return 0
  },
}
