import type { CommandDef } from '../command.ts'
import { bool, formatFlagDesc, out, str } from '../command.ts'
import {
  containerContext,
  containerHeaders,
  imageContext,
  imageHeaders,
  type ContainerSummary,
  type ImageSummary,
} from '../formatters.ts'
import { berthOnly, type TrashList } from '../guard.ts'
import { STRUCT, formatRows } from '../template/index.ts'
import { volumeContext, volumeHeaders, type VolumeSummary } from '../volumefmt.ts'
import { humanDuration, humanSize, humanSizeWithPrecision, truncateID } from '../../lib/units.ts'
import { familiarName, parseNamed } from '../../lib/reference.ts'

interface DiskUsage {
  LayersSize?: number
  Images?: ImageSummary[] | null
  Containers?: ContainerSummary[] | null
  Volumes?: VolumeSummary[] | null
  BuildCache?: BuildCacheRecord[] | null
}

/** A build cache record as GET /system/df gives it (types.BuildCache). */
interface BuildCacheRecord {
  ID?: string
  Type?: string
  Description?: string
  InUse?: boolean
  Shared?: boolean
  Size?: number
  CreatedAt?: string
  LastUsedAt?: string | null
  UsageCount?: number
}

/** docker's buildCacheSort: least recently used first, never-used before all, then by ID. */
function sortBuildCache(records: BuildCacheRecord[]): BuildCacheRecord[] {
  const used = (r: BuildCacheRecord) => (r.LastUsedAt ? Date.parse(r.LastUsedAt) : undefined)
  return [...records].sort((a, b) => {
    const la = used(a)
    const lb = used(b)
    if (la === lb) return (a.ID ?? '') < (b.ID ?? '') ? -1 : (a.ID ?? '') > (b.ID ?? '') ? 1 : 0
    if (la === undefined) return -1
    if (lb === undefined) return 1
    return la - lb
  })
}

/** docker's buildCacheContext, with IDs truncated and a `*` on records in use. */
function buildCacheContext(r: BuildCacheRecord, now: number): object {
  const ago = (t: string) => humanDuration(now - Date.parse(t)) + ' ago'
  return {
    [STRUCT]: '*formatter.buildCacheContext',
    ID: () => truncateID(r.ID ?? '') + (r.InUse ? '*' : ''),
    CacheType: () => r.Type ?? '',
    Description: () => r.Description ?? '',
    Size: () => humanSizeWithPrecision(r.Size ?? 0, 3),
    CreatedSince: () => (r.CreatedAt ? ago(r.CreatedAt) : ''),
    LastUsedSince: () => (r.LastUsedAt ? ago(r.LastUsedAt) : ''),
    UsageCount: () => String(r.UsageCount ?? 0),
    InUse: () => String(r.InUse ?? false),
    Shared: () => String(r.Shared ?? false),
  }
}

interface Row {
  type: string
  total: number
  active: number
  size: number
  reclaimable: number
  /** Build cache's RECLAIMABLE has no percentage. */
  percent: boolean
}

/** The summary rows as the docker CLI computes them from GET /system/df. */
export function diskUsageRows(du: DiskUsage, trash?: TrashList): Row[] {
  const images = du.Images ?? []
  let used = 0
  let activeImages = 0
  for (const i of images) {
    if (!i.Containers) continue
    activeImages++
    if (i.Size !== -1 && i.SharedSize !== undefined && i.SharedSize !== -1) {
      used += i.Size - i.SharedSize
    }
  }
  const layers = du.LayersSize ?? 0
  const rows: Row[] = [
    {
      type: 'Images',
      total: images.length,
      active: activeImages,
      size: layers,
      reclaimable: Math.max(layers - used, 0),
      percent: true,
    },
  ]
  const ctr: Row = {
    type: 'Containers',
    total: 0,
    active: 0,
    size: 0,
    reclaimable: 0,
    percent: true,
  }
  for (const c of du.Containers ?? []) {
    ctr.total++
    ctr.size += c.SizeRw ?? 0
    if (c.State === 'running') ctr.active++
    else ctr.reclaimable += c.SizeRw ?? 0
  }
  rows.push(ctr)
  const vol: Row = {
    type: 'Local Volumes',
    total: 0,
    active: 0,
    size: 0,
    reclaimable: 0,
    percent: true,
  }
  for (const v of du.Volumes ?? []) {
    vol.total++
    if (!v.UsageData) continue
    const size = Math.max(v.UsageData.Size, 0)
    vol.size += size
    if (v.UsageData.RefCount > 0) vol.active++
    else vol.reclaimable += size
  }
  rows.push(vol)
  const bc: Row = {
    type: 'Build Cache',
    total: 0,
    active: 0,
    size: 0,
    reclaimable: 0,
    percent: false,
  }
  for (const r of du.BuildCache ?? []) {
    bc.total++
    if (r.InUse) bc.active++
    if (r.Shared) continue
    bc.size += r.Size ?? 0
    if (!r.InUse) bc.reclaimable += r.Size ?? 0
  }
  rows.push(bc)
  // berth's: removed containers kept in the trash (berthd --keep-removed), all reclaimable.
  if (trash && (trash.KeepSeconds > 0 || trash.Entries.length > 0)) {
    const size = trash.Entries.reduce((s, e) => s + e.Size, 0)
    rows.push({
      type: 'Trash',
      total: trash.Entries.length,
      active: 0,
      size,
      reclaimable: size,
      percent: true,
    })
  }
  return rows
}

const headers = {
  Type: 'TYPE',
  TotalCount: 'TOTAL',
  Active: 'ACTIVE',
  Size: 'SIZE',
  Reclaimable: 'RECLAIMABLE',
}

function rowContext(r: Row): object {
  return {
    [STRUCT]: '*formatter.diskUsageContext',
    Type: () => r.type,
    TotalCount: () => String(r.total),
    Active: () => String(r.active),
    Size: () => humanSize(r.size),
    Reclaimable: () =>
      r.percent && r.size > 0
        ? `${humanSize(r.reclaimable)} (${Math.trunc((r.reclaimable * 100) / r.size)}%)`
        : humanSize(r.reclaimable),
  }
}

function verbose(du: DiskUsage, trash: TrashList | undefined): string {
  const now = Date.now()
  let s = 'Images space usage:\n\n'
  s += formatRows(
    'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
    (du.Images ?? []).map((i) => {
      let repo = '<none>'
      let tag = '<none>'
      const first = i.RepoTags?.[0]
      if (first !== undefined && first !== '<none>:<none>') {
        try {
          const ref = parseNamed(first)
          if (ref.tag !== undefined) {
            repo = familiarName(ref)
            tag = ref.tag
          }
        } catch {
          // not a reference: shown as <none>
        }
      }
      return imageContext(i, true, repo, tag, '<none>', now)
    }),
    imageHeaders,
  )
  s += '\nContainers space usage:\n\n'
  s += formatRows(
    'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}',
    (du.Containers ?? []).map((c) => containerContext({ ...c, SizeRootFs: 0 }, true, now)),
    containerHeaders,
  )
  s += '\nLocal Volumes space usage:\n\n'
  s += formatRows(
    'table {{.Name}}\t{{.Links}}\t{{.Size}}',
    (du.Volumes ?? []).map((v) => volumeContext(v)),
    volumeHeaders,
  )
  const cache = (du.BuildCache ?? []).reduce((n, r) => n + (r.Shared ? 0 : (r.Size ?? 0)), 0)
  s += `\nBuild cache usage: ${humanSize(cache)}\n\n`
  s += formatRows(
    'table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}',
    sortBuildCache(du.BuildCache ?? []).map((r) => buildCacheContext(r, now)),
    {
      ID: 'CACHE ID',
      CacheType: 'CACHE TYPE',
      Size: 'SIZE',
      CreatedSince: 'CREATED',
      LastUsedSince: 'LAST USED',
      UsageCount: 'USAGE',
      Shared: 'SHARED',
    },
  )
  if (trash && (trash.KeepSeconds > 0 || trash.Entries.length > 0)) {
    s += '\nTrash (removed containers, `berth container trash ls`):\n\n'
    s += formatRows(
      'table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Size}}\t{{.Unsaved}}',
      trash.Entries.map((e) => ({
        [STRUCT]: '*berth.trashEntry',
        ID: () => truncateID(e.Id),
        Name: () => e.Name,
        Image: () => e.Image,
        Size: () => humanSizeWithPrecision(e.Size, 3),
        Unsaved: () => (e.Changes.Unsaved ? humanSizeWithPrecision(e.Changes.Size, 3) : ''),
      })),
      { ID: 'CONTAINER ID', Name: 'NAME', Image: 'IMAGE', Size: 'SIZE', Unsaved: 'UNSAVED' },
    )
  }
  return s
}

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Show berth disk usage',
  args: { max: 0 },
  flags: [
    { long: 'format', kind: 'string', desc: formatFlagDesc },
    { long: 'verbose', short: 'v', kind: 'bool', desc: 'Show detailed information on space usage' },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    const [du, trash] = await Promise.all([
      client.json<DiskUsage>('GET', '/system/df'),
      berthOnly<TrashList>(client, 'GET', '/berth/v1/trash'),
    ])
    const format = str(f, 'format')
    if (bool(f, 'verbose') && (!format || format === 'table')) {
      out(verbose(du, trash))
      return 0
    }
    let tmpl = format
    if (!tmpl || tmpl === 'table') {
      tmpl = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}'
    }
    out(formatRows(tmpl, diskUsageRows(du, trash).map(rowContext), headers))
    return 0
  },
}
