import { JSONMessageError } from '../client.ts'
import type { CommandDef } from '../command.ts'
import { bool, CliError, out, str } from '../command.ts'
import { authHeaderFor, CredentialsError } from '../credentials.ts'
import { displayProgress } from '../progress.ts'
import { namedArg } from '../refarg.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] NAME[:TAG]',
  short: 'Upload an image to a registry',
  aliases: ['berth image push', 'berth push'],
  args: { min: 1, max: 1 },
  flags: [
    {
      long: 'all-tags',
      short: 'a',
      kind: 'bool',
      desc: 'Push all tags of an image to the repository',
    },
    { long: 'disable-content-trust', kind: 'bool', def: true, desc: 'Skip image signing' },
    {
      long: 'platform',
      kind: 'string',
      desc: "Push a platform-specific manifest as a single-platform image to the registry.\nImage index won't be pushed, meaning that other manifests, including attestations won't be preserved.\n'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)",
    },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Suppress verbose output' },
  ],
  async run(ctx, f) {
    const all = bool(f, 'all-tags')
    const quiet = bool(f, 'quiet')
    let ref = namedArg(f.args[0]!)
    if (ref.digest !== undefined) throw new CliError('cannot push a digest reference')
    if (all && ref.tag !== undefined) throw new CliError("tag can't be used with --all-tags/-a")
    if (!all && ref.tag === undefined) {
      ref = { ...ref, tag: 'latest' }
      if (!quiet) out('Using default tag: latest\n')
    }
    if (str(f, 'platform')) {
      // berth keeps one platform per image; there is no index to take one manifest from.
      throw new CliError('--platform is not supported: berth images are single-platform')
    }
    let auth: string
    try {
      auth = await authHeaderFor(ref.domain, ctx.config)
    } catch (e) {
      if (e instanceof CredentialsError) throw new CliError(e.message)
      throw e
    }
    const client = await ctx.client()
    // docker 28 sends the name fully qualified
    const res = await client.request('POST', `/images/${ref.name}/push`, {
      query: { tag: all ? undefined : ref.tag },
      headers: { 'X-Registry-Auth': auth },
    })
    try {
      await displayProgress(res, quiet ? { write: () => true } : process.stdout)
    } catch (e) {
      if (e instanceof JSONMessageError) throw new CliError(e.message)
      throw e
    }
    if (quiet) out(`${ref.name}${ref.tag ? ':' + ref.tag : ''}\n`)
    return 0
  },
}
