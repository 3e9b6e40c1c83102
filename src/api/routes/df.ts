// GET /system/df: the space images, containers, volumes and the build cache take, in the shape
// `docker system df` reads (API 1.42+: the `type` parameter asks for some kinds only).
import type { CacheRecordInfo } from '../../engine/builder/types.ts'
import { InvalidArgument } from '../../engine/errors.ts'
import type { DiskUsageKind } from '../../engine/system/types.ts'
import { sendJson } from '../http.ts'
import type { Ctx, Router } from '../router.ts'
import { summary } from './containers.ts'

const KINDS: readonly DiskUsageKind[] = ['container', 'image', 'volume', 'build-cache']

function unixSeconds(iso: string | undefined): number {
  return iso ? Math.floor(Date.parse(iso) / 1000) : 0
}

function cacheJson(r: CacheRecordInfo): Record<string, unknown> {
  return {
    ID: r.id,
    Parent: '',
    Parents: null,
    Type: r.type,
    Description: r.description,
    InUse: r.inUse,
    Shared: r.shared,
    Size: r.size,
    CreatedAt: r.createdAt,
    LastUsedAt: r.lastUsedAt,
    UsageCount: r.usageCount,
  }
}

async function df(ctx: Ctx): Promise<void> {
  const kinds = new Set<DiskUsageKind>()
  for (const t of ctx.query.all('type')) {
    if (!KINDS.includes(t as DiskUsageKind)) throw new InvalidArgument(`unknown object type: ${t}`)
    kinds.add(t as DiskUsageKind)
  }
  const u = await ctx.engine.system.df(kinds)
  const out: Record<string, unknown> = {}
  if (u.layersSize !== undefined) out['LayersSize'] = u.layersSize
  if (u.images) {
    out['Images'] = u.images.map(({ image, containers, sharedSize }) => ({
      Containers: containers,
      Created: unixSeconds(image.config.created),
      Id: image.id,
      Labels: image.config.config?.Labels ?? null,
      ParentId: image.parent ?? '',
      RepoDigests: image.repoDigests,
      RepoTags: image.repoTags,
      SharedSize: sharedSize,
      Size: image.size,
    }))
  }
  if (u.containers) {
    const list: Record<string, unknown>[] = []
    for (const c of u.containers) {
      const net = await ctx.engine.containers.networkSettings(c.container.id)
      list.push(summary(c.container, net, { rw: c.sizeRw, rootfs: c.sizeRootFs }))
    }
    out['Containers'] = list
  }
  if (u.volumes) out['Volumes'] = u.volumes
  if (u.buildCache) out['BuildCache'] = u.buildCache.map(cacheJson)
  sendJson(ctx, 200, out)
}

export function diskUsageRoutes(r: Router): void {
  r.get('/system/df', df)
}
