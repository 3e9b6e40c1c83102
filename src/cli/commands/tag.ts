import type { CommandDef } from '../command.ts'
import { CliError } from '../command.ts'
import { parseNamed } from '../../lib/reference.ts'

export const command: CommandDef = {
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  short: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  aliases: ['berth image tag', 'berth tag'],
  args: { min: 2, max: 2 },
  flags: [],
  async run(ctx, f) {
    const [source, target] = f.args
    let ref
    try {
      ref = parseNamed(target)
    } catch (e) {
      throw new CliError(
        `Error parsing reference: "${target}" is not a valid repository/tag: ${(e as Error).message}`,
      )
    }
    if (ref.digest) throw new CliError('refusing to create a tag with a digest reference')
    const client = await ctx.client()
    const res = await client.request('POST', `/images/${encodeURIComponent(source)}/tag`, {
      query: { repo: ref.name, tag: ref.tag ?? 'latest' },
    })
    res.resume()
    return 0
  },
}
