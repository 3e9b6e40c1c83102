// The local driver's rules, shared by LocalVolumeStore and its fake so both answer alike:
// Docker's name and option checks, and the list and prune filters, in Docker's words.
import { InvalidArgument } from '../errors.ts'
import { ANONYMOUS_LABEL, type VolumeFilters } from './types.ts'

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/
const VALID_OPTIONS = ['type', 'o', 'device', 'size']
const MANDATORY_OPTIONS: [string, string[]][] = [
  ['device', ['type']],
  ['type', ['device']],
  ['o', ['device', 'type']],
]

/** RFC 3339 in UTC to the second, as volumes' CreatedAt. */
export function rfc3339Seconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** Docker's local driver name check, in its words. */
export function validateVolumeName(name: string): void {
  if (name.length === 1) {
    throw new InvalidArgument(
      `create ${name}: volume name is too short, names should be at least two alphanumeric characters`,
    )
  }
  if (!NAME_RE.test(name)) {
    throw new InvalidArgument(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    )
  }
}

export function validateOptions(name: string, opts: Record<string, string>): void {
  for (const k of Object.keys(opts)) {
    if (!VALID_OPTIONS.includes(k))
      throw new InvalidArgument(`create ${name}: invalid option: "${k}"`)
  }
  if ('size' in opts) {
    // Docker needs project quotas on the volume root for this; berth has none.
    throw new InvalidArgument(`create ${name}: quota size requested but no quota support`)
  }
  for (const [opt, required] of MANDATORY_OPTIONS) {
    if (!(opt in opts)) continue
    for (const r of required) {
      if (!(r in opts)) throw new InvalidArgument(`create ${name}: missing required option: "${r}"`)
    }
  }
}

function invalidFilter(key: string, values?: string[]): InvalidArgument {
  return new InvalidArgument(
    values ? `invalid filter '${key}=[${values.join(' ')}]'` : `invalid filter '${key}'`,
  )
}

/** moby's GetBoolOrDefault. */
function boolFilter(f: VolumeFilters, key: string): boolean | undefined {
  const vs = f[key]
  if (vs === undefined) return undefined
  const isFalse = vs.includes('0') || vs.includes('false')
  const isTrue = vs.includes('1') || vs.includes('true')
  if (vs.length === 0 || isFalse === isTrue) throw invalidFilter(key, vs)
  return isTrue
}

/** moby's MatchKVList: every `k` or `k=v` must be among the labels. */
function matchKV(values: string[] | undefined, labels: Record<string, string> | null): boolean {
  if (!values || values.length === 0) return true
  if (!labels || Object.keys(labels).length === 0) return false
  return values.every((v) => {
    const eq = v.indexOf('=')
    const k = eq < 0 ? v : v.slice(0, eq)
    if (!Object.prototype.hasOwnProperty.call(labels, k)) return false
    return eq < 0 || labels[k] === v.slice(eq + 1)
  })
}

/** moby's filters.Match: an exact value, or a regular expression that matches. */
function matchName(values: string[], name: string): boolean {
  return values.some((v) => {
    if (v === name) return true
    try {
      return new RegExp(v).test(name)
    } catch {
      return false
    }
  })
}

/** What the filters look at in a volume. */
interface Filtered {
  Name: string
  Driver: string
  Labels: Record<string, string> | null
  Options: Record<string, string> | null
}

/** The list filters checked (invalid ones refused); the predicate takes whether it is in use. */
export function listMatcher(filters: VolumeFilters): (v: Filtered, inUse: boolean) => boolean {
  for (const k of Object.keys(filters)) {
    if (!['dangling', 'name', 'driver', 'label'].includes(k)) throw invalidFilter(k)
  }
  const dangling = boolFilter(filters, 'dangling')
  return (m, inUse) => {
    if (filters.driver && filters.driver.length > 0 && !filters.driver.includes(m.Driver))
      return false
    if (filters.name && filters.name.length > 0 && !matchName(filters.name, m.Name)) return false
    if (!matchKV(filters.label, m.Labels)) return false
    if (dangling !== undefined && dangling === inUse) return false
    return true
  }
}

/**
 * The prune filters checked (label, label!, all); the predicate says whether an unused volume
 * goes: anonymous ones only unless all=true, and never one with options.
 */
export function pruneMatcher(filters: VolumeFilters): (v: Filtered, inUse: boolean) => boolean {
  for (const k of Object.keys(filters)) {
    if (!['label', 'label!', 'all'].includes(k)) throw invalidFilter(k)
  }
  const all = filters.all ?? []
  if (all.length > 1) {
    throw new InvalidArgument(`invalid filter 'all=${all.join(' ')}': only one value is expected`)
  }
  let everything = false
  if (all.length === 1) {
    const v = all[0] as string
    if (/^(1|t|T|true|TRUE|True)$/.test(v)) everything = true
    else if (!/^(0|f|F|false|FALSE|False)$/.test(v)) {
      throw new InvalidArgument(
        `invalid filter 'all': strconv.ParseBool: parsing "${v}": invalid syntax`,
      )
    }
  }
  const labels = [...(filters.label ?? [])]
  if (!everything) labels.push(ANONYMOUS_LABEL)
  const not = filters['label!']
  return (m, inUse) => {
    if (m.Options !== null || inUse) return false
    if (!matchKV(labels, m.Labels)) return false
    if (not && not.length > 0 && matchKV(not, m.Labels)) return false
    return true
  }
}
