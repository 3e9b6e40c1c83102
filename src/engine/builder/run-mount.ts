// RUN --mount: parsing its CSV fields into a typed mount (BuildKit's instructions/commands_runmount).
import { DockerfileError, goQuote } from './errors.ts'
import { withSuggestion } from './instruction-flags.ts'

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh'

export interface RunMount {
  type: MountType
  from: string
  source: string
  target: string
  readOnly: boolean
  /** Bytes; 0 for no limit. */
  sizeLimit: number
  cacheId: string
  sharing: '' | 'shared' | 'private' | 'locked'
  required: boolean
  env?: string
  mode?: number
  uid?: number
  gid?: number
}

export const MOUNT_TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh']
export const SHARING = ['shared', 'private', 'locked']
export const MOUNT_KEYS = [
  'type',
  'from',
  'source',
  'target',
  'readonly',
  'id',
  'sharing',
  'required',
  'size',
  'mode',
  'uid',
  'gid',
  'src',
  'dst',
  'destination',
  'ro',
  'rw',
  'readwrite',
  'env',
]

/** Splits one CSV record (Go's encoding/csv rules: quoted fields, "" inside quotes). */
export function csvFields(s: string): string[] {
  const out: string[] = []
  let i = 0
  for (;;) {
    let field = ''
    if (s[i] === '"') {
      i++
      for (;;) {
        if (i >= s.length)
          throw new DockerfileError(
            `failed to parse csv mounts: extraneous or missing " in quoted-field`,
          )
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"'
            i += 2
            continue
          }
          i++
          break
        }
        field += s[i++]
      }
      if (i < s.length && s[i] !== ',') {
        throw new DockerfileError(
          `failed to parse csv mounts: extraneous or missing " in quoted-field`,
        )
      }
    } else {
      while (i < s.length && s[i] !== ',') {
        if (s[i] === '"')
          throw new DockerfileError(`failed to parse csv mounts: bare " in non-quoted-field`)
        field += s[i++]
      }
    }
    out.push(field)
    if (i >= s.length) return out
    i++ // the comma
  }
}

export function parseBoolGo(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false
  return undefined
}

/** go-units RAMInBytes: a size with an optional binary unit (k, m, g, ...; b and i optional). */
export function ramInBytes(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)(?:[iI]?[bB])?$/.exec(v)
  if (!m) return undefined
  const mult: Record<string, number> = {
    '': 1,
    k: 1024,
    m: 1024 ** 2,
    g: 1024 ** 3,
    t: 1024 ** 4,
    p: 1024 ** 5,
  }
  return Math.floor(Number(m[1]) * mult[m[2]!.toLowerCase()]!)
}

/**
 * One `--mount` value. Without `expand`, only checks what needs no variables (as BuildKit does
 * while parsing); with it, every value is expanded and the whole mount read.
 */
export function parseMount(value: string, expand: ((w: string) => string) | undefined): RunMount {
  const m: RunMount = {
    type: 'bind',
    from: '',
    source: '',
    target: '',
    readOnly: false,
    sizeLimit: 0,
    cacheId: '',
    sharing: '',
    required: false,
  }
  let roAuto = true
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=')
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase()
    let v = eq < 0 ? '' : field.slice(eq + 1)
    if (eq < 0) {
      if (!expand) continue
      if (key === 'readonly' || key === 'ro') {
        m.readOnly = true
        roAuto = false
        continue
      }
      if (key === 'readwrite' || key === 'rw') {
        m.readOnly = false
        roAuto = false
        continue
      }
      if (key === 'required') {
        if (m.type === 'secret' || m.type === 'ssh') {
          m.required = true
          continue
        }
        throw new DockerfileError(`unexpected key '${key}' for mount type '${m.type}'`)
      }
      throw new DockerfileError(`invalid field '${field}' must be a key=value pair`)
    }
    if (expand) v = expand(v)
    else if (key === 'from') {
      const idx = v.indexOf('$')
      if (idx !== -1 && idx !== v.length - 1) {
        throw new DockerfileError(
          `'${key}' doesn't support variable expansion, define alias stage instead`,
        )
      }
      // Kept unexpanded, so the stage graph can be drawn before variables are known.
      m.from = v
      continue
    } else continue
    const bool = () => {
      const b = parseBoolGo(v)
      if (b === undefined) throw new DockerfileError(`invalid value for ${key}: ${v}`)
      return b
    }
    const uint = (base: number, what: string) => {
      const ok = base === 8 ? /^[0-7]+$/.test(v) : /^\d+$/.test(v)
      const n = Number.parseInt(v, base)
      if (!ok || n > 0xffffffff) throw new DockerfileError(`invalid value ${v} for ${what}`)
      return n
    }
    switch (key) {
      case 'type': {
        const t = v.toLowerCase()
        if (!MOUNT_TYPES.includes(t)) {
          throw new DockerfileError(
            withSuggestion(`unsupported mount type ${goQuote(v)}`, v, MOUNT_TYPES, true),
          )
        }
        m.type = t as MountType
        break
      }
      case 'from':
        m.from = v
        break
      case 'source':
      case 'src':
        m.source = v
        break
      case 'target':
      case 'dst':
      case 'destination':
        m.target = v
        break
      case 'readonly':
      case 'ro':
        m.readOnly = bool()
        roAuto = false
        break
      case 'readwrite':
      case 'rw':
        m.readOnly = !bool()
        roAuto = false
        break
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') {
          throw new DockerfileError(`unexpected key '${key}' for mount type '${m.type}'`)
        }
        m.required = bool()
        break
      case 'size': {
        if (m.type !== 'tmpfs') {
          throw new DockerfileError(`unexpected key '${key}' for mount type '${m.type}'`)
        }
        const n = ramInBytes(v)
        if (n === undefined) throw new DockerfileError(`invalid value for ${key}: ${v}`)
        m.sizeLimit = n
        break
      }
      case 'id':
        m.cacheId = v
        break
      case 'sharing': {
        const s = v.toLowerCase()
        if (!SHARING.includes(s)) {
          throw new DockerfileError(
            withSuggestion(`unsupported sharing value ${goQuote(v)}`, v, SHARING, true),
          )
        }
        m.sharing = s as RunMount['sharing']
        break
      }
      case 'mode':
        m.mode = uint(8, 'mode')
        break
      case 'uid':
        m.uid = uint(10, 'uid')
        break
      case 'gid':
        m.gid = uint(10, 'gid')
        break
      case 'env':
        m.env = v
        break
      default:
        throw new DockerfileError(
          withSuggestion(`unexpected key '${key}' in '${field}'`, key, MOUNT_KEYS, true),
        )
    }
  }
  if (!expand) return m
  if (m.type !== 'secret' && m.type !== 'ssh' && m.type !== 'cache') {
    for (const k of ['mode', 'uid', 'gid'] as const) {
      if (m[k] !== undefined)
        throw new DockerfileError(`${k} not allowed for ${goQuote(m.type)} type mounts`)
    }
  }
  if (roAuto) m.readOnly = !(m.type === 'cache' || m.type === 'tmpfs')
  if (m.type === 'secret') {
    if (m.from !== '') throw new DockerfileError('secret mount should not have a from')
    if (m.sharing !== '') throw new DockerfileError('secret mount should not define sharing')
    if (m.source === '' && m.target === '' && m.cacheId === '') {
      throw new DockerfileError('invalid secret mount. one of source, target required')
    }
    if (m.source !== '' && m.cacheId !== '')
      throw new DockerfileError("both source and id can't be set")
  }
  if (m.sharing !== '' && m.type !== 'cache') {
    throw new DockerfileError(`invalid cache sharing set for ${m.type} mount`)
  }
  return m
}
