import type { CommandDef } from '../command.ts'
import { CliError, bool, list, out, str } from '../command.ts'
import { parseNamed, tagNameOnly } from '../../lib/reference.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  short: "Create a new image from a container's changes",
  aliases: ['berth container commit', 'berth commit'],
  args: { min: 1, max: 2 },
  flags: [
    {
      long: 'author',
      short: 'a',
      kind: 'string',
      desc: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
    },
    {
      long: 'change',
      short: 'c',
      kind: 'list',
      desc: 'Apply Dockerfile instruction to the created image',
    },
    { long: 'message', short: 'm', kind: 'string', desc: 'Commit message' },
    {
      long: 'pause',
      short: 'p',
      kind: 'bool',
      def: true,
      desc: 'Pause container during commit',
    },
  ],
  async run(ctx, f) {
    const [container, ref] = f.args as [string, string | undefined]
    let repo: string | undefined
    let tag: string | undefined
    if (ref) {
      let r
      try {
        r = tagNameOnly(parseNamed(ref))
      } catch (e) {
        throw new CliError((e as Error).message)
      }
      if (r.digest) throw new CliError('refusing to create a tag with a digest reference')
      // docker 28 sends the repository fully qualified (docker.io/library/x)
      repo = `${r.domain}/${r.path}`
      tag = r.tag
    }
    const client = await ctx.client()
    // as docker's client sends it: every field, empty or not (a repository without a tag gets
    // "latest"), and pause only when it is off
    const query: Record<string, string | string[] | undefined> = {
      container,
      repo: repo ?? '',
      tag: tag ?? (repo !== undefined ? 'latest' : ''),
      comment: str(f, 'message'),
      author: str(f, 'author'),
      pause: bool(f, 'pause') ? undefined : '0',
      changes: list(f, 'change'),
    }
    const r = await client.json<{ Id: string }>('POST', '/commit', { query })
    out(`${r.Id}\n`)
    return 0
  },
}
