// An in-memory VolumeStore for API tests: the local driver's rules (rules.ts) over a Map, with
// no directories and no mounts. test/conformance/volume-store.test.ts holds it to the same
// behaviour as LocalVolumeStore.
import { randomBytes } from 'node:crypto'
import { Conflict, NotFound } from '../errors.ts'
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

interface FakeVolume {
  volume: Volume
  /** Bytes "written" into it (FakeVolumeStore.write), for usage and prune. */
  bytes: number
}

export class FakeVolumeStore implements VolumeStore {
  private readonly vols = new Map<string, FakeVolume>()
  private readonly users = new Map<string, Set<string>>()
  private readonly mounted = new Map<string, number>()

  /** root: where Mountpoints claim to be (nothing is made there). */
  constructor(private readonly root = '/var/lib/berth/volumes') {}

  /** Test helper: as if a container wrote `bytes` bytes into the volume. */
  write(name: string, bytes: number): void {
    const v = this.vols.get(name)
    if (!v) throw new NotFound(`get ${name}: no such volume`)
    v.bytes += bytes
  }

  /** Test helper: the volumes mounted now, and how many times. */
  mounts(): Map<string, number> {
    return new Map(this.mounted)
  }

  refs(name: string): string[] {
    return [...(this.users.get(name) ?? [])]
  }

  private addRef(name: string, ref: string | undefined): void {
    if (!ref) return
    let set = this.users.get(name)
    if (!set) this.users.set(name, (set = new Set()))
    set.add(ref)
  }

  private copy(v: Volume): Volume {
    return structuredClone(v)
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
    const existing = this.vols.get(name)
    if (existing) {
      this.addRef(name, opts.ref)
      return this.copy(existing.volume)
    }
    const options = opts.options && Object.keys(opts.options).length > 0 ? opts.options : null
    if (options) validateOptions(name, options)
    const volume: Volume = {
      Name: name,
      Driver: 'local',
      Mountpoint: `${this.root}/${name}/_data`,
      CreatedAt: rfc3339Seconds(new Date()),
      Labels: labels,
      Scope: 'local',
      Options: options ? { ...options } : null,
    }
    this.vols.set(name, { volume, bytes: 0 })
    this.addRef(name, opts.ref)
    return this.copy(volume)
  }

  async get(name: string, ref?: string): Promise<Volume> {
    const v = this.vols.get(name)
    if (!v) throw new NotFound(`get ${name}: no such volume`)
    this.addRef(name, ref)
    return this.copy(v.volume)
  }

  async list(filters: VolumeFilters = {}): Promise<Volume[]> {
    const listed = listMatcher(filters)
    return [...this.vols.values()]
      .filter((v) => listed(v.volume, this.refs(v.volume.Name).length > 0))
      .map((v) => this.copy(v.volume))
      .sort((a, b) => a.Name.localeCompare(b.Name))
  }

  async usage(): Promise<Volume[]> {
    const out: Volume[] = []
    for (const v of await this.list()) {
      const bytes = this.vols.get(v.Name)?.bytes ?? 0
      out.push({ ...v, UsageData: { Size: bytes, RefCount: this.refs(v.Name).length } })
    }
    return out
  }

  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    if (!this.vols.has(name)) {
      if (opts.force) return
      throw new NotFound(`get ${name}: no such volume`)
    }
    const refs = this.refs(name)
    if (refs.length > 0) {
      throw new Conflict(`remove ${name}: volume is in use - [${refs.join(', ')}]`)
    }
    this.mounted.delete(name)
    this.vols.delete(name)
    this.users.delete(name)
  }

  async prune(filters: VolumeFilters = {}): Promise<PruneReport> {
    const prunable = pruneMatcher(filters)
    const report: PruneReport = { VolumesDeleted: [], SpaceReclaimed: 0 }
    for (const v of [...this.vols.values()]) {
      if (!prunable(v.volume, this.refs(v.volume.Name).length > 0)) continue
      await this.remove(v.volume.Name)
      report.VolumesDeleted.push(v.volume.Name)
      report.SpaceReclaimed += v.bytes
    }
    return report
  }

  release(name: string, ref: string): void {
    const set = this.users.get(name)
    if (!set) return
    set.delete(ref)
    if (set.size === 0) this.users.delete(name)
  }

  async mount(name: string, ref: string): Promise<string> {
    const v = this.vols.get(name)
    if (!v) throw new NotFound(`get ${name}: no such volume`)
    this.addRef(name, ref)
    const o = v.volume.Options
    if (o && (o.type || o.device)) this.mounted.set(name, (this.mounted.get(name) ?? 0) + 1)
    return v.volume.Mountpoint
  }

  async unmount(name: string, _ref: string): Promise<void> {
    const n = this.mounted.get(name)
    if (n === undefined) return
    if (n > 1) this.mounted.set(name, n - 1)
    else this.mounted.delete(name)
  }
}
