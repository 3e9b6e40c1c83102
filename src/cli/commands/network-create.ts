import type { CommandDef } from '../command.ts'
import { CliError, bool, list, out, str } from '../command.ts'

function toMap(values: string[]): Record<string, string> {
  const m: Record<string, string> = {}
  for (const v of values) {
    const eq = v.indexOf('=')
    m[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1)
  }
  return m
}

/** An IPv4 address or subnet as a number and prefix, for the CLI's own pairing checks. */
function v4(s: string): { n: number; prefix: number } | undefined {
  const [addr, bits] = s.split('/')
  const parts = (addr ?? '').split('.')
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    return undefined
  const n = parts.reduce((a, p) => a * 256 + Number(p), 0)
  const prefix = bits === undefined ? 32 : Number(bits)
  return Number.isInteger(prefix) && prefix >= 0 && prefix <= 32 ? { n, prefix } : undefined
}

function within(subnet: string, addr: string): boolean {
  const s = v4(subnet)
  const a = v4(addr)
  if (!s || !a) return false
  const size = 2 ** (32 - s.prefix)
  return Math.floor(a.n / size) === Math.floor(s.n / size)
}

/** docker's consolidateIpam: each --ip-range and --gateway goes with the --subnet holding it. */
function ipamConfig(
  subnets: string[],
  ranges: string[],
  gateways: string[],
): Record<string, string>[] {
  if (subnets.length === 0 && (ranges.length > 0 || gateways.length > 0)) {
    throw new CliError('every ip-range or gateway must have a corresponding subnet')
  }
  const cfgs: Record<string, string>[] = subnets.map((s) => ({ Subnet: s }))
  for (const r of ranges) {
    const c = cfgs.find((x) => within(x.Subnet as string, r))
    if (!c) throw new CliError(`no matching subnet for range ${r}`)
    if (c.IPRange)
      throw new CliError(
        `cannot configure multiple ranges (${r}, ${c.IPRange}) on the same subnet (${c.Subnet})`,
      )
    c.IPRange = r
  }
  for (const g of gateways) {
    const c = cfgs.find((x) => within(x.Subnet as string, g))
    if (!c) throw new CliError(`no matching subnet for gateway ${g}`)
    if (c.Gateway)
      throw new CliError(
        `cannot configure multiple gateways (${g}, ${c.Gateway}) for the same subnet (${c.Subnet})`,
      )
    c.Gateway = g
  }
  return cfgs
}

export const command: CommandDef = {
  usage: '[OPTIONS] NETWORK',
  short: 'Create a network',
  args: { min: 1, max: 1 },
  flags: [
    { long: 'attachable', kind: 'bool', desc: 'Enable manual container attachment' },
    {
      long: 'aux-address',
      kind: 'list',
      typeName: 'map',
      desc: 'Auxiliary IPv4 or IPv6 addresses used by Network driver',
    },
    {
      long: 'config-from',
      kind: 'string',
      desc: 'The network from which to copy the configuration',
    },
    { long: 'config-only', kind: 'bool', desc: 'Create a configuration only network' },
    {
      long: 'driver',
      short: 'd',
      kind: 'string',
      def: 'bridge',
      desc: 'Driver to manage the Network',
    },
    {
      long: 'gateway',
      kind: 'list',
      typeName: 'strings',
      desc: 'IPv4 or IPv6 Gateway for the master subnet',
    },
    { long: 'ingress', kind: 'bool', desc: 'Create swarm routing-mesh network' },
    { long: 'internal', kind: 'bool', desc: 'Restrict external access to the network' },
    {
      long: 'ip-range',
      kind: 'list',
      typeName: 'strings',
      desc: 'Allocate container ip from a sub-range',
    },
    { long: 'ipam-driver', kind: 'string', def: 'default', desc: 'IP Address Management Driver' },
    { long: 'ipam-opt', kind: 'list', typeName: 'map', desc: 'Set IPAM driver specific options' },
    { long: 'ipv6', kind: 'bool', desc: 'Enable or disable IPv6 networking' },
    { long: 'label', kind: 'list', desc: 'Set metadata on a network' },
    { long: 'opt', short: 'o', kind: 'list', typeName: 'map', desc: 'Set driver specific options' },
    { long: 'scope', kind: 'string', desc: "Control the network's scope" },
    {
      long: 'subnet',
      kind: 'list',
      typeName: 'strings',
      desc: 'Subnet in CIDR format that represents a network segment',
    },
  ],
  async run(ctx, f) {
    const name = f.args[0] as string
    const config = ipamConfig(list(f, 'subnet'), list(f, 'ip-range'), list(f, 'gateway'))
    if (list(f, 'aux-address').length > 0) {
      throw new CliError('berth does not support --aux-address')
    }
    const client = await ctx.client()
    const r = await client.json<{ Id: string; Warning?: string }>('POST', '/networks/create', {
      body: {
        Name: name,
        // Daemons before API 1.44 refuse a taken name only when asked to.
        CheckDuplicate: true,
        Driver: str(f, 'driver') || 'bridge',
        Scope: str(f, 'scope'),
        EnableIPv6: bool(f, 'ipv6'),
        IPAM: {
          Driver: str(f, 'ipam-driver') || 'default',
          Config: config,
          Options: toMap(list(f, 'ipam-opt')),
        },
        Internal: bool(f, 'internal'),
        Attachable: bool(f, 'attachable'),
        Ingress: bool(f, 'ingress'),
        ConfigOnly: bool(f, 'config-only'),
        ...(str(f, 'config-from') ? { ConfigFrom: { Network: str(f, 'config-from') } } : {}),
        Options: toMap(list(f, 'opt')),
        Labels: toMap(list(f, 'label')),
      },
    })
    if (r.Warning) process.stderr.write(r.Warning + '\n')
    out(r.Id + '\n')
    return 0
  },
}
