import type { CommandDef } from '../command.ts'
import { bool, CliError, encodeFilters, list, out } from '../command.ts'
import { confirm } from '../prompt.ts'
import { humanSize } from '../../lib/units.ts'
import { berthOnly, pruneReport, type Unsaved } from '../guard.ts'
import type { Client } from '../client.ts'

/** docker's confirmation text for `system prune`, with the filters it was given. */
export function pruneWarning(o: { all: boolean; volumes: boolean; filters: string[] }): string {
  const items = ['all stopped containers', 'all networks not used by at least one container']
  if (o.volumes) items.push('all anonymous volumes not used by at least one container')
  items.push(
    o.all ? 'all images without at least one container associated to them' : 'all dangling images',
  )
  items.push(o.all ? 'all build cache' : 'unused build cache')
  let s = 'WARNING! This will remove:\n' + items.map((i) => `  - ${i}\n`).join('')
  const shown = o.filters
    .filter((f) => /^(label|label!|until)=/.test(f))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
  if (shown.length > 0) {
    s += '\n  Items to be pruned will be filtered with:\n' + shown.map((f) => `  - ${f}\n`).join('')
  }
  return s + '\n'
}

interface Section {
  path: string
  /** The query this prune takes, from the command's filters. */
  query: (given: string[]) => Record<string, string | boolean | undefined>
  /** The section docker prints (without its last newline), and the bytes freed. */
  report(body: Record<string, unknown>): { text: string; space: number }
  /** Pruned only when the daemon has the endpoint (networks, build cache). */
  optional?: boolean
}

function ids(title: string, key: string) {
  return (body: Record<string, unknown>) => {
    const list = (body[key] as string[] | null | undefined) ?? []
    return {
      text: list.length > 0 ? `${title}:\n${list.join('\n')}\n` : '',
      space: Number(body.SpaceReclaimed ?? 0),
    }
  }
}

async function prune(
  client: Client,
  s: Section,
  given: string[],
): Promise<{ text: string; space: number }> {
  const query = s.query(given)
  const body = s.optional
    ? await berthOnly<Record<string, unknown>>(client, 'POST', s.path, query)
    : await client.json<Record<string, unknown>>('POST', s.path, { query })
  return body === undefined ? { text: '', space: 0 } : s.report(body ?? {})
}

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Remove unused data',
  args: { max: 0 },
  flags: [
    {
      long: 'all',
      short: 'a',
      kind: 'bool',
      desc: 'Remove all unused images not just dangling ones',
    },
    {
      long: 'filter',
      kind: 'list',
      typeName: 'filter',
      desc: 'Provide filter values (e.g. "label=<key>=<value>")',
    },
    { long: 'force', short: 'f', kind: 'bool', desc: 'Do not prompt for confirmation' },
    { long: 'volumes', kind: 'bool', desc: 'Prune anonymous volumes' },
  ],
  async run(ctx, f) {
    const all = bool(f, 'all')
    const volumes = bool(f, 'volumes')
    const given = list(f, 'filter')
    if (volumes && given.some((x) => x.startsWith('until='))) {
      throw new CliError('ERROR: The "until" filter is not supported with "--volumes"')
    }
    const client = await ctx.client()
    if (!bool(f, 'force')) {
      // berth's guard: what the stopped containers hold that no image or volume does.
      const unsaved = await berthOnly<Unsaved[]>(client, 'GET', '/berth/v1/containers/unsaved', {
        prune: true,
        filters: encodeFilters(given.filter((x) => /^(label!?|until)=/.test(x))),
      })
      const question =
        pruneWarning({ all, volumes, filters: given }) +
        pruneReport(unsaved ?? []) +
        'Are you sure you want to continue?'
      if (!(await confirm(question))) return 0
    }
    const sections: Section[] = [
      {
        path: '/containers/prune',
        query: (g) => ({ filters: encodeFilters(g) }),
        report: ids('Deleted Containers', 'ContainersDeleted'),
      },
      {
        path: '/networks/prune',
        query: (g) => ({ filters: encodeFilters(g) }),
        report: ids('Deleted Networks', 'NetworksDeleted'),
        optional: true,
      },
    ]
    if (volumes) {
      sections.push({
        path: '/volumes/prune',
        query: (g) => ({ filters: encodeFilters(g) }),
        report: ids('Deleted Volumes', 'VolumesDeleted'),
      })
    }
    sections.push({
      path: '/images/prune',
      query: (g) => ({ filters: encodeFilters([...g, `dangling=${all ? 'false' : 'true'}`]) }),
      report: (body) => {
        const deleted =
          (body.ImagesDeleted as Array<{ Untagged?: string; Deleted?: string }> | null) ?? []
        let text = ''
        if (deleted.length > 0) {
          text = 'Deleted Images:\n'
          for (const d of deleted) {
            if (d.Untagged) text += `untagged: ${d.Untagged}\n`
            if (d.Deleted) text += `deleted: ${d.Deleted}\n`
          }
        }
        return { text, space: Number(body.SpaceReclaimed ?? 0) }
      },
    })
    sections.push({
      path: '/build/prune',
      query: (g) => ({ filters: encodeFilters(g), all: all || undefined }),
      report: ids('Deleted build cache objects', 'CachesDeleted'),
      optional: true,
    })
    let space = 0
    for (const s of sections) {
      const r = await prune(client, s, given)
      space += r.space
      if (r.text !== '') out(r.text + '\n')
    }
    out(`Total reclaimed space: ${humanSize(space)}\n`)
    return 0
  },
}
