// The trash: removed containers kept for a while (`berthd --keep-removed 24h`), so that work
// left in one can be had back (`berth container restore`). Off unless the daemon is told.
//
// A removal that goes to the trash is the same removal for every client (the container is gone
// from every list, its name free, its runtime, mounts and network released, `destroy` emitted);
// only its record directory and its writable layer stay. Layout, under <root>/trash:
//
//   <id>/                 the container's record directory, moved here whole in one rename
//                         (config.json, state.json, its log, its /etc files, unsaved.json)
//   <id>/trashed.json     {name, removedAt, expiresAt, pending?}
//   .tmp-purge-<id>/      an entry being deleted
//
// The writable layer stays where it was (layers/rw/<id>): it keeps its image's layers from
// being deleted, and reconciliation leaves it alone while the entry exists. Each move is one
// rename, so a daemon killed in the middle of moving a container to the trash or back leaves
// either the container or the entry. Entries expire on a timer set to the next expiry.
import { lstat, mkdir, readdir, rm, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgument, NotFound, errnoCode } from '../errors.ts'
import { faultPoint } from '../fault.ts'
import { fsyncDir, readJson, writeJsonAtomic } from '../fsutil.ts'
import type { RWUsage } from '../layer/types.ts'
import type { Logger } from '../logger.ts'
import type { NetworkManager } from '../network/types.ts'
import { ANONYMOUS_LABEL, type VolumeStore } from '../volume/types.ts'
import { randomName, validateName } from './names.ts'
import { networked } from './network.ts'
import { ZERO_TIME, type ContainerStates } from './state.ts'
import type { ContainerStore } from './store.ts'
import type {
  Container,
  ContainerState,
  RestoreResult,
  TrashEntry,
  TrashPurgeReport,
} from './types.ts'
import { describe, mountPaths, readUnsaved, writeUnsaved, type UnsavedRecord } from './unsaved.ts'
import { KeyedQueue } from './waiters.ts'

const MARK = 'trashed.json'
/** setTimeout's longest delay; a later expiry re-arms the timer when it fires. */
const MAX_DELAY_MS = 2 ** 31 - 1

interface Mark {
  name: string
  removedAt: number
  expiresAt: number
  /**
   * A --rm container, kept only if it turns out to hold changes: hidden until its layer has
   * been measured, then kept or deleted.
   */
  pending?: boolean
}

interface Kept {
  c: Container
  mark: Mark
}

export interface TrashDeps {
  /** <root>/trash */
  dir: string
  /** How long a removed container is kept (ms); 0 turns the trash off. */
  keepMs: number
  store: ContainerStore
  states: ContainerStates
  measure(id: string, skip: ReadonlySet<string>): Promise<RWUsage>
  removeRW(id: string): Promise<void>
  imageExists(id: string): Promise<boolean>
  network: NetworkManager
  volumes?: VolumeStore
  logger: Logger
}

export class ContainerTrash {
  private readonly kept = new Map<string, Kept>()
  /** One operation on an entry at a time (restore, purge, expiry, the --rm decision). */
  private readonly queue = new KeyedQueue()
  private timer: NodeJS.Timeout | undefined
  private readonly jobs = new Set<Promise<void>>()

  constructor(private readonly deps: TrashDeps) {}

  get keepMs(): number {
    return this.deps.keepMs
  }

  /** Whether a removal goes to the trash: on, and the container has a layer worth keeping. */
  takes(c: Container): boolean {
    return this.deps.keepMs > 0 && !c.state.Dead
  }

  private entryDir(id: string): string {
    return join(this.deps.dir, id)
  }

  /** Loads the entries (before reconciliation, which must leave their layers alone). */
  async init(): Promise<void> {
    await mkdir(this.deps.dir, { recursive: true, mode: 0o700 })
    const names = await readdir(this.deps.dir)
    await Promise.all(
      names.map(async (n) => {
        if (n.startsWith('.tmp-')) {
          await rm(join(this.deps.dir, n), { recursive: true, force: true })
          return
        }
        if (!/^[0-9a-f]{64}$/.test(n)) return
        const dir = this.entryDir(n)
        const c = await this.deps.store.readRecord(dir).catch(() => undefined)
        if (!c) {
          this.deps.logger.warn('trash: an entry without a whole record is left alone', { id: n })
          return
        }
        // A mark lost to a crash (a restore that removed it before its rename): kept anew.
        const mark = (await readJson<Mark>(join(dir, MARK)).catch(() => undefined)) ?? {
          name: c.name,
          removedAt: (await lstat(dir)).mtimeMs,
          expiresAt: Date.now() + this.deps.keepMs,
        }
        this.kept.set(c.id, { c, mark })
        if (mark.pending) this.background(() => this.decide(c.id))
      }),
    )
    this.arm()
  }

  /** The IDs whose writable layers the trash keeps. */
  ids(): Set<string> {
    return new Set(this.kept.keys())
  }

  /**
   * Moves a container being removed into the trash: its runtime is gone and its root
   * filesystem unmounted. From here it is in no list and its name is free.
   */
  async put(c: Container, opts: { pending: boolean }): Promise<void> {
    const now = Date.now()
    const mark: Mark = {
      name: c.name,
      removedAt: now,
      expiresAt: now + this.deps.keepMs,
      ...(opts.pending ? { pending: true } : {}),
    }
    await writeJsonAtomic(join(this.deps.store.containerDir(c.id), MARK), mark)
    faultPoint('trash.before-move')
    await this.deps.store.moveOut(c, this.entryDir(c.id))
    faultPoint('trash.after-move')
    this.kept.set(c.id, { c, mark })
    this.arm()
  }

  /** After the removal's cleanup: measures what the entry holds, if it was not known exactly. */
  settle(id: string, unsaved: UnsavedRecord | undefined): void {
    const k = this.kept.get(id)
    if (!k) return
    if (k.mark.pending) {
      this.background(() => this.decide(id))
      return
    }
    if (!unsaved || unsaved.dirty || !unsaved.usage) {
      this.background(() => this.queue.run(id, () => this.measured(id).then(() => undefined)))
    }
  }

  /** A --rm container: kept when it holds changes, deleted when it holds none. */
  private decide(id: string): Promise<void> {
    return this.queue.run(id, async () => {
      const k = this.kept.get(id)
      if (!k?.mark.pending) return
      const rec = await this.measured(id)
      const u = rec.usage
      if (!u || u.files + u.deleted === 0) {
        await this.deleteEntry(id)
        return
      }
      const mark: Mark = { ...k.mark }
      delete mark.pending
      await writeJsonAtomic(join(this.entryDir(id), MARK), mark)
      k.mark = mark
      this.deps.logger.info('trash: kept a --rm container that held changes', {
        id,
        name: mark.name,
        bytes: u.bytes,
      })
    })
  }

  /** The entry's changes, measured now when they are not known exactly. */
  private async measured(id: string): Promise<UnsavedRecord> {
    const k = this.kept.get(id)
    if (!k) throw new NotFound(`No such container in the trash: ${id}`)
    const dir = this.entryDir(id)
    const rec = await readUnsaved(dir)
    if (!rec.dirty && rec.usage) return rec
    const measuredAt = Date.now()
    const usage = await this.deps.measure(id, mountPaths(k.c))
    const next: UnsavedRecord = { ...rec, usage, measuredAt, dirty: false }
    await writeUnsaved(dir, next)
    return next
  }

  async list(): Promise<TrashEntry[]> {
    const out: TrashEntry[] = []
    for (const k of this.visible()) {
      const entry = await this.queue
        .run(k.c.id, () => this.describeEntry(k))
        .catch((err: unknown) => {
          // Purged meanwhile.
          if (err instanceof NotFound || errnoCode(err) === 'ENOENT') return undefined
          throw err
        })
      if (entry) out.push(entry)
    }
    return out.sort((a, b) => b.RemovedAt.localeCompare(a.RemovedAt))
  }

  private visible(): Kept[] {
    return [...this.kept.values()].filter((k) => !k.mark.pending)
  }

  private async describeEntry(k: Kept): Promise<TrashEntry> {
    const dir = this.entryDir(k.c.id)
    const rec = await this.measured(k.c.id)
    const changes = await describe(
      { id: k.c.id, name: k.mark.name },
      rec,
      true,
      this.deps.imageExists,
    )
    return {
      Id: k.c.id,
      Name: k.mark.name,
      Image: k.c.imageRef,
      ImageID: k.c.image,
      Command: [k.c.path, ...k.c.args].join(' '),
      RemovedAt: new Date(k.mark.removedAt).toISOString(),
      ExpiresAt: new Date(k.mark.expiresAt).toISOString(),
      Size: (rec.usage?.bytes ?? 0) + (await filesSize(dir)),
      Changes: changes,
    }
  }

  /** Docker's lookup order among the entries: full ID, name (the newest), then ID prefix. */
  private find(ref: string): Kept {
    const visible = this.visible()
    const byId = visible.find((k) => k.c.id === ref)
    if (byId) return byId
    const name = ref.replace(/^\//, '')
    const named = visible
      .filter((k) => k.mark.name === name)
      .sort((a, b) => b.mark.removedAt - a.mark.removedAt)[0]
    if (named) return named
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = visible.filter((k) => k.c.id.startsWith(ref))
      if (matches.length > 1) {
        throw new InvalidArgument(`multiple IDs found with provided prefix: ${ref}`)
      }
      if (matches[0]) return matches[0]
    }
    throw new NotFound(`No such container in the trash: ${ref}`)
  }

  /**
   * Brings a removed container back, stopped: its name when free (or the one asked for), its
   * network planned again, its volumes taken again (made anew, empty, when they were removed).
   */
  async restore(ref: string, asked?: string): Promise<RestoreResult> {
    const found = this.find(ref)
    const id = found.c.id
    return this.queue.run(id, async () => {
      const k = this.kept.get(id)
      if (!k) throw new NotFound(`No such container in the trash: ${ref}`)
      const { store } = this.deps
      const warnings: string[] = []
      let name: string
      if (asked !== undefined && asked !== '') {
        // Conflict in Docker's words when the name asked for is taken.
        name = validateName(asked)
        store.reserveName(name, id)
      } else if (!store.nameTaken(k.mark.name)) {
        name = k.mark.name
        store.reserveName(name, id)
      } else {
        let retry = 0
        do name = randomName(retry++)
        while (store.nameTaken(name))
        store.reserveName(name, id)
        warnings.push(
          `the name "${k.mark.name}" is taken by another container; restored as "${name}"`,
        )
      }
      const dir = this.entryDir(id)
      // Stopped, and so it stays across daemon restarts until someone starts it.
      const c: Container = {
        ...k.c,
        name,
        state: stopped(k.c.state, k.mark.removedAt),
        manuallyStopped: true,
      }
      const taken: string[] = []
      try {
        await store.writeStateAt(dir, c)
        // The network is planned again (a network it named may be gone); /etc files rewritten.
        const plan = await this.deps.network.plan(networked(c, dir))
        warnings.push(...plan.warnings)
        for (const m of c.mountPoints ?? []) {
          if (m.Type !== 'volume' || !m.Name || !this.deps.volumes) continue
          const existed = await this.deps.volumes.get(m.Name).then(
            () => true,
            () => false,
          )
          await this.deps.volumes.create({
            name: m.Name,
            ref: id,
            ...(m.anonymous ? { labels: { [ANONYMOUS_LABEL]: '' } } : {}),
          })
          taken.push(m.Name)
          if (!existed) {
            warnings.push(
              `volume ${m.Name} (at ${m.Destination}) was removed with the container; it was made again, empty`,
            )
          }
        }
        faultPoint('restore.before-move')
        await store.moveIn(c, dir)
      } catch (err) {
        for (const v of taken) this.deps.volumes?.release(v, id)
        store.releaseName(name, id)
        throw err
      }
      this.kept.delete(id)
      this.arm()
      faultPoint('restore.after-move')
      await unlink(join(store.containerDir(id), MARK)).catch(() => undefined)
      if (!(await this.deps.imageExists(c.image))) {
        warnings.push(`its image ${c.image} was removed; the container keeps the layers it needs`)
      }
      this.deps.states.emit(c, 'create')
      this.deps.logger.info('trash: container restored', { id, name })
      return { Id: id, Name: name, Warnings: warnings }
    })
  }

  /** Deletes the entries named (ID, ID prefix or name), or every entry. */
  async purge(refs?: string[]): Promise<TrashPurgeReport> {
    const ids =
      refs && refs.length > 0
        ? refs.map((r) => this.find(r).c.id)
        : this.visible().map((k) => k.c.id)
    const deleted: string[] = []
    let space = 0
    for (const id of new Set(ids)) {
      const freed = await this.queue.run(id, async () => {
        const k = this.kept.get(id)
        if (!k || k.mark.pending) return undefined
        const size = await this.describeEntry(k).then(
          (e) => e.Size,
          () => 0,
        )
        await this.deleteEntry(id)
        return size
      })
      if (freed === undefined) continue
      deleted.push(id)
      space += freed
    }
    return { Deleted: deleted, SpaceReclaimed: space }
  }

  /** Deletes an entry: out of sight first (one rename), then its layer and its files. */
  private async deleteEntry(id: string): Promise<void> {
    const doomed = join(this.deps.dir, `.tmp-purge-${id}`)
    await rename(this.entryDir(id), doomed)
    await fsyncDir(this.deps.dir)
    this.kept.delete(id)
    this.arm()
    await this.deps.removeRW(id)
    await rm(doomed, { recursive: true, force: true })
  }

  /** Sets one timer for the next expiry; nothing polls. */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    let next = Infinity
    for (const k of this.kept.values()) next = Math.min(next, k.mark.expiresAt)
    if (next === Infinity) return
    const delay = Math.min(Math.max(0, next - Date.now()), MAX_DELAY_MS)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.background(() => this.expire())
    }, delay)
    this.timer.unref()
  }

  private async expire(): Promise<void> {
    const now = Date.now()
    for (const k of [...this.kept.values()]) {
      if (k.mark.expiresAt > now) continue
      await this.queue.run(k.c.id, async () => {
        if (!this.kept.has(k.c.id)) return
        await this.deleteEntry(k.c.id)
        this.deps.logger.info('trash: a removed container expired', {
          id: k.c.id,
          name: k.mark.name,
        })
      })
    }
    this.arm()
  }

  private background(fn: () => Promise<void>): void {
    const job: Promise<void> = fn()
      .catch((err: unknown) => {
        this.deps.logger.warn('trash: background work failed', { error: String(err) })
      })
      .finally(() => this.jobs.delete(job))
    this.jobs.add(job)
  }

  /** Waits for the background work (tests, shutdown). */
  async settleAll(): Promise<void> {
    while (this.jobs.size > 0) await Promise.all([...this.jobs])
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }
}

/** The state a restored container has: stopped, as it was when removed. */
export function stopped(s: ContainerState, removedAt: number): ContainerState {
  const ran = s.StartedAt !== ZERO_TIME
  return {
    ...s,
    Status: ran ? 'exited' : 'created',
    Running: false,
    Paused: false,
    Restarting: false,
    Dead: false,
    Pid: 0,
    FinishedAt:
      ran && s.FinishedAt === ZERO_TIME
        ? new Date(removedAt).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')
        : s.FinishedAt,
  }
}

/** Bytes of the files under a directory (a trash entry's record and log). */
async function filesSize(dir: string): Promise<number> {
  let total = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) total += await filesSize(p)
    else if (e.isFile()) total += (await lstat(p)).size
  }
  return total
}
