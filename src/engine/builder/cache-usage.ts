// What the build cache holds and uses (system df), and pruning it (builder prune).
import { createHash } from 'node:crypto'
import type { CacheRecordInfo, LayerRef } from './types.ts'
import type { BuilderDeps, Live } from './build-run.ts'
import { duBytes } from './context-store.ts'

export async function cacheUsage(
  deps: BuilderDeps,
  running: Set<Live>,
  mountsInUse: Map<string, number>,
): Promise<CacheRecordInfo[]> {
  await deps.cache.load()
  const shared = await deps.imageLayers()
  const inUse = new Set<string>()
  for (const live of running) for (const d of live.used) inUse.add(d)
  const out: CacheRecordInfo[] = deps.cache.list().map((r) => ({
    id: r.key.slice(0, 25),
    description: r.description,
    size: r.layer?.size ?? 0,
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
    usageCount: r.usageCount,
    inUse: r.layer !== undefined && inUse.has(r.layer.diffID),
    shared: r.layer !== undefined && shared.has(r.layer.diffID),
    type: 'regular',
  }))
  for (const m of deps.cache.listMounts()) {
    out.push({
      id: createHash('sha256').update(m.id).digest('hex').slice(0, 25),
      description: `cached mount ${m.id}`,
      size: await duBytes(m.dir),
      createdAt: m.createdAt,
      lastUsedAt: m.lastUsedAt,
      usageCount: 1,
      inUse: mountsInUse.has(m.id),
      shared: false,
      type: 'exec.cachemount',
    })
  }
  // berth's kept build contexts, as BuildKit counts its local sources.
  for (const c of (await deps.contexts?.list()) ?? []) {
    out.push({
      id: c.key.slice(0, 25),
      description: LOCAL_SOURCE,
      size: c.size,
      createdAt: c.createdAt,
      lastUsedAt: c.lastUsedAt,
      usageCount: c.usageCount,
      inUse: c.inUse,
      shared: false,
      type: 'source.local',
    })
  }
  return out
}

/** BuildKit's description of a build's context in its cache. */
const LOCAL_SOURCE = 'local source for context'

/**
 * Removes cache records and cache mounts: those not used within `keepDuration` ms, and without
 * `all` only those no image shares; then, oldest first, while the rest is over `keepBytes`. The
 * layers they held are freed unless an image still uses them. The caller waits for running builds.
 */
export async function pruneCache(
  deps: BuilderDeps,
  opts: {
    all: boolean
    keepDuration?: number
    keepBytes?: number
  },
): Promise<{ deleted: string[]; spaceReclaimed: number }> {
  await deps.cache.load()
  const shared = await deps.imageLayers()
  const cutoff = opts.keepDuration ? Date.now() - opts.keepDuration : Infinity
  type Item = { id: string; lastUsed: number; size: number; drop: () => Promise<void> }
  const items: Item[] = []
  const freed: LayerRef[] = []
  for (const r of deps.cache.list()) {
    if (!opts.all && r.layer && shared.has(r.layer.diffID)) continue
    items.push({
      id: r.key.slice(0, 25),
      lastUsed: Date.parse(r.lastUsedAt),
      size: r.layer?.size ?? 0,
      drop: async () => {
        await deps.cache.drop(r.key)
        if (r.layer) freed.push(r.layer)
      },
    })
  }
  let reclaimed = 0
  for (const m of deps.cache.listMounts()) {
    const size = await duBytes(m.dir)
    items.push({
      id: createHash('sha256').update(m.id).digest('hex').slice(0, 25),
      lastUsed: Date.parse(m.lastUsedAt),
      size,
      drop: async () => {
        await deps.cache.dropMount(m.id)
        reclaimed += size
      },
    })
  }
  // Kept contexts are never shared with an image: they go by age and size as records do.
  const contexts = deps.contexts
  if (contexts) {
    for (const c of await contexts.list()) {
      if (c.inUse) continue
      items.push({
        id: c.key.slice(0, 25),
        lastUsed: Date.parse(c.lastUsedAt),
        size: c.size,
        drop: async () => {
          if (await contexts.remove(c.key)) reclaimed += c.size
        },
      })
    }
  }
  items.sort((a, b) => a.lastUsed - b.lastUsed)
  let total = items.reduce((n, i) => n + i.size, 0)
  const deleted: string[] = []
  for (const i of items) {
    const old = i.lastUsed <= cutoff
    const over = opts.keepBytes !== undefined && opts.keepBytes > 0 && total > opts.keepBytes
    if (opts.keepBytes ? !(old && over) : !old) continue
    await i.drop()
    total -= i.size
    deleted.push(i.id)
  }
  const r = await deps.content.release({
    layers: freed.map((l) => l.diffID),
    blobs: freed.map((l) => l.blob),
  })
  return { deleted, spaceReclaimed: reclaimed + r.reclaimed }
}
