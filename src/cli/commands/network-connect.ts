import type { CommandDef } from '../command.ts'
import { list, str } from '../command.ts'

function toMap(values: string[]): Record<string, string> {
  const m: Record<string, string> = {}
  for (const v of values) {
    const eq = v.indexOf('=')
    m[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1)
  }
  return m
}

export const command: CommandDef = {
  usage: '[OPTIONS] NETWORK CONTAINER',
  short: 'Connect a container to a network',
  args: { min: 2, max: 2 },
  flags: [
    {
      long: 'alias',
      kind: 'list',
      typeName: 'strings',
      desc: 'Add network-scoped alias for the container',
    },
    {
      long: 'driver-opt',
      kind: 'list',
      typeName: 'strings',
      desc: 'driver options for the network',
    },
    { long: 'ip', kind: 'string', desc: 'IPv4 address (e.g., "172.30.100.104")' },
    { long: 'ip6', kind: 'string', desc: 'IPv6 address (e.g., "2001:db8::33")' },
    { long: 'link', kind: 'list', typeName: 'list', desc: 'Add link to another container' },
    {
      long: 'link-local-ip',
      kind: 'list',
      typeName: 'strings',
      desc: 'Add a link-local address for the container',
    },
  ],
  async run(ctx, f) {
    const [network, container] = f.args as [string, string]
    const ipam: Record<string, unknown> = {}
    if (str(f, 'ip')) ipam.IPv4Address = str(f, 'ip')
    if (str(f, 'ip6')) ipam.IPv6Address = str(f, 'ip6')
    if (list(f, 'link-local-ip').length > 0) ipam.LinkLocalIPs = list(f, 'link-local-ip')
    const client = await ctx.client()
    const res = await client.request('POST', `/networks/${encodeURIComponent(network)}/connect`, {
      body: {
        Container: container,
        EndpointConfig: {
          IPAMConfig: ipam,
          Links: list(f, 'link'),
          Aliases: list(f, 'alias'),
          DriverOpts: toMap(list(f, 'driver-opt')),
        },
      },
    })
    res.resume()
    return 0
  },
}
