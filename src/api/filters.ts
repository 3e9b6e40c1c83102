// Docker's `filters` query parameter: a JSON map from a key to a set of values,
// sent as `{"key":{"value":true}}` by current clients and `{"key":["value"]}` by old ones.
import { InvalidArgument } from '../engine/errors.ts'

export class Filters {
  private readonly fields: Map<string, Set<string>>

  constructor(fields?: Record<string, string[]>) {
    this.fields = new Map()
    for (const [k, vs] of Object.entries(fields ?? {})) this.fields.set(k, new Set(vs))
  }

  keys(): string[] {
    return [...this.fields.keys()]
  }

  has(key: string): boolean {
    return this.fields.has(key)
  }

  get(key: string): string[] {
    return [...(this.fields.get(key) ?? [])]
  }

  get size(): number {
    return this.fields.size
  }

  add(key: string, value: string): void {
    const vs = this.fields.get(key)
    if (vs) vs.add(value)
    else this.fields.set(key, new Set([value]))
  }

  /** As a plain record, for engine calls. */
  toRecord(): Record<string, string[]> {
    const out: Record<string, string[]> = {}
    for (const [k, vs] of this.fields) out[k] = [...vs]
    return out
  }

  /** 400 `invalid filter 'KEY'` for a key outside the accepted set. */
  validate(accepted: readonly string[]): void {
    for (const k of this.fields.keys()) {
      if (!accepted.includes(k)) throw invalidFilter(k)
    }
  }

  /** moby's GetBoolOrDefault: the values must say true or false, not both. */
  boolOr(key: string, def: boolean): boolean {
    const vs = this.fields.get(key)
    if (!vs) return def
    if (vs.size === 0) throw invalidFilter(key)
    const isFalse = vs.has('0') || vs.has('false')
    const isTrue = vs.has('1') || vs.has('true')
    if (isFalse === isTrue) throw invalidFilter(key, [...vs])
    return isTrue
  }

  /** moby's MatchKVList: every `k` or `k=v` value must be among the labels. */
  matchKV(key: string, labels: Record<string, string> | null | undefined): boolean {
    const vs = this.fields.get(key)
    if (!vs || vs.size === 0) return true
    if (!labels || Object.keys(labels).length === 0) return false
    for (const v of vs) {
      const eq = v.indexOf('=')
      const k = eq < 0 ? v : v.slice(0, eq)
      if (!Object.prototype.hasOwnProperty.call(labels, k)) return false
      if (eq >= 0 && labels[k] !== v.slice(eq + 1)) return false
    }
    return true
  }

  /** The values of a key (alias of get, for readability at call sites). */
  values(key: string): string[] {
    return this.get(key)
  }

  /** True when the key is unset or one of its values equals the source. */
  matchAny(key: string, source: string): boolean {
    return this.exactMatch(key, source)
  }

  /** The `label` filter against a set of labels (moby's MatchKVList). */
  matchLabels(labels: Record<string, string> | null | undefined, key = 'label'): boolean {
    return this.matchKV(key, labels)
  }

  /** True when the key is unset or one of its values equals the source. */
  exactMatch(key: string, source: string): boolean {
    const vs = this.fields.get(key)
    if (!vs || vs.size === 0) return true
    return vs.has(source)
  }
}

/** Docker's error words: `invalid filter`, `invalid filter 'k'`, `invalid filter 'k=[a b]'`. */
export function invalidFilter(key?: string, values?: string[]): InvalidArgument {
  let msg = 'invalid filter'
  if (key) {
    msg += ` '${key}`
    if (values) msg += `=[${values.join(' ')}]`
    msg += `'`
  }
  return new InvalidArgument(msg)
}

/** Parses the `filters` parameter; empty or absent means no filters. */
export function parseFilters(raw: string | undefined | null): Filters {
  if (raw === undefined || raw === null || raw === '') return new Filters()
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    throw invalidFilter()
  }
  // Go decodes JSON null into an empty map.
  if (value === null) return new Filters()
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidFilter()
  const out: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null) {
      out[k] = []
    } else if (Array.isArray(v)) {
      if (!v.every((x) => typeof x === 'string')) throw invalidFilter()
      out[k] = v as string[]
    } else if (typeof v === 'object') {
      const set = v as Record<string, unknown>
      if (!Object.values(set).every((x) => typeof x === 'boolean')) throw invalidFilter()
      // The map form lists a value as a key whatever its boolean, as Go's map decoding does.
      out[k] = Object.keys(set)
    } else {
      throw invalidFilter()
    }
  }
  return new Filters(out)
}
