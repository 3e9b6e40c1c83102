// A container's binds, volumes and tmpfs mounts: parsed and resolved at create as moby's
// registerMountPoints does (HostConfig.VolumesFrom, then Binds, then Mounts, then the anonymous
// volumes of Config.Volumes), recorded with the container, filled from the image at create,
// turned into OCI mounts at start, and released (anonymous volumes removed with -v) at remove.
import { mkdir, open, stat } from 'node:fs/promises'
import { dirname, posix } from 'node:path'
import { Conflict, InvalidArgument, NotFound, errnoCode, isBerthError } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import type { Mount } from '../layer/types.ts'
import { copyUp } from '../volume/copyup.ts'
import type { VolumeStore } from '../volume/types.ts'
import type { Container, ContainerConfig, HostConfig, MountPoint } from './types.ts'

/** The API's mount.Mount (HostConfig.Mounts). */
export interface ApiMount {
  Type?: string
  Source?: string
  Target?: string
  ReadOnly?: boolean
  Consistency?: string
  BindOptions?: {
    Propagation?: string
    NonRecursive?: boolean
    CreateMountpoint?: boolean
    ReadOnlyNonRecursive?: boolean
    ReadOnlyForceRecursive?: boolean
  } | null
  VolumeOptions?: {
    NoCopy?: boolean
    Labels?: Record<string, string> | null
    DriverConfig?: { Name?: string; Options?: Record<string, string> | null } | null
    Subpath?: string
  } | null
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] | null } | null
}

const PROPAGATION = ['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared']
const CONSISTENCY = ['consistent', 'cached', 'delegated']
const DEFAULT_PROPAGATION = 'rprivate'

/** moby's linuxValidMountMode: at most one of each kind of mode. */
export function validMountMode(mode: string): boolean {
  if (mode === '') return true
  const counts = { rw: 0, label: 0, prop: 0, copy: 0, cons: 0 }
  for (const o of mode.split(',')) {
    if (o === 'rw' || o === 'ro') counts.rw++
    else if (o === 'z' || o === 'Z') counts.label++
    else if (PROPAGATION.includes(o)) counts.prop++
    else if (o === 'nocopy') counts.copy++
    else if (CONSISTENCY.includes(o)) counts.cons++
    else return false
  }
  return Object.values(counts).every((n) => n <= 1)
}

function readWrite(mode: string): boolean {
  return validMountMode(mode) && !mode.split(',').includes('ro')
}

function propagationOf(mode: string): string | undefined {
  return mode.split(',').find((o) => PROPAGATION.includes(o))
}

function invalidSpec(raw: string): string {
  return `invalid volume specification: '${raw}'`
}

function mountConfigError(type: string, why: string): InvalidArgument {
  return new InvalidArgument(`invalid mount config for type "${type}": ${why}`)
}

/** Go's strings.SplitN(s, sep, n). */
function splitN(s: string, sep: string, n: number): string[] {
  const parts = s.split(sep)
  if (parts.length <= n) return parts
  return [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)]
}

function checkTarget(type: string, target: string | undefined): string {
  if (!target) throw mountConfigError(type, 'field Target must not be empty')
  if (posix.normalize(target.replace(/\\/g, '/')) === '/' || target === '/') {
    throw mountConfigError(type, "invalid specification: destination can't be '/'")
  }
  if (!target.startsWith('/')) {
    throw mountConfigError(type, `invalid mount path: '${target}' mount path must be absolute`)
  }
  return clean(target)
}

/** Go's path.Clean for an absolute path: no trailing slash, no dot segments. */
function clean(p: string): string {
  return posix.normalize(p).replace(/(.)\/+$/, '$1')
}

/** tmpfs mount data from its options (moby's ConvertTmpfsOptions). */
export function tmpfsData(opt: ApiMount['TmpfsOptions'], readOnly: boolean): string {
  const raw: string[] = []
  if (readOnly) raw.push('ro')
  if (opt?.Mode) raw.push(`mode=${opt.Mode.toString(8)}`)
  if (opt?.SizeBytes) {
    let size = opt.SizeBytes
    let suffix = ''
    for (const [s, d] of [
      ['g', 2 ** 30],
      ['m', 2 ** 20],
      ['k', 2 ** 10],
    ] as const) {
      if (size % d === 0) {
        size /= d
        suffix = s
        break
      }
    }
    raw.push(`size=${size}${suffix}`)
  }
  for (const o of opt?.Options ?? []) {
    if (o.length < 1 || o.length > 2) throw new InvalidArgument('invalid option array length')
    if (o[0] !== 'exec' && o[0] !== 'noexec') throw new InvalidArgument(`invalid option: ${o[0]}`)
    raw.push(o.length === 1 ? o[0] : `${o[0]}=${o[1]}`)
  }
  return raw.join(',')
}

/** moby's ParseMountSpec for one entry of HostConfig.Mounts. */
export async function parseMountSpec(m: ApiMount, checkSource = true): Promise<MountPoint> {
  const type = m.Type ?? ''
  if (type !== 'bind' && m.BindOptions)
    throw mountConfigError(type, 'field BindOptions must not be specified')
  if (type !== 'volume' && m.VolumeOptions)
    throw mountConfigError(type, 'field VolumeOptions must not be specified')
  if (type !== 'tmpfs' && m.TmpfsOptions)
    throw mountConfigError(type, 'field TmpfsOptions must not be specified')
  const dest = checkTarget(type, m.Target)
  const rw = m.ReadOnly !== true
  switch (type) {
    case 'bind': {
      const src = m.Source ?? ''
      if (src === '') throw mountConfigError(type, 'field Source must not be empty')
      const prop = m.BindOptions?.Propagation
      if (prop && !PROPAGATION.includes(prop)) {
        throw mountConfigError(type, `invalid propagation mode: ${prop}`)
      }
      if (!src.startsWith('/')) {
        throw mountConfigError(type, `invalid mount path: '${src}' mount path must be absolute`)
      }
      if (checkSource && !m.BindOptions?.CreateMountpoint) {
        try {
          await stat(src)
        } catch (err) {
          if (errnoCode(err) !== 'ENOENT') throw mountConfigError(type, String(err))
          throw mountConfigError(type, `bind source path does not exist: ${src}`)
        }
      }
      const mp: MountPoint = {
        Type: 'bind',
        Source: clean(src),
        Destination: dest,
        Mode: '',
        RW: rw,
        Propagation: prop || DEFAULT_PROPAGATION,
      }
      if (m.BindOptions?.NonRecursive) mp.nonRecursive = true
      if (m.BindOptions?.CreateMountpoint) mp.createSource = true
      return mp
    }
    case 'volume': {
      const sub = m.VolumeOptions?.Subpath
      if (sub) {
        if (!m.Source)
          throw mountConfigError(type, 'must not set Subpath when using anonymous volumes')
        throw mountConfigError(type, 'subpath is not supported by berth')
      }
      const mp: MountPoint = {
        Type: 'volume',
        Source: '',
        Destination: dest,
        Driver: m.VolumeOptions?.DriverConfig?.Name || '',
        Mode: '',
        RW: rw,
        Propagation: '',
        copyData: m.VolumeOptions?.NoCopy !== true,
      }
      if (m.Source) mp.Name = m.Source
      return mp
    }
    case 'tmpfs': {
      if (m.Source) throw mountConfigError(type, 'field Source must not be specified')
      return {
        Type: 'tmpfs',
        Source: '',
        Destination: dest,
        Mode: '',
        RW: rw,
        Propagation: '',
        tmpfsData: tmpfsData(m.TmpfsOptions, !rw),
      }
    }
    default:
      throw mountConfigError(type, 'mount type unknown')
  }
}

/** moby's ParseMountRaw for one entry of HostConfig.Binds (`src:dst[:mode]` or `dst`). */
export async function parseBind(raw: string): Promise<MountPoint> {
  const arr = splitN(raw, ':', 4)
  if (arr[0] === '') throw new InvalidArgument(invalidSpec(raw))
  let source = ''
  let target: string
  let mode = ''
  switch (arr.length) {
    case 1:
      target = arr[0] as string
      break
    case 2:
      if (validMountMode(arr[1] as string)) throw new InvalidArgument(invalidSpec(raw))
      source = arr[0] as string
      target = arr[1] as string
      break
    case 3:
      source = arr[0] as string
      target = arr[1] as string
      mode = arr[2] as string
      break
    default:
      throw new InvalidArgument(invalidSpec(raw))
  }
  if (!validMountMode(mode)) throw new InvalidArgument(`invalid mode: ${mode}`)
  const type = source.startsWith('/') ? 'bind' : 'volume'
  const nocopy = mode.split(',').includes('nocopy')
  const spec: ApiMount = { Type: type, Source: source, Target: target, ReadOnly: !readWrite(mode) }
  if (nocopy) spec.VolumeOptions = { NoCopy: true }
  const prop = propagationOf(mode)
  if (prop) spec.BindOptions = { Propagation: prop }
  let mp: MountPoint
  try {
    mp = await parseMountSpec(spec, false)
  } catch (err) {
    throw new InvalidArgument(`${invalidSpec(raw)}: ${(err as Error).message}`, { cause: err })
  }
  mp.Mode = mode
  if (mp.Type === 'bind') mp.createSource = true
  return mp
}

/** moby's ParseVolumesFrom: `container[:mode]`. */
export function parseVolumesFrom(spec: string): { id: string; mode: string } {
  if (spec === '') throw new InvalidArgument('volumes-from specification cannot be an empty string')
  const colon = spec.indexOf(':')
  const id = colon < 0 ? spec : spec.slice(0, colon)
  const mode = colon < 0 ? '' : spec.slice(colon + 1)
  if (mode === '') return { id, mode: 'rw' }
  const opts = mode.split(',')
  if (!validMountMode(mode) || propagationOf(mode) || opts.includes('nocopy')) {
    throw new InvalidArgument(`invalid mode: ${mode}`)
  }
  return { id, mode }
}

/** Sorted so that a mount never hides one beneath it (moby's sortMounts: fewer parts first). */
function depth(p: string): number {
  return posix.normalize(p).split('/').length - 1
}

/** merged tmpfs options, later ones winning (moby's mount.MergeTmpfsOptions). */
export function mergeTmpfsOptions(options: string[]): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  for (let i = options.length - 1; i >= 0; i--) {
    const o = options[i] as string
    if (o === 'defaults') continue
    const eq = o.indexOf('=')
    const key = eq >= 0 ? `=${o.slice(0, eq)}` : o.replace(/^no/, '')
    if (seen.has(key)) continue
    seen.add(key)
    out.unshift(o)
  }
  return out
}

/** The OCI mounts of a container's user mounts followed by the /etc files it does not cover. */
export function combineMounts(user: Mount[], etc: Mount[]): Mount[] {
  const dests = new Set(user.map((m) => m.destination))
  return [...user, ...etc.filter((m) => !dests.has(m.destination))]
}

/**
 * The root mount's propagation that the container's binds need: a shared bind needs a shared
 * root, a slave one an rslave root (moby's WithMounts); undefined when none asks.
 */
export function rootfsPropagation(points: readonly MountPoint[]): string | undefined {
  const props = points.filter((m) => m.Type === 'bind').map((m) => m.Propagation)
  if (props.some((p) => p === 'shared' || p === 'rshared')) return 'shared'
  if (props.some((p) => p === 'slave' || p === 'rslave')) return 'rslave'
  return undefined
}

/** A spec's linux section with the propagation the container's binds need. */
export function withMountPropagation<T extends { linux?: object }>(spec: T, c: Container): T {
  const root = rootfsPropagation(c.mountPoints ?? [])
  if (root === undefined) return spec
  return { ...spec, linux: { ...spec.linux, rootfsPropagation: root } }
}

export interface MountsDeps {
  volumes?: VolumeStore
  /** A container by reference (for --volumes-from); NotFound when there is none. */
  container(ref: string): Container
  /** Runs fn with the container's root filesystem mounted at rootfs. */
  withRootfs(id: string, rootfs: string, fn: () => Promise<void>): Promise<void>
}

function volumesOf(deps: MountsDeps): VolumeStore {
  if (!deps.volumes) throw new InvalidArgument('volumes are not available in this engine')
  return deps.volumes
}

/** Container mounts: resolution at create, copy-up, OCI mounts at start, release at remove. */
export class ContainerMounts {
  constructor(private readonly deps: MountsDeps) {}

  /**
   * Resolves a new container's mount points, creating the volumes it names (and anonymous
   * ones for Config.Volumes) and recording the container as their user. On failure, every
   * reference taken is released and every anonymous volume made is removed.
   */
  async resolve(id: string, config: ContainerConfig, hc: HostConfig): Promise<MountPoint[]> {
    const points = new Map<string, MountPoint>()
    const taken: MountPoint[] = []
    const binds = new Set<string>()
    const tmpfs = (hc.Tmpfs ?? {}) as Record<string, unknown>
    try {
      for (const spec of asStrings(hc.VolumesFrom)) {
        const { id: from, mode } = parseVolumesFrom(spec)
        let src: Container
        try {
          src = this.deps.container(from)
        } catch (err) {
          if (isBerthError(err) && err instanceof NotFound) throw new InvalidArgument(err.message)
          throw err
        }
        for (const m of src.mountPoints ?? []) {
          const cp: MountPoint = {
            ...m,
            Mode: '',
            RW: m.RW && readWrite(mode),
            copyData: false,
            createSource: false,
          }
          if (cp.Type === 'volume' && cp.Name) {
            await volumesOf(this.deps).get(cp.Name, id)
            taken.push(cp)
          }
          points.set(cp.Destination, cp)
        }
      }
      for (const raw of asStrings(hc.Binds)) {
        const mp = await parseBind(raw)
        if (binds.has(mp.Destination) || tmpfs[mp.Destination] !== undefined) {
          throw new InvalidArgument(`Duplicate mount point: ${mp.Destination}`)
        }
        if (mp.Type === 'volume') await this.createVolume(id, mp, taken)
        binds.add(mp.Destination)
        points.set(mp.Destination, mp)
      }
      for (const m of asMounts(hc.Mounts)) {
        const mp = await parseMountSpec(m)
        if (binds.has(mp.Destination)) {
          throw new InvalidArgument(`Duplicate mount point: ${m.Target}`)
        }
        if (mp.Type === 'volume') {
          await this.createVolume(id, mp, taken, m.VolumeOptions)
        }
        binds.add(mp.Destination)
        points.set(mp.Destination, mp)
      }
      for (const spec of Object.keys(config.Volumes ?? {})) {
        const dest = clean(spec)
        if (points.has(dest)) continue
        const v = await volumesOf(this.deps).create({ ref: id })
        const mp: MountPoint = {
          Type: 'volume',
          Name: v.Name,
          Source: v.Mountpoint,
          Destination: dest,
          Driver: v.Driver,
          Mode: '',
          RW: true,
          Propagation: '',
          copyData: true,
          anonymous: true,
        }
        taken.push(mp)
        points.set(dest, mp)
      }
    } catch (err) {
      await this.release(id, taken, true)
      throw err
    }
    return [...points.values()]
  }

  private async createVolume(
    id: string,
    mp: MountPoint,
    taken: MountPoint[],
    opts?: ApiMount['VolumeOptions'],
  ): Promise<void> {
    const v = await volumesOf(this.deps).create({
      name: mp.Name ?? '',
      driver: mp.Driver ?? '',
      labels: opts?.Labels ?? null,
      options: opts?.DriverConfig?.Options ?? null,
      ref: id,
    })
    if (!mp.Name) mp.anonymous = true
    mp.Name = v.Name
    mp.Source = v.Mountpoint
    mp.Driver = v.Driver
    if (mp.Mode === '') mp.Mode = 'z'
    taken.push(mp)
  }

  /**
   * At create, with the container's root filesystem: refuses an anonymous volume over a file,
   * and fills each empty volume from the image's content at its destination.
   */
  async populate(id: string, points: MountPoint[], rootfs: string): Promise<void> {
    const vols = points.filter((m) => m.Type === 'volume' && m.Name && (m.copyData || m.anonymous))
    if (vols.length === 0) return
    await this.deps.withRootfs(id, rootfs, async () => {
      for (const m of vols) {
        const src = await resolveInRoot(rootfs, m.Destination)
        const st = await stat(src).catch(() => undefined)
        if (m.anonymous && st && !st.isDirectory()) {
          throw new InvalidArgument(`cannot mount volume over existing file, file exists ${src}`)
        }
        if (!m.copyData || !st?.isDirectory()) continue
        const store = volumesOf(this.deps)
        const path = await store.mount(m.Name as string, id)
        try {
          await copyUp(src, path)
        } finally {
          await store.unmount(m.Name as string, id)
        }
      }
    })
  }

  /** After a daemon restart: records each container as a user of its volumes again. */
  async restore(c: Container): Promise<void> {
    for (const m of c.mountPoints ?? []) {
      if (m.Type !== 'volume' || !m.Name || !this.deps.volumes) continue
      await this.deps.volumes.get(m.Name, c.id).catch(() => undefined)
    }
  }

  /**
   * The OCI mounts for a start, sorted; creates missing -v host directories and the mount
   * points inside the root filesystem (resolved there, so no symlink in it leads outside).
   */
  async prepare(c: Container, rootfs: string): Promise<Mount[]> {
    const points = [...(c.mountPoints ?? [])].sort(
      (a, b) => depth(a.Destination) - depth(b.Destination),
    )
    const out: Mount[] = []
    for (const m of points) {
      if (m.Type === 'tmpfs') {
        const data = m.tmpfsData ? m.tmpfsData.split(',') : []
        out.push({
          destination: m.Destination,
          type: 'tmpfs',
          source: 'tmpfs',
          options: mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', DEFAULT_PROPAGATION, ...data]),
        })
        // Left to runc: it gives a tmpfs the mode of an existing mount point, not mode=.
        continue
      }
      let source = m.Source
      if (m.Type === 'volume') source = await volumesOf(this.deps).mount(m.Name as string, c.id)
      else if (m.createSource) {
        try {
          await mkdir(source, { recursive: true, mode: 0o755 })
        } catch (err) {
          if (errnoCode(err) !== 'EEXIST' && errnoCode(err) !== 'ENOTDIR') {
            throw new InvalidArgument(
              `error while creating mount source path '${source}': ${(err as Error).message}`,
            )
          }
        }
      }
      const isDir = (await stat(source).catch(() => undefined))?.isDirectory() ?? true
      await ensureMountpoint(rootfs, m.Destination, isDir)
      const options = [m.nonRecursive ? 'bind' : 'rbind']
      if (!m.RW) options.push('ro')
      if (m.Propagation) options.push(m.Propagation)
      out.push({ destination: m.Destination, type: 'bind', source, options })
    }
    return out
  }

  /**
   * Releases a container's volumes; with removeAnonymous, removes those made for it alone
   * (a volume another container still uses stays, as in Docker).
   */
  async release(id: string, points: MountPoint[], removeAnonymous: boolean): Promise<void> {
    const store = this.deps.volumes
    if (!store) return
    for (const m of points) {
      if (m.Type !== 'volume' || !m.Name) continue
      await store.unmount(m.Name, id).catch(() => undefined)
      store.release(m.Name, id)
      if (!removeAnonymous || !m.anonymous) continue
      try {
        await store.remove(m.Name)
      } catch (err) {
        if (!(err instanceof Conflict) && !(err instanceof NotFound)) throw err
      }
    }
  }
}

/** Creates a missing mount point inside the rootfs: a directory, or an empty file for a file. */
async function ensureMountpoint(rootfs: string, dest: string, dir: boolean): Promise<void> {
  const target = await resolveInRoot(rootfs, dest)
  if (await stat(target).catch(() => undefined)) return
  if (dir) {
    await mkdir(target, { recursive: true, mode: 0o755 })
    return
  }
  await mkdir(dirname(target), { recursive: true, mode: 0o755 })
  const fh = await open(target, 'a', 0o644)
  await fh.close()
}

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

function asMounts(v: unknown): ApiMount[] {
  return Array.isArray(v) ? v.filter((x): x is ApiMount => typeof x === 'object' && x !== null) : []
}
