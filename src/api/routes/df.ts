// GET /system/df: moby's SystemDiskUsage in Docker's shape (`docker system df`).
import type { CacheRecordInfo } from '../../engine/builder/types.ts'
import { InvalidArgument, Internal } from '../../engine/errors.ts'
import type { DiskUsageKind } from '../../engine/system/types.ts'
import { sendJson } from '../http.ts'
import type { Ctx, Router } from '../router.ts'
import { versionAtLeast } from '../version.ts'
import { summary } from './containers.ts'

const KINDS: readonly DiskUsageKind[] = ['container', 'image', 'volume', 'build-cache']

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

/** An image with neither tag nor digest (API < 1.43 shows `<none>` placeholders, as /images). */
function untagged(image: { repoTags: string[]; repoDigests: string[] }): boolean {
  return image.repoTags.length === 0 && image.repoDigests.length === 0
}

async function df(ctx: Ctx): Promise<void> {
  const report = ctx.engine.diskUsage
  if (!report) throw new Internal('disk usage is not supported by this engine')
  // API 1.42+: `type` asks for some kinds only.
  let kinds: Set<DiskUsageKind> | undefined
  const asked = ctx.query.all('type')
  if (asked.length > 0 && versionAtLeast(ctx.apiVersion, '1.42')) {
    kinds = new Set()
    for (const t of asked) {
      if (!(KINDS as readonly string[]).includes(t)) {
        throw new InvalidArgument(`unknown object type: ${t}`)
      }
      kinds.add(t as DiskUsageKind)
    }
  }
  const du = await report.diskUsage(kinds)
  const out: Record<string, unknown> = {}
  if (du.images) {
    out.LayersSize = du.layersSize ?? 0
    out.Images = du.images.map(({ image, containers, sharedSize }) => {
      const created = Date.parse(image.config.created ?? '')
      const s: Record<string, unknown> = {
        Containers: containers,
        Created: Number.isNaN(created) ? 0 : Math.floor(created / 1000),
        Id: image.id,
        Labels: image.config.config?.Labels ?? null,
        ParentId: image.parent ?? '',
        RepoDigests: image.repoDigests,
        RepoTags: image.repoTags,
        ...(untagged(image) && !versionAtLeast(ctx.apiVersion, '1.43')
          ? { RepoDigests: ['<none>@<none>'], RepoTags: ['<none>:<none>'] }
          : {}),
        SharedSize: sharedSize,
        Size: image.size,
      }
      if (!versionAtLeast(ctx.apiVersion, '1.44')) s.VirtualSize = image.size
      return s
    })
  }
  if (du.containers) {
    const list = []
    for (const { container, rw, rootfs } of du.containers) {
      const net = await ctx.engine.containers.networkSettings(container.id)
      list.push(summary(container, net, { rw, rootfs }))
    }
    out.Containers = list
  }
  if (du.volumes) out.Volumes = du.volumes
  if (du.buildCache) out.BuildCache = du.buildCache.map(cacheJson)
  // Before API 1.42 dockerd also sent the cache's total (deprecated since).
  if (!versionAtLeast(ctx.apiVersion, '1.42')) {
    out.BuilderSize = (du.buildCache ?? []).reduce((n, r) => n + r.size, 0)
  }
  sendJson(ctx, 200, out)
}

export function diskUsageRoutes(r: Router): void {
  r.get('/system/df', df)
}
