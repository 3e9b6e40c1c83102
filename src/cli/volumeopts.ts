// run/create's -v, --mount and --volumes-from, as the docker CLI turns them into the create
// request (cli/command/container/opts.go, opts/mount.go, internal/volumespec).
import { resolve } from 'node:path'
import type { FlagDef, ParsedFlags } from './flags.ts'
import { CliError, list } from './command.ts'
import { ramInBytes } from '../lib/units.ts'

export const volumeFlags: FlagDef[] = [
  { long: 'volume', short: 'v', kind: 'list', typeName: 'list', desc: 'Bind mount a volume' },
  {
    long: 'mount',
    kind: 'list',
    typeName: 'mount',
    desc: 'Attach a filesystem mount to the container',
  },
  {
    long: 'volumes-from',
    kind: 'list',
    typeName: 'list',
    desc: 'Mount volumes from the specified container(s)',
  },
]

/** volumespec.Parse: the source of a -v spec (empty for `-v /ctr`), or an error in its words. */
export function volumeSpecSource(spec: string): string {
  if (spec.length === 0) throw new CliError('invalid empty volume spec', 125)
  if (spec.length <= 2) return ''
  const fields: string[] = []
  let buf = ''
  const chars = [...spec, '\0']
  for (const ch of chars) {
    if (ch === ':' && buf.length === 1 && /\p{L}/u.test(buf)) {
      buf += ch // a Windows drive letter
    } else if (ch === ':' || ch === '\0') {
      if (buf.length === 0) {
        throw new CliError(`invalid spec: ${spec}: empty section between colons`, 125)
      }
      if (fields.length >= 2 && ch === ':') {
        throw new CliError(`invalid spec: ${spec}: too many colons`, 125)
      }
      fields.push(buf)
      buf = ''
    } else buf += ch
  }
  return fields.length >= 2 ? (fields[0] as string) : ''
}

function isFilePath(source: string): boolean {
  return source.startsWith('.') || source.startsWith('/') || source.startsWith('~')
}

/** parseBoolValue: 1/true/0/false, or true when the key stands alone. */
function boolValue(key: string, val: string, hasValue: boolean): boolean {
  if (!hasValue) return true
  if (val === '1' || val === 'true') return true
  if (val === '0' || val === 'false') return false
  throw new CliError(
    `invalid value for '${key}': invalid boolean value ("${val}"): must be one of "true", "1", "false", or "0" (default "true")`,
    125,
  )
}

/** A CSV record as Go's encoding/csv reads one line (quotes allowed around a field). */
export function csvFields(s: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string
    if (quoted) {
      if (ch === '"' && s[i + 1] === '"') {
        cur += '"'
        i++
      } else if (ch === '"') quoted = false
      else cur += ch
    } else if (ch === '"' && cur === '') quoted = true
    else if (ch === ',') {
      out.push(cur)
      cur = ''
    } else cur += ch
  }
  out.push(cur)
  return out
}

type Obj = Record<string, unknown>

function ensure(m: Obj, key: string): Obj {
  return ((m[key] as Obj | undefined) ??= {}) as Obj
}

function setOnMap(target: Obj, kv: string): void {
  const eq = kv.indexOf('=')
  const k = eq < 0 ? kv : kv.slice(0, eq)
  if (k === '') return
  target[k] = eq < 0 ? '' : kv.slice(eq + 1)
}

/** opts.MountOpt.Set: one --mount value as the API's mount.Mount. */
export function parseMountFlag(raw: string): Obj {
  const value = raw.trim()
  const fail = (msg: string): CliError =>
    new CliError(`invalid argument "${raw}" for "--mount" flag: ${msg}`, 125)
  if (value === '') throw fail('value is empty')
  const m: Obj = { Type: 'volume' }
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=')
    const hasValue = eq >= 0
    let key = hasValue ? field.slice(0, eq) : field
    const val = hasValue ? field.slice(eq + 1) : ''
    if (key.trim() !== key) {
      throw fail(`invalid option '${key.trim()}' in '${field}': option should not have whitespace`)
    }
    if (hasValue) {
      if (val.trim() === '') throw fail(`invalid value for '${key}': value is empty`)
      if (val.trim() !== val) {
        throw fail(`invalid value for '${key}' in '${field}': value should not have whitespace`)
      }
    }
    key = key.toLowerCase()
    const bare = ['readonly', 'ro', 'volume-nocopy', 'bind-nonrecursive', 'bind-create-src']
    if (!hasValue && !bare.includes(key)) {
      throw fail(`invalid field '${field}' must be a key=value pair`)
    }
    const wrap = <T>(fn: () => T): T => {
      try {
        return fn()
      } catch (e) {
        throw fail((e as Error).message)
      }
    }
    switch (key) {
      case 'type':
        m.Type = val.toLowerCase()
        break
      case 'source':
      case 'src':
        m.Source = !val.startsWith('/') && val.startsWith('.') ? resolve(val) : val
        break
      case 'target':
      case 'dst':
      case 'destination':
        m.Target = val
        break
      case 'readonly':
      case 'ro':
        m.ReadOnly = wrap(() => boolValue(key, val, hasValue))
        break
      case 'consistency':
        m.Consistency = val.toLowerCase()
        break
      case 'bind-propagation':
        ensure(m, 'BindOptions').Propagation = val.toLowerCase()
        break
      case 'bind-nonrecursive':
        throw fail('bind-nonrecursive is deprecated, use bind-recursive=disabled instead')
      case 'bind-recursive':
        if (val === 'disabled') ensure(m, 'BindOptions').NonRecursive = true
        else if (val === 'writable') ensure(m, 'BindOptions').ReadOnlyNonRecursive = true
        else if (val === 'readonly') ensure(m, 'BindOptions').ReadOnlyForceRecursive = true
        else if (val !== 'enabled') {
          throw fail(
            `invalid value for ${key}: ${val} (must be "enabled", "disabled", "writable", or "readonly")`,
          )
        }
        break
      case 'bind-create-src':
        ensure(m, 'BindOptions').CreateMountpoint = wrap(() => boolValue(key, val, hasValue))
        break
      case 'volume-subpath':
        ensure(m, 'VolumeOptions').Subpath = val
        break
      case 'volume-nocopy':
        ensure(m, 'VolumeOptions').NoCopy = wrap(() => boolValue(key, val, hasValue))
        break
      case 'volume-label':
        setOnMap(ensure(ensure(m, 'VolumeOptions'), 'Labels'), val)
        break
      case 'volume-driver':
        ensure(ensure(m, 'VolumeOptions'), 'DriverConfig').Name = val
        break
      case 'volume-opt':
        setOnMap(ensure(ensure(ensure(m, 'VolumeOptions'), 'DriverConfig'), 'Options'), val)
        break
      case 'tmpfs-size': {
        const size = ramInBytes(val)
        if (size === undefined) throw fail(`invalid value for ${key}: ${val}`)
        ensure(m, 'TmpfsOptions').SizeBytes = size
        break
      }
      case 'tmpfs-mode':
        if (!/^[0-7]+$/.test(val) || Number.parseInt(val, 8) > 0xffffffff) {
          throw fail(`invalid value for ${key}: ${val}`)
        }
        ensure(m, 'TmpfsOptions').Mode = Number.parseInt(val, 8)
        break
      default:
        throw fail(`unknown option '${key}' in '${field}'`)
    }
  }
  const type = String(m.Type)
  if (type === '') throw fail('type is required')
  for (const [k, t, p] of [
    ['BindOptions', 'bind', 'bind'],
    ['VolumeOptions', 'volume', 'volume'],
    ['TmpfsOptions', 'tmpfs', 'tmpfs'],
  ] as const) {
    if (type !== t && m[k] !== undefined) {
      throw fail(`cannot mix '${p}-*' options with mount type '${type}'`)
    }
  }
  const bo = m.BindOptions as Obj | undefined
  if (bo?.ReadOnlyNonRecursive && !m.ReadOnly) {
    throw fail(
      "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
    )
  }
  if (bo?.ReadOnlyForceRecursive) {
    if (!m.ReadOnly) {
      throw fail(
        "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction",
      )
    }
    if (bo.Propagation !== 'rprivate') {
      throw fail(
        "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
      )
    }
  }
  return m
}

export interface VolumeOpts {
  binds: string[] | null
  volumes: Record<string, object>
  mounts: Obj[]
  volumesFrom: string[] | null
}

/** The create request's Binds, Volumes, Mounts and VolumesFrom from the parsed flags. */
export function parseVolumeOpts(f: ParsedFlags): VolumeOpts {
  const binds: string[] = []
  const volumes: Record<string, object> = {}
  for (const spec of list(f, 'volume')) {
    const source = volumeSpecSource(spec)
    if (source === '') {
      volumes[spec] = {}
      continue
    }
    let toBind = spec
    if (isFilePath(source)) {
      const colon = spec.indexOf(':')
      let host = spec.slice(0, colon)
      // Recent docker CLIs send a relative host path (./x, ../x) as an absolute one.
      if (!host.startsWith('/') && host.startsWith('.')) host = resolve(host)
      toBind = `${host}:${spec.slice(colon + 1)}`
    }
    binds.push(toBind)
  }
  const volumesFrom = list(f, 'volumes-from')
  return {
    binds: binds.length > 0 ? binds : null,
    volumes,
    mounts: list(f, 'mount').map(parseMountFlag),
    volumesFrom: volumesFrom.length > 0 ? volumesFrom : null,
  }
}
