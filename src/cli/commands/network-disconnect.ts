import type { CommandDef } from '../command.ts'
import { bool } from '../command.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] NETWORK CONTAINER',
  short: 'Disconnect a container from a network',
  args: { min: 2, max: 2 },
  flags: [
    {
      long: 'force',
      short: 'f',
      kind: 'bool',
      desc: 'Force the container to disconnect from a network',
    },
  ],
  async run(ctx, f) {
    const [network, container] = f.args as [string, string]
    const client = await ctx.client()
    const res = await client.request(
      'POST',
      `/networks/${encodeURIComponent(network)}/disconnect`,
      {
        body: { Container: container, Force: bool(f, 'force') },
      },
    )
    res.resume()
    return 0
  },
}
