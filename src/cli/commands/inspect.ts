import type { Client } from '../client.ts'
import { DaemonError } from '../client.ts'
import type { CommandDef } from '../command.ts'
import { bool, CliError, out, str } from '../command.ts'
import { render } from '../template/index.ts'

const paths: Record<string, (n: string) => string> = {
  container: (n) => `/containers/${encodeURIComponent(n)}/json`,
  image: (n) => `/images/${encodeURIComponent(n)}/json`,
  volume: (n) => `/volumes/${encodeURIComponent(n)}`,
  network: (n) => `/networks/${encodeURIComponent(n)}`,
}

/** The -f/--format flag every inspect command has. */
export const inspectFormatFlag = {
  long: 'format',
  short: 'f',
  kind: 'string' as const,
  desc: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
}

/** Go's json.Indent(raw, "", "    ") of what the daemon sent. */
function indent(raw: unknown[]): string {
  if (raw.length === 0) return '[]'
  return JSON.stringify(raw, null, 4)
}

/**
 * docker's inspect.Inspect: fetch each object (trying containers, then images, when no type
 * is given), print a JSON array or one template line per object, and report what was missing.
 */
export async function inspectAll(
  client: Client,
  names: string[],
  format: string,
  type: string,
  size = false,
): Promise<number> {
  const found: unknown[] = []
  const errs: string[] = []
  const kinds = type ? [type] : ['container', 'image']
  for (const n of names) {
    let got = false
    let lastErr: Error | undefined
    for (const k of kinds) {
      try {
        found.push(
          await client.json<unknown>('GET', paths[k](n), {
            query: k === 'container' && size ? { size: true } : {},
          }),
        )
        got = true
        break
      } catch (e) {
        if (e instanceof DaemonError && e.status === 404) {
          lastErr = e
          continue
        }
        throw e
      }
    }
    if (!got)
      errs.push(type ? (lastErr?.message ?? `No such object: ${n}`) : `Error: No such object: ${n}`)
  }
  if (format && format !== 'json') {
    let s = ''
    for (const v of found) s += render(format, v) + '\n'
    out(s)
  } else out(indent(found) + '\n')
  if (errs.length > 0) throw new CliError(errs.join('\n'))
  return 0
}

export const command: CommandDef = {
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  short: 'Return low-level information on berth objects',
  args: { min: 1 },
  flags: [
    inspectFormatFlag,
    {
      long: 'size',
      short: 's',
      kind: 'bool',
      desc: 'Display total file sizes if the type is container',
    },
    { long: 'type', kind: 'string', desc: 'Only inspect objects of the given type' },
  ],
  async run(ctx, f) {
    const type = str(f, 'type')
    if (type && !paths[type]) throw new CliError(`"${type}" is not a valid value for --type`)
    return inspectAll(await ctx.client(), f.args, str(f, 'format'), type, bool(f, 'size'))
  },
}
