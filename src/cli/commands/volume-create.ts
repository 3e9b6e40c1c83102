import type { CommandDef } from '../command.ts'
import { CliError, list, out, str } from '../command.ts'

function toMap(values: string[]): Record<string, string> {
  const m: Record<string, string> = {}
  for (const v of values) {
    const eq = v.indexOf('=')
    m[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1)
  }
  return m
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
    { long: 'label', kind: 'list', desc: 'Set metadata for a volume' },
    { long: 'name', kind: 'string', desc: 'Specify volume name' },
    { long: 'opt', short: 'o', kind: 'list', typeName: 'map', desc: 'Set driver specific options' },
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
    for (const l of list(f, 'label')) {
      if (l.startsWith('='))
        throw new CliError(
          `invalid argument "${l}" for "--label" flag: invalid label format: "${l}"`,
          125,
        )
    }
    const client = await ctx.client()
    const v = await client.json<{ Name: string }>('POST', '/volumes/create', {
      body: {
        Name: name,
        Driver: str(f, 'driver') || 'local',
        DriverOpts: toMap(list(f, 'opt')),
        Labels: toMap(list(f, 'label')),
      },
    })
    out(v.Name + '\n')
    return 0
  },
}
