// The build cache: step results by cache key, one small JSON record each, and the directories
// RUN --mount=type=cache keeps between builds. A key is a digest of everything the step's result
// depends on (see keys in build.ts), so a record is reused only when the result would be the same.
import { createHash, randomBytes } from 'node:crypto'
import { chmod, chown, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errnoCode } from '../errors.ts'
import { readJson, writeJsonAtomic } from '../fsutil.ts'
import type { LayerRef } from './types.ts'

export interface CacheRecord {
  key: string
  /** The layer the step made; absent when it changed nothing. */
  layer?: LayerRef
  description: string
  /**
   * Given by a step whose layer follows from its key and this (layer-step.ts `exact`): the
   * digest of what else the layer depends on, so that a --no-cache build may take the layer
   * when the store still holds it instead of making the same one again.
   */
  exact?: string
  createdAt: string
  lastUsedAt: string
  usageCount: number
}

export interface CacheMount {
  id: string
  /** Host directory that persists between builds. */
  dir: string
  createdAt: string
  lastUsedAt: string
}

/** A cache key: the digest of a step's canonical description. */
export function cacheKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex')
}

export class BuildCache {
  private readonly records = new Map<string, CacheRecord>()
  private readonly mounts = new Map<string, CacheMount>()

  constructor(private readonly dir: string) {}

  private loaded: Promise<void> | undefined

  async init(): Promise<void> {
    await mkdir(join(this.dir, 'records'), { recursive: true, mode: 0o700 })
    await mkdir(join(this.dir, 'mounts'), { recursive: true, mode: 0o700 })
  }

  /** Reads the records, once, when a build or prune first needs them (not at daemon start). */
  load(): Promise<void> {
    this.loaded ??= this.readAll()
    return this.loaded
  }

  private async readAll(): Promise<void> {
    for (const name of await readdir(join(this.dir, 'records'))) {
      if (!name.endsWith('.json')) {
        // A temporary file left by a write that was cut short.
        await rm(join(this.dir, 'records', name), { force: true })
        continue
      }
      const r = await readJson<CacheRecord>(join(this.dir, 'records', name)).catch(() => undefined)
      if (r && r.key === name.slice(0, -5)) this.records.set(r.key, r)
      else await rm(join(this.dir, 'records', name), { force: true })
    }
    for (const name of await readdir(join(this.dir, 'mounts'))) {
      if (!name.endsWith('.json')) continue
      const m = await readJson<CacheMount>(join(this.dir, 'mounts', name)).catch(() => undefined)
      if (m) this.mounts.set(m.id, m)
    }
  }

  get(key: string): CacheRecord | undefined {
    return this.records.get(key)
  }

  /** Records whose use was noted since the last flush. */
  private readonly touched = new Set<string>()

  /**
   * Notes a hit. The time is advisory (for prune), so it is only written at the build's end
   * (flush), all records at once and without a sync, rather than one write per cached step.
   */
  touch(key: string): void {
    const r = this.records.get(key)
    if (!r) return
    r.lastUsedAt = new Date().toISOString()
    r.usageCount++
    this.touched.add(key)
  }

  /** Writes the records touched since the last flush. */
  async flush(): Promise<void> {
    const keys = [...this.touched]
    this.touched.clear()
    await Promise.all(
      keys.map(async (key) => {
        const r = this.records.get(key)
        if (!r) return
        const path = join(this.dir, 'records', `${key}.json`)
        const tmp = `${path}.${randomBytes(4).toString('hex')}`
        await writeFile(tmp, JSON.stringify(r))
        // Dropped meanwhile (builder prune): the record is not brought back.
        if (this.records.get(key) === r) await rename(tmp, path)
        else await rm(tmp, { force: true })
      }),
    )
  }

  async put(
    key: string,
    layer: LayerRef | undefined,
    description: string,
    exact?: string,
  ): Promise<void> {
    const now = new Date().toISOString()
    const r: CacheRecord = {
      key,
      ...(layer ? { layer } : {}),
      description,
      ...(exact !== undefined ? { exact } : {}),
      createdAt: now,
      lastUsedAt: now,
      usageCount: 1,
    }
    // Not synced: a record a crash loses costs a rebuild of the step, one it leaves empty or cut
    // short fails to parse and is dropped at load (readAll), and a record is trusted only while
    // the store holds its layer and blob (layer-step.ts), which are committed before it.
    await writeJsonAtomic(join(this.dir, 'records', `${key}.json`), r, { durable: false })
    this.records.set(key, r)
  }

  async drop(key: string): Promise<void> {
    this.records.delete(key)
    await rm(join(this.dir, 'records', `${key}.json`), { force: true })
  }

  list(): CacheRecord[] {
    return [...this.records.values()]
  }

  /** The persistent directory of a cache mount, made (owned and moded as asked) on first use. */
  async mount(
    id: string,
    owner: { uid: number; gid: number; mode: number },
    seed?: (dir: string) => Promise<void>,
  ): Promise<string> {
    const name = createHash('sha256').update(id).digest('hex')
    const dir = join(this.dir, 'mounts', name)
    const now = new Date().toISOString()
    let m = this.mounts.get(id)
    if (!m) {
      try {
        await mkdir(dir, { mode: owner.mode })
        await chown(dir, owner.uid, owner.gid)
        await chmod(dir, owner.mode)
        if (seed) {
          await seed(dir).catch(async (err: unknown) => {
            await rm(dir, { recursive: true, force: true })
            throw err
          })
        }
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err
      }
      m = { id, dir, createdAt: now, lastUsedAt: now }
      this.mounts.set(id, m)
    }
    m.lastUsedAt = now
    await writeJsonAtomic(join(this.dir, 'mounts', `${name}.json`), m)
    return dir
  }

  listMounts(): CacheMount[] {
    return [...this.mounts.values()]
  }

  async dropMount(id: string): Promise<void> {
    const m = this.mounts.get(id)
    if (!m) return
    this.mounts.delete(id)
    const name = createHash('sha256').update(id).digest('hex')
    await rm(join(this.dir, 'mounts', `${name}.json`), { force: true })
    await rm(m.dir, { recursive: true, force: true })
  }
}
