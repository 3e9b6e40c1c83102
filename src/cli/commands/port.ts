import type { CommandDef } from '../command.ts'
import { CliError, out } from '../command.ts'

type Bindings = Record<string, { HostIp: string; HostPort: string }[] | null>

/** An address and port as Go's net.JoinHostPort writes them (IPv6 in brackets). */
function joinHostPort(ip: string, port: string): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}

function sortKey(key: string): [number, string] {
  const [p, proto] = key.split('/')
  return [Number(p), proto ?? 'tcp']
}

export const command: CommandDef = {
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  short: 'List port mappings or a specific mapping for the container',
  aliases: ['berth container port', 'berth port'],
  args: { min: 1, max: 2 },
  flags: [],
  async run(ctx, f) {
    const [name, wanted] = f.args as [string, string | undefined]
    const client = await ctx.client()
    const c = await client.json<{ NetworkSettings?: { Ports?: Bindings | null } }>(
      'GET',
      `/containers/${encodeURIComponent(name)}/json`,
    )
    const ports = c.NetworkSettings?.Ports ?? {}
    if (wanted !== undefined) {
      const [p, proto = 'tcp'] = wanted.split('/')
      const list = ports[`${p}/${proto}`]
      if (!list || list.length === 0)
        throw new CliError(`Error: No public port '${wanted}' published for ${name}`)
      out(list.map((b) => joinHostPort(b.HostIp, b.HostPort) + '\n').join(''))
      return 0
    }
    // docker sorts by port number, then protocol.
    const keys = Object.keys(ports).sort((a, b) => {
      const [pa, xa] = sortKey(a)
      const [pb, xb] = sortKey(b)
      return pa - pb || xa.localeCompare(xb)
    })
    let s = ''
    for (const k of keys)
      for (const b of ports[k] ?? []) s += `${k} -> ${joinHostPort(b.HostIp, b.HostPort)}\n`
    out(s)
    return 0
  },
}
