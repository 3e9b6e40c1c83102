// berth's synced build contexts: `berth build` on the daemon's own machine keeps a copy of each
// context directory here between builds, and sends only the files whose stat changed (BuildKit's
// session does the same with its file sync). The stat is only a "did it change" hint for sending:
// every file the daemon holds was hashed by the daemon when it came, and cache keys are those
// content hashes, never times.
import { randomBytes } from 'node:crypto'
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { listingDigest } from '../../lib/build-digest.ts'
import { Conflict, InvalidArgument } from '../errors.ts'
import { BuildContext, type ContextEntry } from './context.ts'

/** What the client says of each path of its context: type, mode, size, inode and times. */
export type ContextListing = Record<string, string>

interface State {
  entries: [string, ContextEntry][]
  stats: ContextListing
  /**
   * The digest the client names this listing by (the one it sent with the sync, else
   * listingDigest(stats)): an unchanged context is known by it alone (openUnchanged).
   */
  digest?: string
  /** How many builds used it. */
  uses?: number
}

/** One kept context, as `system df` counts it and `builder prune` removes it. */
export interface KeptContext {
  key: string
  /** Bytes of its files. */
  size: number
  createdAt: string
  lastUsedAt: string
  usageCount: number
  /** Whether a build holds it now. */
  inUse: boolean
}

const KEY = /^[0-9a-f]{32}$/
const DIGEST = /^[0-9a-f]{64}$/
/** How many contexts' states are kept in memory. */
const RECENT = 4

export class ContextStore {
  private readonly locks = new Map<string, Promise<void>>()
  /** States of the contexts used last, as their state.json holds them. */
  private readonly recent = new Map<string, State>()

  constructor(
    private readonly dir: string,
    /** How many contexts to keep; the least recently used go first. */
    private readonly max = 16,
  ) {}

  private paths(key: string): { root: string; files: string; state: string } {
    if (!KEY.test(key)) throw new InvalidArgument(`invalid build context key: ${key}`)
    const root = join(this.dir, key)
    return { root, files: join(root, 'files'), state: join(root, 'state.json') }
  }

  private async load(key: string): Promise<State | undefined> {
    const { state } = this.paths(key)
    const kept = this.recent.get(key)
    if (kept) return kept
    try {
      const st = JSON.parse(await readFile(state, 'utf8')) as State
      this.remember(key, st)
      return st
    } catch {
      return undefined
    }
  }

  /**
   * Keeps a state read or written in memory (a few, the most recent): a build reads it twice
   * (needs, open), and an unchanged rebuild would spend more on parsing it than on anything else.
   * The file stays the truth: every change of it goes through here or `forget`.
   */
  private remember(key: string, st: State): void {
    this.recent.delete(key)
    this.recent.set(key, st)
    for (const k of this.recent.keys()) {
      if (this.recent.size <= RECENT) break
      this.recent.delete(k)
    }
  }

  /** The paths whose content the daemon needs: new ones and those whose stat changed. */
  async needs(key: string, listing: ContextListing): Promise<string[]> {
    const st = await this.load(key)
    return Object.keys(listing).filter((rel) => st?.stats[rel] !== listing[rel])
  }

  /** Waits for builds of the same context, then holds it until `release`. */
  private async lock(key: string): Promise<() => void> {
    const before = this.locks.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((r) => (release = r))
    const chained = before.then(() => mine)
    this.locks.set(key, chained)
    await before
    return () => {
      release()
      if (this.locks.get(key) === chained) this.locks.delete(key)
    }
  }

  /**
   * Brings the kept copy up to `listing`: the tar's files go in, paths the listing lacks go out,
   * and a path not sent must be unchanged since it came (else 409: the client sends it all).
   * The context stays the caller's until `release`. `digest` is what the client will call this
   * listing when it is unchanged (openUnchanged); without it, listingDigest(listing).
   */
  async open(
    key: string,
    listing: ContextListing,
    tar: Readable,
    signal?: AbortSignal,
    digest?: string,
  ): Promise<{ ctx: BuildContext; release: () => void }> {
    const p = this.paths(key)
    if (digest !== undefined && !DIGEST.test(digest))
      throw new InvalidArgument(`invalid build context digest: ${digest}`)
    const release = await this.lock(key)
    try {
      const st = await this.load(key)
      // The copy is in flux until the new state is written: a crash leaves no state, so the
      // next build sends everything again.
      this.recent.delete(key)
      await rm(p.state, { force: true })
      if (!st) {
        await rm(p.files, { recursive: true, force: true })
        await this.evict(key)
      }
      await mkdir(p.files, { recursive: true, mode: 0o700 })
      const ctx = BuildContext.restore(p.files, st?.entries ?? [])
      const sent = await ctx.apply(tar, signal)
      const have = new Map(ctx.list())
      for (const rel of Object.keys(listing)) {
        if (sent.has(rel)) continue
        if (!have.has(rel) || st?.stats[rel] !== listing[rel]) {
          throw new Conflict(
            `build context: ${rel} changed after the daemon said what it needs; send it again`,
          )
        }
      }
      // Everything the client no longer has goes (deepest first is not needed: drop is recursive).
      for (const [rel] of ctx.list()) {
        if (rel !== '' && !(rel in listing) && !sent.has(rel)) await ctx.drop(rel)
      }
      const state: State = {
        entries: ctx.list(),
        stats: listing,
        digest: digest ?? listingDigest(listing),
        uses: (st?.uses ?? 0) + 1,
      }
      const tmp = `${p.state}.${randomBytes(4).toString('hex')}`
      await writeFile(tmp, JSON.stringify(state))
      await rename(tmp, p.state)
      this.remember(key, state)
      return { ctx, release }
    } catch (err) {
      release()
      throw err
    }
  }

  /**
   * The kept copy as it is, for a client whose listing has `digest`, the kept listing's: every
   * path with the same stat as when its content came, none more, none less, so nothing to send,
   * apply or write. Any other digest (or none kept) is a 409: the client syncs with `open`. Only
   * the directory's time is set, which says when it was last used (system df, builder prune,
   * eviction); the use count is kept in memory and written with the next state.
   */
  async openUnchanged(
    key: string,
    digest: string,
  ): Promise<{ ctx: BuildContext; release: () => void }> {
    const p = this.paths(key)
    const release = await this.lock(key)
    try {
      const st = await this.load(key)
      if (!st || st.digest === undefined || st.digest !== digest) {
        throw new Conflict('build context: it changed since the daemon kept it; send what changed')
      }
      st.uses = (st.uses ?? 0) + 1
      const now = new Date()
      await utimes(p.root, now, now)
      return { ctx: BuildContext.restore(p.files, st.entries), release }
    } catch (err) {
      release()
      throw err
    }
  }

  /** Keeps at most `max` contexts: the least recently used others go. */
  private async evict(keep: string): Promise<void> {
    let keys: string[]
    try {
      keys = (await readdir(this.dir)).filter((k) => KEY.test(k) && k !== keep)
    } catch {
      return
    }
    if (keys.length < this.max) return
    const aged = await Promise.all(
      keys.map(async (k) => ({
        k,
        t: await stat(join(this.dir, k))
          .then((s) => s.mtimeMs)
          .catch(() => 0),
      })),
    )
    aged.sort((a, b) => a.t - b.t)
    for (const { k } of aged.slice(0, keys.length - this.max + 1)) {
      if (this.locks.has(k)) continue
      this.recent.delete(k)
      await rm(join(this.dir, k), { recursive: true, force: true })
    }
  }

  /** Every kept context: its size from its state (a context in flux counts what is on disk). */
  async list(): Promise<KeptContext[]> {
    let keys: string[]
    try {
      keys = (await readdir(this.dir)).filter((k) => KEY.test(k))
    } catch {
      return []
    }
    const out: KeptContext[] = []
    for (const key of keys) {
      const p = this.paths(key)
      const dst = await stat(p.root).catch(() => undefined)
      if (!dst) continue
      const st = this.locks.has(key) ? undefined : await this.load(key)
      const size = st
        ? st.entries.reduce((n, [, e]) => n + (e.type === 'file' ? e.size : 0), 0)
        : await duBytes(p.files)
      out.push({
        key,
        size,
        createdAt:
          dst.birthtime.getTime() > 0 ? dst.birthtime.toISOString() : dst.ctime.toISOString(),
        lastUsedAt: dst.mtime.toISOString(),
        usageCount: st?.uses ?? 1,
        inUse: this.locks.has(key),
      })
    }
    return out
  }

  /** Removes one kept context unless a build holds it; whether it went. */
  async remove(key: string): Promise<boolean> {
    const p = this.paths(key)
    if (this.locks.has(key)) return false
    this.recent.delete(key)
    await rm(p.root, { recursive: true, force: true })
    return true
  }
}

/** Bytes of the regular files below a directory. */
export async function duBytes(dir: string): Promise<number> {
  let total = 0
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.isFile()) total += (await lstat(p)).size
    }
  }
  await walk(dir)
  return total
}
