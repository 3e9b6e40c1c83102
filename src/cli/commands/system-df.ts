// berth system df: docker's summary of the space images, containers, volumes and the build cache
// take (GET /system/df), with docker's arithmetic for ACTIVE and RECLAIMABLE. -v is not there yet.
import type { CommandDef } from '../command.ts'
import { CliError, bool, formatFlagDesc, out, str } from '../command.ts'
import { STRUCT, formatRows } from '../template/index.ts'
import { humanSize } from '../../lib/units.ts'

interface DiskUsage {
  LayersSize?: number
  Images?: { Containers: number; Size: number; SharedSize: number }[] | null
  Containers?: { State: string; SizeRw?: number }[] | null
  Volumes?: { UsageData?: { Size: number; RefCount: number } | null }[] | null
  BuildCache?: { InUse: boolean; Shared: boolean; Size: number }[] | null
}

interface Row {
  Type: string
  TotalCount: number
  Active: number
  size: number
  reclaimable: number
  /** docker shows no percentage for the build cache. */
  percent: boolean
}

const headers: Record<string, string> = {
  Type: 'TYPE',
  TotalCount: 'TOTAL',
  Active: 'ACTIVE',
  Size: 'SIZE',
  Reclaimable: 'RECLAIMABLE',
}

function rows(u: DiskUsage): Row[] {
  const images = u.Images ?? []
  const total = u.LayersSize ?? 0
  let used = 0
  for (const i of images) {
    if (i.Containers !== 0 && i.Size !== -1 && i.SharedSize !== -1) used += i.Size - i.SharedSize
  }
  const containers = u.Containers ?? []
  const active = (c: { State: string }) => c.State === 'running' || c.State === 'paused'
  const volumes = u.Volumes ?? []
  const vsize = (v: (typeof volumes)[number]) =>
    v.UsageData && v.UsageData.Size !== -1 ? v.UsageData.Size : 0
  const cache = u.BuildCache ?? []
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
  return [
    {
      Type: 'Images',
      TotalCount: images.length,
      Active: images.filter((i) => i.Containers > 0).length,
      size: total,
      reclaimable: total - used,
      percent: true,
    },
    {
      Type: 'Containers',
      TotalCount: containers.length,
      Active: containers.filter(active).length,
      size: sum(containers.map((c) => c.SizeRw ?? 0)),
      reclaimable: sum(containers.filter((c) => !active(c)).map((c) => c.SizeRw ?? 0)),
      percent: true,
    },
    {
      Type: 'Local Volumes',
      TotalCount: volumes.length,
      Active: volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length,
      size: sum(volumes.map(vsize)),
      reclaimable: sum(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).map(vsize)),
      percent: true,
    },
    {
      Type: 'Build Cache',
      TotalCount: cache.length,
      Active: cache.filter((c) => c.InUse).length,
      size: sum(cache.filter((c) => !c.Shared).map((c) => c.Size)),
      reclaimable: sum(cache.filter((c) => !c.InUse && !c.Shared).map((c) => c.Size)),
      percent: false,
    },
  ]
}

function context(r: Row): object {
  return {
    [STRUCT]: '*formatter.diskUsageContext',
    Type: () => r.Type,
    TotalCount: () => String(r.TotalCount),
    Active: () => String(r.Active),
    Size: () => humanSize(r.size),
    Reclaimable: () =>
      r.percent && r.size > 0
        ? `${humanSize(r.reclaimable)} (${Math.trunc((r.reclaimable * 100) / r.size)}%)`
        : humanSize(r.reclaimable),
  }
}

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Show berth disk usage',
  aliases: ['berth system df'],
  args: { max: 0 },
  flags: [
    { long: 'format', kind: 'string', desc: formatFlagDesc },
    { long: 'verbose', short: 'v', kind: 'bool', desc: 'Show detailed information on space usage' },
  ],
  async run(ctx, f) {
    if (bool(f, 'verbose'))
      throw new CliError(
        'system df -v is not there yet: `berth builder prune`, `berth images` and `berth ps -s` show the parts',
      )
    const client = await ctx.client()
    const u = await client.json<DiskUsage>('GET', '/system/df')
    let format = str(f, 'format')
    if (!format || format === 'table')
      format = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}'
    out(formatRows(format, rows(u).map(context), headers))
    return 0
  },
}
