import { JSONMessageError } from '../client.ts'
import type { CommandDef } from '../command.ts'
import { bool, CliError, out, str } from '../command.ts'
import { authHeaderFor, CredentialsError } from '../credentials.ts'
import { displayProgress } from '../progress.ts'
import { namedArg } from '../refarg.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  short: 'Download an image from a registry',
  aliases: ['berth image pull', 'berth pull'],
  args: { min: 1, max: 1 },
  flags: [
    {
      long: 'all-tags',
      short: 'a',
      kind: 'bool',
      desc: 'Download all tagged images in the repository',
    },
    {
      long: 'disable-content-trust',
      kind: 'bool',
      def: true,
      desc: 'Skip image verification',
    },
    {
      long: 'platform',
      kind: 'string',
      desc: 'Set platform if server is multi-platform capable',
    },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Suppress verbose output' },
  ],
  async run(ctx, f) {
    const all = bool(f, 'all-tags')
    const quiet = bool(f, 'quiet')
    let ref = namedArg(f.args[0]!)
    const nameOnly = ref.tag === undefined && ref.digest === undefined
    if (all && !nameOnly) throw new CliError("tag can't be used with --all-tags/-a")
    if (!all && nameOnly) {
      ref = { ...ref, tag: 'latest' }
      if (!quiet) out('Using default tag: latest\n')
    }
    let auth: string
    try {
      auth = await authHeaderFor(ref.domain, ctx.config)
    } catch (e) {
      if (e instanceof CredentialsError) throw new CliError(e.message)
      throw e
    }
    const client = await ctx.client()
    const res = await client.request('POST', '/images/create', {
      query: {
        // docker 28 sends the name fully qualified
        fromImage: ref.name,
        tag: all ? undefined : (ref.digest ?? ref.tag),
        platform: str(f, 'platform') || undefined,
      },
      headers: { 'X-Registry-Auth': auth },
    })
    try {
      await displayProgress(res, quiet ? { write: () => true } : process.stdout)
    } catch (e) {
      if (e instanceof JSONMessageError) throw new CliError(e.message)
      throw e
    }
    // The docker CLI ends with the full reference it pulled.
    out(
      `${ref.name}${ref.tag && !ref.digest ? ':' + ref.tag : ''}${ref.digest ? '@' + ref.digest : ''}\n`,
    )
    return 0
  },
}
