// The mount syntax of the Engine API and the CLI (-v, --mount, --volumes-from, --tmpfs), parsed
// into mount points as moby does, and the propagation the root needs for them. Pure but for the
// checks of a bind's source on the host.
import { stat } from 'node:fs/promises'
import { posix } from 'node:path'
import { InvalidArgument, errnoCode } from '../errors.ts'
import type { Container, MountPoint } from './types.ts'

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
export const DEFAULT_PROPAGATION = 'rprivate'

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

export function readWrite(mode: string): boolean {
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
export function clean(p: string): string {
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
export function depth(p: string): number {
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
