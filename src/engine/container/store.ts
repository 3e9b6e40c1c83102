import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Digest } from '../digest.ts'
import { Conflict, InvalidArgument, NotFound } from '../errors.ts'
import { fsyncDir, readJson, writeJsonAtomic } from '../fsutil.ts'
import { emptyState } from './state.ts'
import type { EndpointSettings } from '../network/types.ts'
import type { Container, ContainerConfig, ContainerState, HostConfig, MountPoint } from './types.ts'

/** Written once at create. */
interface ConfigRecord {
  id: string
  created: string
  path: string
  args: string[]
  config: ContainerConfig
  hostConfig: HostConfig
  image: Digest
  imageRef: string
  mountPoints?: MountPoint[]
  endpoints?: Record<string, Partial<EndpointSettings>>
}

/** Rewritten atomically on every transition. */
interface StateRecord {
  name: string
  state: ContainerState
  restartCount: number
  manuallyStopped?: boolean
}

/**
 * Container records under `dir/<id>/`: config.json (immutable) and state.json (mutable).
 * A record appears only by renaming a complete directory into place, so a crash during
 * create leaves either no container or a whole one.
 */
export class ContainerStore {
  private readonly byId = new Map<string, Container>()
  private readonly byName = new Map<string, string>()

  constructor(readonly dir: string) {}

  containerDir(id: string): string {
    return join(this.dir, id)
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    // In parallel: with many containers this is most of the daemon's start-up time.
    const entries = await readdir(this.dir)
    const loaded = await Promise.all(
      entries.map(async (entry) => {
        if (entry.startsWith('.tmp-')) {
          await rm(join(this.dir, entry), { recursive: true, force: true })
          return undefined
        }
        const [cfg, st] = await Promise.all([
          readJson<ConfigRecord>(join(this.dir, entry, 'config.json')),
          readJson<StateRecord>(join(this.dir, entry, 'state.json')),
        ])
        return cfg === undefined || st === undefined ? undefined : this.fromRecords(cfg, st)
      }),
    )
    // Indexed in directory order, as before, so name reservations are deterministic.
    for (const c of loaded) if (c) this.index(c)
  }

  /** IDs present on disk, complete or not, for reconciliation. */
  async ids(): Promise<string[]> {
    return (await readdir(this.dir)).filter((e) => /^[0-9a-f]{64}$/.test(e))
  }

  private fromRecords(cfg: ConfigRecord, st: StateRecord): Container {
    return {
      ...cfg,
      name: st.name,
      state: st.state,
      restartCount: st.restartCount,
      manuallyStopped: st.manuallyStopped === true,
      logPath: join(this.dir, cfg.id, 'ctr.log'),
    }
  }

  private index(c: Container): void {
    this.byId.set(c.id, c)
    this.byName.set(c.name, c.id)
  }

  newId(): string {
    let id: string
    do id = randomBytes(32).toString('hex')
    while (this.byId.has(id) || /^[0-9]+$/.test(id.slice(0, 12)))
    return id
  }

  /** Reserves a name; Conflict in Docker's words when it is taken. */
  reserveName(name: string, id: string): void {
    const holder = this.byName.get(name)
    if (holder !== undefined && holder !== id) {
      throw new Conflict(
        `Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
      )
    }
    this.byName.set(name, id)
  }

  releaseName(name: string, id: string): void {
    if (this.byName.get(name) === id) this.byName.delete(name)
  }

  nameTaken(name: string): boolean {
    return this.byName.has(name)
  }

  /** The directory a new container's record is made in, before it is whole. */
  draftDir(id: string): string {
    return join(this.dir, `.tmp-${id}`)
  }

  /**
   * Starts a new container's record: its directory, not yet visible. Whatever goes beside the
   * records (hostname, hosts, resolv.conf) may be written there before create() makes it whole.
   */
  async draft(id: string): Promise<string> {
    const tmp = this.draftDir(id)
    await mkdir(tmp, { mode: 0o700 })
    return tmp
  }

  /** Forgets a record that was drafted and not created. */
  async discardDraft(id: string): Promise<void> {
    await rm(this.draftDir(id), { recursive: true, force: true })
  }

  /**
   * Writes a new container's records into its draft (made now when there is none), lets
   * `prepare` put more into it, and makes it the container's directory in one rename.
   */
  async create(
    c: Omit<Container, 'logPath' | 'state' | 'restartCount'>,
    prepare: (dir: string) => Promise<void>,
  ): Promise<Container> {
    const tmp = this.draftDir(c.id)
    await mkdir(tmp, { recursive: true, mode: 0o700 })
    try {
      const { name, ...cfg } = c
      await writeJsonAtomic(join(tmp, 'config.json'), cfg satisfies ConfigRecord)
      const st: StateRecord = { name, state: emptyState(), restartCount: 0 }
      await writeJsonAtomic(join(tmp, 'state.json'), st)
      await prepare(tmp)
      await rename(tmp, this.containerDir(c.id))
      await fsyncDir(this.dir)
      const container = this.fromRecords(cfg, st)
      this.index(container)
      return container
    } catch (err) {
      await rm(tmp, { recursive: true, force: true })
      throw err
    }
  }

  /** Writes the container's state record (its state, or the one given), atomically. */
  async saveState(c: Container, state: ContainerState = c.state): Promise<void> {
    const st: StateRecord = {
      name: c.name,
      state,
      restartCount: c.restartCount,
      manuallyStopped: c.manuallyStopped === true,
    }
    await writeJsonAtomic(join(this.containerDir(c.id), 'state.json'), st)
  }

  /** Rewrites the config record with the container's HostConfig (docker update changes it). */
  async saveConfig(c: Container): Promise<void> {
    const path = join(this.containerDir(c.id), 'config.json')
    const rec = await readJson<ConfigRecord>(path)
    if (rec === undefined) throw new NotFound(`No such container: ${c.id}`)
    await writeJsonAtomic(path, { ...rec, hostConfig: c.hostConfig })
  }

  /** Moves the container to a new name; Conflict in Docker's words when the name is taken. */
  async rename(c: Container, name: string): Promise<void> {
    this.reserveName(name, c.id)
    const old = c.name
    c.name = name
    try {
      await this.saveState(c)
    } catch (err) {
      c.name = old
      this.releaseName(name, c.id)
      throw err
    }
    this.releaseName(old, c.id)
  }

  async delete(c: Container): Promise<void> {
    // Rename first so that a crash mid-delete never leaves a half record that looks whole.
    const doomed = join(this.dir, `.tmp-rm-${c.id}`)
    await rename(this.containerDir(c.id), doomed)
    this.byId.delete(c.id)
    this.releaseName(c.name, c.id)
    await rm(doomed, { recursive: true, force: true })
  }

  list(): Container[] {
    return [...this.byId.values()]
  }

  /** Docker's lookup order: full ID, exact name, then a unique ID prefix. */
  get(ref: string): Container {
    return findContainer(ref, this.byId, this.byName)
  }
}

/**
 * Docker's lookup of a container reference: full ID, exact name (with or without its leading
 * "/"), then a unique ID prefix. NotFound `No such container: REF`; InvalidArgument when a
 * prefix names several.
 */
export function findContainer<T>(
  ref: string,
  byId: ReadonlyMap<string, T>,
  byName: ReadonlyMap<string, string>,
): T {
  if (ref === '') throw new NotFound('No such container: ')
  const found = byId.get(ref)
  if (found) return found
  const name = ref.startsWith('/') ? ref.slice(1) : ref
  const named = byName.get(name)
  if (named !== undefined) {
    const c = byId.get(named)
    if (c) return c
  }
  if (/^[0-9a-f]+$/.test(ref)) {
    const matches = [...byId.keys()].filter((id) => id.startsWith(ref))
    if (matches.length > 1) {
      throw new InvalidArgument(`multiple IDs found with provided prefix: ${ref}`)
    }
    if (matches.length === 1) return byId.get(matches[0] as string) as T
  }
  throw new NotFound(`No such container: ${ref}`)
}
