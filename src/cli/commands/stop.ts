import type { CommandDef } from '../command.ts'
import { forEach, out, str } from '../command.ts'

/** `stop` and `restart` take the same flags and differ only in the endpoint they call. */
export function stopLike(verb: 'stop' | 'restart', short: string): CommandDef {
  return {
    usage: '[OPTIONS] CONTAINER [CONTAINER...]',
    short,
    aliases: [`berth container ${verb}`, `berth ${verb}`],
    args: { min: 1 },
    flags: [
      { long: 'signal', short: 's', kind: 'string', desc: 'Signal to send to the container' },
      {
        long: 'timeout',
        short: 't',
        kind: 'int',
        desc: 'Seconds to wait before killing the container',
      },
    ],
    async run(ctx, f) {
      const client = await ctx.client()
      return forEach(f.args, async (n) => {
        const res = await client.request('POST', `/containers/${encodeURIComponent(n)}/${verb}`, {
          query: {
            t: f.changed.has('timeout') ? String(f.values.timeout) : undefined,
            signal: str(f, 'signal') || undefined,
          },
        })
        res.resume()
        out(n + '\n')
      })
    },
  }
}

export const command: CommandDef = stopLike('stop', 'Stop one or more running containers')
