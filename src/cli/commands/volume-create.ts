import type { CommandDef } from '../command.ts'
import { CliError, list, out, str } from '../command.ts'
import { kvMap, labelValue } from '../dockeropts.ts'
import { bytesFlag, sizeValue } from '../hostopts.ts'
import type { FlagDef } from '../flags.ts'

const cluster = (f: Omit<FlagDef, 'minAPI'>): FlagDef => ({ ...f, minAPI: '1.42', swarm: true })

function topologies(values: readonly string[]): Array<{ Segments: Record<string, string> }> {
  return values.map((t) => ({ Segments: kvMap(t.split(',')) }))
}

export const command: CommandDef = {
  usage: '[OPTIONS] [VOLUME]',
  short: 'Create a volume',
  args: { max: 1 },
  flags: [
    {
      long: 'driver',
      short: 'd',
      kind: 'string',
      def: 'local',
      desc: 'Specify volume driver name',
    },
    { long: 'label', kind: 'list', desc: 'Set metadata for a volume', value: labelValue },
    { long: 'name', kind: 'string', desc: 'Specify volume name', hidden: true },
    {
      long: 'opt',
      short: 'o',
      kind: 'list',
      typeName: 'map',
      defText: 'map[]',
      desc: 'Set driver specific options',
    },
    // Swarm's cluster volumes: sent as docker sends them; the daemon answers.
    cluster({ long: 'group', kind: 'string', desc: 'Cluster Volume group (cluster volumes)' }),
    cluster({
      long: 'scope',
      kind: 'string',
      def: 'single',
      desc: 'Cluster Volume access scope ("single", "multi")',
    }),
    cluster({
      long: 'sharing',
      kind: 'string',
      def: 'none',
      desc: 'Cluster Volume access sharing ("none", "readonly", "onewriter", "all")',
    }),
    cluster({
      long: 'availability',
      kind: 'string',
      def: 'active',
      desc: 'Cluster Volume availability ("active", "pause", "drain")',
    }),
    cluster({
      long: 'type',
      kind: 'string',
      def: 'block',
      desc: 'Cluster Volume access type ("mount", "block")',
    }),
    cluster({
      long: 'secret',
      kind: 'list',
      typeName: 'map',
      defText: 'map[]',
      desc: 'Cluster Volume secrets',
    }),
    cluster({
      long: 'limit-bytes',
      kind: 'string',
      typeName: 'bytes',
      desc: 'Minimum size of the Cluster Volume in bytes',
      value: sizeValue,
    }),
    cluster({
      long: 'required-bytes',
      kind: 'string',
      typeName: 'bytes',
      desc: 'Maximum size of the Cluster Volume in bytes',
      value: sizeValue,
    }),
    cluster({
      long: 'topology-required',
      kind: 'list',
      desc: 'A topology that the Cluster Volume must be accessible from',
    }),
    cluster({
      long: 'topology-preferred',
      kind: 'list',
      desc: 'A topology that the Cluster Volume would be preferred in',
    }),
  ],
  async run(ctx, f) {
    let name = str(f, 'name')
    if (f.args.length > 0) {
      if (f.changed.has('name') && name !== f.args[0]) {
        throw new CliError(
          `conflicting options: cannot specify a volume-name through both --name and as a positional arg`,
        )
      }
      name = f.args[0] as string
    }
    const body: Record<string, unknown> = {}
    // docker's hasClusterVolumeOptionSet (which looks for "secrets", so --secret alone is not one)
    const clusterSet = [
      'group',
      'scope',
      'sharing',
      'availability',
      'type',
      'limit-bytes',
      'required-bytes',
    ].some((n) => f.changed.has(n))
    if (clusterSet) {
      const secrets = Object.entries(kvMap(list(f, 'secret')))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([Key, Secret]) => ({ Key, Secret }))
      const requisite = topologies(list(f, 'topology-required'))
      const preferred = topologies(list(f, 'topology-preferred'))
      const type = str(f, 'type')
      body.ClusterVolumeSpec = {
        ...(str(f, 'group') !== '' ? { Group: str(f, 'group') } : {}),
        AccessMode: {
          ...(str(f, 'scope') !== '' ? { Scope: str(f, 'scope') } : {}),
          ...(str(f, 'sharing') !== '' ? { Sharing: str(f, 'sharing') } : {}),
          ...(type === 'mount' ? { MountVolume: {} } : type === 'block' ? { BlockVolume: {} } : {}),
        },
        AccessibilityRequirements: {
          ...(requisite.length > 0 ? { Requisite: requisite } : {}),
          ...(preferred.length > 0 ? { Preferred: preferred } : {}),
        },
        CapacityRange: {
          RequiredBytes: bytesFlag(f, 'required-bytes'),
          LimitBytes: bytesFlag(f, 'limit-bytes'),
        },
        ...(secrets.length > 0 ? { Secrets: secrets } : {}),
        ...(str(f, 'availability') !== '' ? { Availability: str(f, 'availability') } : {}),
      }
    }
    const driverOpts = kvMap(list(f, 'opt'))
    const labels = kvMap(list(f, 'label'))
    if (str(f, 'driver') !== '') body.Driver = str(f, 'driver')
    if (Object.keys(driverOpts).length > 0) body.DriverOpts = driverOpts
    if (Object.keys(labels).length > 0) body.Labels = labels
    if (name !== '') body.Name = name
    const client = await ctx.client()
    const v = await client.json<{ Name: string }>('POST', '/volumes/create', { body })
    out(v.Name + '\n')
    return 0
  },
}
