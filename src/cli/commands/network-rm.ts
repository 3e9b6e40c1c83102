import type { CommandDef } from '../command.ts'
import { CliError, bool, out } from '../command.ts'
import { DaemonError } from '../client.ts'

export const command: CommandDef = {
  usage: 'NETWORK [NETWORK...]',
  short: 'Remove one or more networks',
  aliases: ['berth network rm', 'berth network remove'],
  args: { min: 1 },
  flags: [
    { long: 'force', short: 'f', kind: 'bool', desc: 'Do not error if the network does not exist' },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    const errs: string[] = []
    for (const n of f.args) {
      try {
        const res = await client.request('DELETE', `/networks/${encodeURIComponent(n)}`)
        res.resume()
        out(n + '\n')
      } catch (e) {
        if (bool(f, 'force') && e instanceof DaemonError && e.status === 404) continue
        errs.push((e as Error).message)
      }
    }
    // docker prints each failure, then cobra's "exit status 1".
    if (errs.length > 0) throw new CliError([...errs, 'exit status 1'].join('\n'))
    return 0
  },
}
