// Docker's "local" volume driver: each volume is a plain directory `<dir>/<name>/_data`
// (as Docker lays them out, so users can back them up), with its labels and options in
// `<dir>/<name>/meta.json`. A volume appears only by renaming a complete directory into place.
import type { EventSink } from '../events/types.ts'
import { randomBytes } from 'node:crypto'
import { chmod, lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Conflict, Internal, InvalidArgument, NotFound, errnoCode } from '../errors.ts'
import { fsyncDir, readJson, writeJsonAtomic } from '../fsutil.ts'
import {
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  mount,
  umount,
} from '../sys/libc.ts'
import {
  listMatcher,
  pruneMatcher,
  rfc3339Seconds,
  validateOptions,
  validateVolumeName,
} from './rules.ts'
import type {
  PruneReport,
  Volume,
  VolumeCreateOptions,
  VolumeFilters,
  VolumeStore,
} from './types.ts'
import { ANONYMOUS_LABEL } from './types.ts'

export { validateVolumeName }

interface Meta {
  Name: string
  Driver: 'local'
  CreatedAt: string
  Labels: Record<string, string> | null
  Options: Record<string, string> | null
}

/** A volume as the store holds it: its meta, or why its meta.json could not be read. */
interface Held extends Meta {
  /** Set when meta.json exists but cannot be read (not persisted). */
  unreadable?: string
}

/** Where the store reports what it finds wrong on disk. */
export interface VolumeLogger {
  warn(msg: string, fields?: Record<string, unknown>): void
}

const DATA = '_data'
const META = 'meta.json'

/** Bytes in regular files under dir, each inode once (moby's directory.Size). */
async function dirSize(dir: string): Promise<number> {
  const seen = new Set<string>()
  let total = 0
  const walk = async (d: string): Promise<void> => {
    let entries: string[]
    try {
      entries = await readdir(d)
    } catch {
      return
    }
    for (const e of entries) {
      const p = join(d, e)
      const st = await lstat(p).catch(() => undefined)
      if (!st) continue
      if (st.isDirectory()) {
        await walk(p)
        continue
      }
      const key = `${st.dev}:${st.ino}`
      if (st.nlink > 1) {
        if (seen.has(key)) continue
        seen.add(key)
      }
      total += st.size
    }
  }
  await walk(dir)
  return total
}

const MOUNT_FLAGS: Record<string, [set: number, clear: number]> = {
  ro: [MS_RDONLY, 0],
  rw: [0, MS_RDONLY],
  nosuid: [MS_NOSUID, 0],
  suid: [0, MS_NOSUID],
  nodev: [MS_NODEV, 0],
  dev: [0, MS_NODEV],
  noexec: [MS_NOEXEC, 0],
  exec: [0, MS_NOEXEC],
  bind: [MS_BIND, 0],
  rbind: [MS_BIND | MS_REC, 0],
}

/** Splits the `o` option into mount(2) flags and filesystem data, as moby's mount.Mount does. */
export function mountFlags(o: string): { flags: number; data: string } {
  let flags = 0
  const data: string[] = []
  for (const opt of o.split(',')) {
    if (opt === '') continue
    const f = MOUNT_FLAGS[opt]
    if (f) flags = (flags | f[0]) & ~f[1]
    else data.push(opt)
  }
  return { flags, data: data.join(',') }
}

/** A volume's meta.json; undefined when there is none (a directory laid out as Docker's). */
async function readMeta(path: string): Promise<Meta | undefined> {
  const meta = await readJson<unknown>(path)
  if (meta === undefined) return undefined
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new Error('not a JSON object')
  }
  return meta as Meta
}

export class LocalVolumeStore implements VolumeStore {
  private readonly vols = new Map<string, Held>()
  private readonly users = new Map<string, Set<string>>()
  /**
   * Volumes with a device mounted on their _data, and the containers that mounted them (a
   * set, so that a container's unmount at exit and again at removal counts once).
   */
  private readonly mounted = new Map<string, Set<string>>()
  private readonly locks = new Map<string, Promise<unknown>>()
  private pruning = false

  /** dir: `<dataRoot>/volumes`. */
  constructor(
    readonly dir: string,
    private readonly logger?: VolumeLogger,
    /** Where create, destroy and prune are told, as dockerd's volume events. */
    private readonly events?: EventSink,
  ) {}

  private event(action: string, id: string, attributes: Record<string, string>): void {
    this.events?.emit({ Type: 'volume', Action: action, Actor: { ID: id, Attributes: attributes } })
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o701 })
    for (const entry of await readdir(this.dir)) {
      const p = join(this.dir, entry)
      if (entry.startsWith('.tmp-')) {
        await rm(p, { recursive: true, force: true })
        continue
      }
      const st = await stat(p).catch(() => undefined)
      if (!st?.isDirectory()) continue
      let meta: Meta | undefined
      try {
        meta = await readMeta(join(p, META))
      } catch (err) {
        // Neither dropped nor shown as a plain volume: its options (a device to mount, say)
        // would be lost, and prune would take it for one without options.
        const why = `cannot read ${join(p, META)}: ${(err as Error).message}`
        this.logger?.warn(`volume ${entry}: ${why}`, { volume: entry })
        this.vols.set(entry, {
          Name: entry,
          Driver: 'local',
          CreatedAt: rfc3339Seconds(st.mtime),
          Labels: null,
          Options: null,
          unreadable: why,
        })
        continue
      }
      if (meta) {
        this.vols.set(entry, { ...meta, Name: entry })
        continue
      }
      // A directory laid out as Docker's (say, restored from a backup) is a volume too.
      if (await stat(join(p, DATA)).catch(() => undefined)) {
        this.vols.set(entry, {
          Name: entry,
          Driver: 'local',
          CreatedAt: rfc3339Seconds(st.mtime),
          Labels: null,
          Options: null,
        })
      }
    }
  }

  private async locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    const tail = run.catch(() => undefined)
    this.locks.set(name, tail)
    try {
      return await run
    } finally {
      if (this.locks.get(name) === tail) this.locks.delete(name)
    }
  }

  private path(name: string): string {
    return join(this.dir, name, DATA)
  }

  private toApi(m: Held): Volume {
    return {
      Name: m.Name,
      Driver: m.Driver,
      Mountpoint: this.path(m.Name),
      CreatedAt: m.CreatedAt,
      Labels: m.Labels,
      Scope: 'local',
      Options: m.Options,
      ...(m.unreadable !== undefined ? { Status: { Error: m.unreadable } } : {}),
    }
  }

  private addRef(name: string, ref: string | undefined): void {
    if (!ref) return
    let set = this.users.get(name)
    if (!set) this.users.set(name, (set = new Set()))
    set.add(ref)
  }

  refs(name: string): string[] {
    return [...(this.users.get(name) ?? [])]
  }

  async create(opts: VolumeCreateOptions): Promise<Volume> {
    const driver = opts.driver || 'local'
    let name = opts.name ?? ''
    let labels = opts.labels && Object.keys(opts.labels).length > 0 ? { ...opts.labels } : null
    if (name === '') {
      name = randomBytes(32).toString('hex')
      labels = { ...(labels ?? {}), [ANONYMOUS_LABEL]: '' }
    }
    if (driver !== 'local') {
      throw new NotFound(
        `create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`,
      )
    }
    validateVolumeName(name)
    return this.locked(name, async () => {
      const existing = this.vols.get(name)
      if (existing) {
        this.addRef(name, opts.ref)
        // dockerd tells every create, of a volume already there too.
        this.event('create', name, { driver: 'local' })
        return this.toApi(existing)
      }
      const options = opts.options && Object.keys(opts.options).length > 0 ? opts.options : null
      if (options) validateOptions(name, options)
      const meta: Meta = {
        Name: name,
        Driver: 'local',
        CreatedAt: rfc3339Seconds(new Date()),
        Labels: labels,
        Options: options ? { ...options } : null,
      }
      const tmp = join(this.dir, `.tmp-${randomBytes(6).toString('hex')}`)
      try {
        await mkdir(tmp)
        await chmod(tmp, 0o701)
        await mkdir(join(tmp, DATA))
        await chmod(join(tmp, DATA), 0o755)
        await writeJsonAtomic(join(tmp, META), meta)
        await rename(tmp, join(this.dir, name))
      } catch (err) {
        await rm(tmp, { recursive: true, force: true })
        throw err
      }
      await fsyncDir(this.dir)
      this.vols.set(name, meta)
      this.addRef(name, opts.ref)
      this.event('create', name, { driver: 'local' })
      return this.toApi(meta)
    })
  }

  get(name: string, ref?: string): Promise<Volume> {
    const m = this.vols.get(name)
    if (!m) return Promise.reject(new NotFound(`get ${name}: no such volume`))
    this.addRef(name, ref)
    return Promise.resolve(this.toApi(m))
  }

  async list(filters: VolumeFilters = {}): Promise<Volume[]> {
    const listed = listMatcher(filters)
    const out: Volume[] = []
    for (const m of this.vols.values()) {
      if (listed(m, this.refs(m.Name).length > 0)) out.push(this.toApi(m))
    }
    return out.sort((a, b) => a.Name.localeCompare(b.Name))
  }

  async usage(): Promise<Volume[]> {
    const out: Volume[] = []
    for (const v of await this.list()) {
      const size = await dirSize(v.Mountpoint)
      out.push({ ...v, UsageData: { Size: size, RefCount: this.refs(v.Name).length } })
    }
    return out
  }

  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    if (!this.vols.has(name)) {
      if (opts.force) return
      throw new NotFound(`get ${name}: no such volume`)
    }
    await this.locked(name, async () => {
      if (!this.vols.has(name)) return
      const refs = this.refs(name)
      if (refs.length > 0) {
        throw new Conflict(`remove ${name}: volume is in use - [${refs.join(', ')}]`)
      }
      await this.unmountDevice(name)
      // Out of sight first, so a crash mid-delete never leaves half a volume that looks whole.
      const doomed = join(this.dir, `.tmp-rm-${randomBytes(6).toString('hex')}`)
      await rename(join(this.dir, name), doomed)
      this.vols.delete(name)
      this.users.delete(name)
      await rm(doomed, { recursive: true, force: true })
      this.event('destroy', name, { driver: 'local' })
    })
  }

  async prune(filters: VolumeFilters = {}): Promise<PruneReport> {
    if (this.pruning) throw new Conflict('a prune operation is already running')
    this.pruning = true
    try {
      const prunable = pruneMatcher(filters)
      const report: PruneReport = { VolumesDeleted: [], SpaceReclaimed: 0 }
      for (const m of [...this.vols.values()]) {
        // A volume whose options cannot be read may have some: it is never pruned.
        if (m.unreadable !== undefined) continue
        if (!prunable(m, this.refs(m.Name).length > 0)) continue
        const size = await dirSize(this.path(m.Name))
        try {
          await this.remove(m.Name)
        } catch {
          continue // taken into use meanwhile
        }
        report.SpaceReclaimed += size
        report.VolumesDeleted.push(m.Name)
      }
      this.event('prune', '', { reclaimed: String(report.SpaceReclaimed) })
      return report
    } finally {
      this.pruning = false
    }
  }

  release(name: string, ref: string): void {
    const set = this.users.get(name)
    if (!set) return
    set.delete(ref)
    if (set.size === 0) this.users.delete(name)
  }

  async mount(name: string, ref: string): Promise<string> {
    const m = this.vols.get(name)
    if (!m) throw new NotFound(`get ${name}: no such volume`)
    if (m.unreadable !== undefined) {
      throw new Internal(`error while mounting volume '${this.path(name)}': ${m.unreadable}`)
    }
    this.addRef(name, ref)
    const o = m.Options
    if (!o || (!o.type && !o.device)) return this.path(name)
    return this.locked(name, async () => {
      const refs = this.mounted.get(name) ?? new Set<string>()
      if (refs.size === 0) {
        const { flags, data } = mountFlags(o.o ?? '')
        try {
          mount(o.device ?? '', this.path(name), o.type ?? '', flags, data)
        } catch (err) {
          throw new InvalidArgument(
            `error while mounting volume '${this.path(name)}': failed to mount local volume: ${(err as Error).message}`,
            { cause: err },
          )
        }
      }
      refs.add(ref)
      this.mounted.set(name, refs)
      return this.path(name)
    })
  }

  async unmount(name: string, ref: string): Promise<void> {
    await this.locked(name, async () => {
      const refs = this.mounted.get(name)
      if (!refs?.delete(ref)) return
      if (refs.size === 0) await this.unmountDevice(name)
    })
  }

  private unmountDevice(name: string): Promise<void> {
    if (!this.mounted.has(name)) return Promise.resolve()
    try {
      umount(this.path(name), 0)
    } catch (err) {
      if (errnoCode(err) !== 'EINVAL' && !/EINVAL|ENOENT/.test(String(err))) throw err
    }
    this.mounted.delete(name)
    return Promise.resolve()
  }
}
