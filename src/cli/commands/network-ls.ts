import type { CommandDef } from '../command.ts'
import { bool, encodeFilters, filterFlag, formatFlagDesc, list, out, str } from '../command.ts'
import { STRUCT, formatRows } from '../template/index.ts'

interface NetworkSummary {
  Name: string
  Id: string
  Created: string
  Scope: string
  Driver: string
  EnableIPv6: boolean
  EnableIPv4?: boolean
  Internal: boolean
  Labels: Record<string, string> | null
}

const headers: Record<string, string> = {
  ID: 'NETWORK ID',
  Name: 'NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  IPv4: 'IPV4',
  IPv6: 'IPV6',
  Internal: 'INTERNAL',
  Labels: 'LABELS',
  CreatedAt: 'CREATED AT',
}

/** Go's time.Time.String() for an RFC 3339 time with nanoseconds, as docker prints CreatedAt. */
function goTime(rfc: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(rfc)
  if (!m) return rfc
  const frac = (m[3] ?? '').replace(/0+$/, '')
  return `${m[1]} ${m[2]}${frac === '.' ? '' : frac} +0000 UTC`
}

/** docker's networkContext: the fields a `network ls --format` template can use. */
function networkContext(n: NetworkSummary, trunc: boolean): object {
  return {
    [STRUCT]: '*formatter.networkContext',
    ID: () => (trunc ? n.Id.slice(0, 12) : n.Id),
    Name: () => n.Name,
    Driver: () => n.Driver,
    Scope: () => n.Scope,
    IPv4: () => String(n.EnableIPv4 === true),
    IPv6: () => String(n.EnableIPv6),
    Internal: () => String(n.Internal),
    Labels: () =>
      Object.entries(n.Labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    Label: (name: unknown) => n.Labels?.[String(name)] ?? '',
    CreatedAt: () => goTime(n.Created),
  }
}

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'List networks',
  aliases: ['berth network ls', 'berth network list'],
  args: { max: 0 },
  flags: [
    { ...filterFlag, desc: 'Provide filter values (e.g. "driver=bridge")' },
    { long: 'format', kind: 'string', desc: formatFlagDesc },
    { long: 'no-trunc', kind: 'bool', desc: 'Do not truncate the output' },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only display network IDs' },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    const nets = await client.json<NetworkSummary[]>('GET', '/networks', {
      query: { filters: encodeFilters(list(f, 'filter')) },
    })
    const sorted = [...nets].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0))
    let format = str(f, 'format')
    if (bool(f, 'quiet')) format = '{{.ID}}'
    else if (!format || format === 'table')
      format = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}'
    const trunc = !bool(f, 'no-trunc')
    out(
      formatRows(
        format,
        sorted.map((n) => networkContext(n, trunc)),
        headers,
      ),
    )
    return 0
  },
}
