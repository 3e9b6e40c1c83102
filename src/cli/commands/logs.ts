import type { CommandDef } from '../command.ts'
import { bool, CliError, str } from '../command.ts'
import { StdcopyDemuxer } from '../hijack.ts'
import { getTimestamp } from '../../lib/timestamp.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER',
  short: 'Fetch the logs of a container',
  aliases: ['berth container logs', 'berth logs'],
  args: { min: 1, max: 1 },
  flags: [
    { long: 'details', kind: 'bool', desc: 'Show extra details provided to logs' },
    { long: 'follow', short: 'f', kind: 'bool', desc: 'Follow log output' },
    {
      long: 'since',
      kind: 'string',
      desc: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    },
    {
      long: 'tail',
      short: 'n',
      kind: 'string',
      def: 'all',
      desc: 'Number of lines to show from the end of the logs',
    },
    { long: 'timestamps', short: 't', kind: 'bool', desc: 'Show timestamps' },
    {
      long: 'until',
      kind: 'string',
      desc: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    const name = f.args[0]
    const c = await client.json<{ Id: string; Config: { Tty: boolean } }>(
      'GET',
      `/containers/${encodeURIComponent(name)}/json`,
    )
    let since: string | undefined
    let until: string | undefined
    try {
      if (str(f, 'since')) since = getTimestamp(str(f, 'since'))
      if (str(f, 'until')) until = getTimestamp(str(f, 'until'))
    } catch (e) {
      throw new CliError((e as Error).message)
    }
    // as docker: the logs of the container the name found, by its ID
    const res = await client.request('GET', `/containers/${c.Id}/logs`, {
      query: {
        stdout: true,
        stderr: true,
        since,
        until,
        timestamps: bool(f, 'timestamps') || undefined,
        follow: bool(f, 'follow') || undefined,
        tail: str(f, 'tail'),
        details: bool(f, 'details') || undefined,
      },
    })
    if (c.Config.Tty) {
      for await (const chunk of res) {
        if (!process.stdout.write(chunk as Buffer))
          await new Promise((r) => process.stdout.once('drain', r))
      }
      return 0
    }
    const demux = new StdcopyDemuxer(process.stdout, process.stderr)
    for await (const chunk of res) {
      if (!demux.push(chunk as Buffer)) {
        await new Promise((r) =>
          (process.stdout.writableNeedDrain ? process.stdout : process.stderr).once('drain', r),
        )
      }
    }
    if (demux.systemError) throw new CliError(demux.systemError)
    return 0
  },
}
