// What each container holds in its writable layer outside its volumes and binds (its unsaved
// changes), known cheaply: measured by walking the overlay upper directory only when it may have
// changed, and remembered with the container (`unsaved.json` beside its records).
//
// A stopped container's layer changes only through berth (`cp` into it), which says so, so its
// figures, measured once after it stops, stay exact without another look. A running container
// may change at any moment: asking for everything (`ps`) answers from the last look and measures
// again in the background, one container at a time; asking for one (`rm`'s guard) measures it
// now. "Saved" means an image was committed from the container after its last change (by the
// files' ctimes) and still exists.
import { join } from 'node:path'
import { NotFound, errnoCode } from '../errors.ts'
import { readJson, writeJsonAtomic } from '../fsutil.ts'
import type { RWUsage } from '../layer/types.ts'
import type { Logger } from '../logger.ts'
import type { Container, UnsavedChanges } from './types.ts'

/** A running container is looked at again when its figures are older than this. */
export const RESCAN_AFTER_MS = 2000

const FILE = 'unsaved.json'

/** What is kept of a container between looks (and across daemon restarts). */
export interface UnsavedRecord {
  usage?: RWUsage
  /** When usage was measured (ms since the epoch). */
  measuredAt?: number
  /** The layer may have changed since usage was measured. */
  dirty: boolean
  /** The last commit: the image and when its diff began (ms since the epoch). */
  saved?: { image: string; at: number }
}

export interface UnsavedDeps {
  /** The container's own directory, where its record is kept. */
  dir(id: string): string
  /** Measures a container's writable layer, leaving out the paths given. */
  measure(id: string, skip: ReadonlySet<string>): Promise<RWUsage>
  imageExists(id: string): Promise<boolean>
  logger: Logger
}

interface Entry {
  rec: UnsavedRecord
  /** Bumped by every change: a look started before it does not make the figures clean. */
  gen: number
  /** The look under way, if any. */
  looking?: Promise<void>
}

/** The mount points of a container's volumes, binds and tmpfs mounts: not its own changes. */
export function mountPaths(c: Container): Set<string> {
  return new Set((c.mountPoints ?? []).map((m) => m.Destination.replace(/(.)\/+$/, '$1')))
}

/** Reads a container's record; one that is missing or unreadable is a layer to measure. */
export async function readUnsaved(dir: string): Promise<UnsavedRecord> {
  try {
    const rec = await readJson<UnsavedRecord>(join(dir, FILE))
    if (rec && typeof rec === 'object') return rec
  } catch {
    // unreadable: measured again
  }
  return { dirty: true }
}

export function writeUnsaved(dir: string, rec: UnsavedRecord): Promise<void> {
  return writeJsonAtomic(join(dir, FILE), rec)
}

/** The answer for a container from what is known of it (pure, but for the image check). */
export async function describe(
  c: Pick<Container, 'id' | 'name'>,
  rec: UnsavedRecord,
  current: boolean,
  imageExists: (id: string) => Promise<boolean>,
): Promise<UnsavedChanges> {
  const u = rec.usage
  const changed = u !== undefined && u.files + u.deleted > 0
  let savedIn = ''
  if (
    changed &&
    rec.saved &&
    u.lastChange <= rec.saved.at &&
    (await imageExists(rec.saved.image))
  ) {
    savedIn = rec.saved.image
  }
  return {
    Id: c.id,
    Name: c.name,
    Unsaved: changed && savedIn === '',
    Size: u?.bytes ?? 0,
    Files: u?.files ?? 0,
    Deleted: u?.deleted ?? 0,
    LastChange: changed && u.lastChange > 0 ? new Date(u.lastChange).toISOString() : '',
    Top: (u?.top ?? []).map((p) => ({ Path: p.path, Size: p.bytes })),
    SavedIn: savedIn,
    MeasuredAt: rec.measuredAt ? new Date(rec.measuredAt).toISOString() : '',
    Current: current && u !== undefined && !rec.dirty,
  }
}

export class UnsavedTracker {
  private readonly entries = new Map<string, Entry>()
  /** Containers waiting for a background look, in order; one look runs at a time. */
  private readonly pending = new Map<string, Container>()
  private draining: Promise<void> | undefined

  constructor(private readonly deps: UnsavedDeps) {}

  /** Loads what is remembered of the containers (at daemon start, off the start-up path). */
  async load(containers: Container[]): Promise<void> {
    await Promise.all(
      containers.map(async (c) => {
        if (this.entries.has(c.id)) return
        const rec = await readUnsaved(this.deps.dir(c.id))
        if (this.entries.has(c.id)) return
        // A running container may have changed anything while the daemon was away.
        if (c.state.Running) rec.dirty = true
        this.entries.set(c.id, { rec, gen: 0 })
        if (rec.dirty && !c.state.Running) this.schedule(c)
      }),
    )
  }

  private entry(id: string): Entry {
    let e = this.entries.get(id)
    if (!e) {
      e = { rec: { dirty: true }, gen: 0 }
      this.entries.set(id, e)
    }
    return e
  }

  /** The container runs: its layer may change from now on. */
  started(id: string): void {
    const e = this.entry(id)
    e.gen++
    e.rec.dirty = true
  }

  /** The layer is about to change through berth (`cp` into it): remembered before it does. */
  async changing(id: string): Promise<void> {
    const e = this.entry(id)
    e.gen++
    if (e.rec.dirty) return
    e.rec.dirty = true
    await writeUnsaved(this.deps.dir(id), e.rec)
  }

  /** The process ended, or berth finished changing the layer: measure it once, in the background. */
  settled(c: Container): void {
    this.schedule(c)
  }

  /** An image was committed from the container; its diff began at `at` (ms). */
  async committed(id: string, image: string, at: number): Promise<void> {
    const e = this.entry(id)
    e.rec.saved = { image, at }
    await writeUnsaved(this.deps.dir(id), e.rec).catch((err: unknown) => this.warn(id, err))
  }

  /** The container is gone (or moved to the trash, its record with it). */
  forget(id: string): void {
    this.entries.delete(id)
    this.pending.delete(id)
  }

  /** What is remembered of the container now, for a record that moves with it. */
  record(id: string): UnsavedRecord | undefined {
    const e = this.entries.get(id)
    return e ? { ...e.rec } : undefined
  }

  /** A container's changes, measured now unless the figures are known to be exact. */
  async exact(c: Container): Promise<UnsavedChanges> {
    const e = this.entry(c.id)
    if (e.looking) await e.looking
    if (e.rec.dirty || c.state.Running || e.rec.usage === undefined) await this.look(c)
    return this.answer(c)
  }

  /** A container's changes as known, with a look scheduled when they may be out of date. */
  async known(c: Container): Promise<UnsavedChanges> {
    const e = this.entry(c.id)
    const stale = c.state.Running
      ? (e.rec.measuredAt ?? 0) < Date.now() - RESCAN_AFTER_MS
      : e.rec.dirty || e.rec.usage === undefined
    if (stale && !e.looking) this.schedule(c)
    return this.answer(c)
  }

  private answer(c: Container): Promise<UnsavedChanges> {
    const e = this.entry(c.id)
    return describe(c, e.rec, !c.state.Running, (id) => this.deps.imageExists(id))
  }

  /** Measures the layer; figures taken while it changed stay dirty. */
  private look(c: Container): Promise<void> {
    const e = this.entry(c.id)
    if (e.looking) return e.looking
    const gen = e.gen
    const running = c.state.Running
    const looking = (async () => {
      const measuredAt = Date.now()
      let usage: RWUsage
      try {
        usage = await this.deps.measure(c.id, mountPaths(c))
      } catch (err) {
        // Removed meanwhile: nothing to remember.
        if (err instanceof NotFound) return
        throw err
      }
      if (this.entries.get(c.id) !== e) return
      e.rec = { ...e.rec, usage, measuredAt, dirty: running || e.gen !== gen }
      await writeUnsaved(this.deps.dir(c.id), e.rec).catch((err: unknown) => this.warn(c.id, err))
    })().finally(() => {
      if (e.looking === looking) e.looking = undefined
    })
    e.looking = looking
    return looking
  }

  private schedule(c: Container): void {
    this.pending.set(c.id, c)
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined
    })
  }

  /** Background looks, one at a time: ps never waits for them, and they never crowd the host. */
  private async drain(): Promise<void> {
    for (;;) {
      const next = this.pending.values().next()
      if (next.done) return
      const c = next.value
      this.pending.delete(c.id)
      await this.look(c).catch((err: unknown) => this.warn(c.id, err))
    }
  }

  /** Waits for the background looks (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.draining) await this.draining
  }

  private warn(id: string, err: unknown): void {
    // Removed (or moved to the trash) while it was measured: nothing to keep.
    if (errnoCode(err) === 'ENOENT') return
    this.deps.logger.warn('measuring a container layer failed', { id, error: String(err) })
  }
}
