import { createReadStream } from 'node:fs'
import type { Readable } from 'node:stream'
import { displayJSONMessages, JSONMessageError } from '../client.ts'
import type { CommandDef } from '../command.ts'
import { CliError, list, out, str } from '../command.ts'
import { familiarName, parseNamed } from '../../lib/reference.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
  short: 'Import the contents from a tarball to create a filesystem image',
  aliases: ['berth image import', 'berth import'],
  args: { min: 1 },
  flags: [
    {
      long: 'change',
      short: 'c',
      kind: 'list',
      desc: 'Apply Dockerfile instruction to the created image',
    },
    { long: 'message', short: 'm', kind: 'string', desc: 'Set commit message for imported image' },
    { long: 'platform', kind: 'string', desc: 'Set platform if server is multi-platform capable' },
  ],
  async run(ctx, f) {
    const [source, refArg] = f.args
    let repo: string | undefined
    let tag: string | undefined
    if (refArg) {
      try {
        const r = parseNamed(refArg)
        repo = familiarName(r)
        tag = r.tag
      } catch (e) {
        throw new CliError((e as Error).message)
      }
    }
    let body: Readable | undefined
    let fromSrc = source
    if (source === '-') body = process.stdin
    else if (!/^(https?:\/\/)/.test(source)) {
      body = createReadStream(source)
      fromSrc = '-'
      await new Promise<void>((resolve, reject) => {
        body!.once('open', () => resolve())
        body!.once('error', (e: NodeJS.ErrnoException) =>
          reject(
            new CliError(
              e.code === 'ENOENT' ? `open ${source}: no such file or directory` : e.message,
            ),
          ),
        )
      })
    }
    const client = await ctx.client()
    const res = await client.request('POST', '/images/create', {
      // as docker's client: the reference as given once it parses (the daemon splits off the
      // tag), the platform in lower case
      query: {
        fromSrc,
        repo: repo !== undefined ? refArg : undefined,
        tag: tag !== undefined && !refArg ? tag : undefined,
        message: str(f, 'message') || undefined,
        changes: list(f, 'change'),
        platform: str(f, 'platform').toLowerCase() || undefined,
      },
      body,
      headers: body ? { 'Content-Type': 'application/x-tar' } : {},
    })
    try {
      await displayJSONMessages(res, out)
    } catch (e) {
      if (e instanceof JSONMessageError) throw new CliError(e.message)
      throw e
    }
    return 0
  },
}
