// A container's binds, volumes and tmpfs mounts: parsed and resolved at create as moby's
// registerMountPoints does (HostConfig.VolumesFrom, then Binds, then Mounts, then the anonymous
// volumes of Config.Volumes), recorded with the container, filled from the image at create,
// turned into OCI mounts at start, and released (anonymous volumes removed with -v) at remove.
import { mkdir, open, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Conflict, InvalidArgument, NotFound, errnoCode, isBerthError } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import type { Mount } from '../layer/types.ts'
import { copyUp } from '../copyup.ts'
import type { VolumeStore } from '../volume/types.ts'
import type { EventSink } from '../events/types.ts'
import {
  DEFAULT_PROPAGATION,
  clean,
  depth,
  mergeTmpfsOptions,
  parseBind,
  parseMountSpec,
  parseVolumesFrom,
  readWrite,
  type ApiMount,
} from './mountspec.ts'
import type { Container, ContainerConfig, HostConfig, MountPoint } from './types.ts'

export {
  mergeTmpfsOptions,
  parseBind,
  parseMountSpec,
  parseVolumesFrom,
  rootfsPropagation,
  tmpfsData,
  validMountMode,
  withMountPropagation,
  type ApiMount,
} from './mountspec.ts'

export interface MountsDeps {
  volumes?: VolumeStore
  /** A container by reference (for --volumes-from); NotFound when there is none. */
  container(ref: string): Container
  /** Runs fn with the container's root filesystem mounted at rootfs. */
  withRootfs(id: string, rootfs: string, fn: () => Promise<void>): Promise<void>
  /** Where a volume's mount at start and unmount at exit are told, as dockerd's events. */
  events?: EventSink
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

  /**
   * After the container's process ended: gives back its volumes' mounts (a device-backed
   * volume is unmounted when no container has it mounted), as dockerd does at exit.
   */
  async stopped(c: Container): Promise<void> {
    const store = this.deps.volumes
    if (!store) return
    for (const m of c.mountPoints ?? []) {
      if (m.Type !== 'volume' || !m.Name) continue
      await store.unmount(m.Name, c.id)
      this.volumeEvent('unmount', m, { container: c.id, driver: m.Driver ?? 'local' })
    }
  }

  private volumeEvent(action: string, m: MountPoint, attributes: Record<string, string>): void {
    this.deps.events?.emit({
      Type: 'volume',
      Action: action,
      Actor: { ID: m.Name ?? '', Attributes: attributes },
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
      if (m.Type === 'volume') {
        source = await volumesOf(this.deps).mount(m.Name as string, c.id)
        this.volumeEvent('mount', m, {
          container: c.id,
          destination: m.Destination,
          driver: m.Driver ?? 'local',
          propagation: m.Propagation ?? '',
          'read/write': String(m.RW),
        })
      } else if (m.createSource) {
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
