// Docker's network filters (list and prune), over what the engine knows of a network.
import { InvalidArgument } from '../errors.ts'
import { getTimestamp } from '../../lib/timestamp.ts'
import type { NetworkFilters } from './types.ts'

export interface FilterSubject {
  id: string
  name: string
  driver: string
  labels: Record<string, string>
  predefined: boolean
  inUse: boolean
  created: string
}

const LIST_KEYS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type']
const PRUNE_KEYS = ['until', 'label', 'label!']

function invalidKey(key: string): InvalidArgument {
  return new InvalidArgument(`Invalid filter '${key}'`)
}

/** moby's filters.Match: a value equal to the source, or a regular expression matching it. */
function matchRe(values: string[], source: string): boolean {
  return values.some((v) => {
    if (v === source) return true
    try {
      return new RegExp(v).test(source)
    } catch {
      return false
    }
  })
}

/** moby's MatchKVList: every `k` or `k=v` is among the labels. */
function matchLabels(values: string[], labels: Record<string, string>): boolean {
  return values.every((v) => {
    const eq = v.indexOf('=')
    const k = eq < 0 ? v : v.slice(0, eq)
    if (!Object.prototype.hasOwnProperty.call(labels, k)) return false
    return eq < 0 || labels[k] === v.slice(eq + 1)
  })
}

function boolValue(key: string, values: string[]): boolean {
  const t = values.some((v) => v === 'true' || v === '1')
  const f = values.some((v) => v === 'false' || v === '0')
  if (t === f) throw new InvalidArgument(`invalid filter '${key}=[${values.join(' ')}]'`)
  return t
}

/** A predicate for `GET /networks?filters=`; throws on keys Docker does not know. */
export function listFilter(f: NetworkFilters): (n: FilterSubject) => boolean {
  for (const k of Object.keys(f)) if (!LIST_KEYS.includes(k)) throw invalidKey(k)
  for (const t of f.type ?? []) {
    if (t !== 'custom' && t !== 'builtin') {
      throw new InvalidArgument(`invalid filter: 'type'='${t}'`)
    }
  }
  const dangling = f.dangling?.length ? boolValue('dangling', f.dangling) : undefined
  return (n) => {
    if (f.driver?.length && !f.driver.includes(n.driver)) return false
    if (f.id?.length && !matchRe(f.id, n.id)) return false
    if (f.name?.length && !matchRe(f.name, n.name)) return false
    if (f.label?.length && !matchLabels(f.label, n.labels)) return false
    if (f.scope?.length && !f.scope.includes('local')) return false
    if (f.type?.length && !f.type.includes(n.predefined ? 'builtin' : 'custom')) return false
    if (dangling !== undefined && dangling !== (!n.predefined && !n.inUse)) return false
    return true
  }
}

/** A predicate for `POST /networks/prune?filters=`. */
export function pruneFilter(f: NetworkFilters, now = Date.now()): (n: FilterSubject) => boolean {
  for (const k of Object.keys(f)) if (!PRUNE_KEYS.includes(k)) throw invalidKey(k)
  let until: number | undefined
  for (const v of f.until ?? []) {
    try {
      until = Number(getTimestamp(v, now)) * 1000
    } catch (err) {
      throw new InvalidArgument(err instanceof Error ? err.message : String(err))
    }
  }
  return (n) => {
    if (until !== undefined && Date.parse(n.created) >= until) return false
    if (f.label?.length && !matchLabels(f.label, n.labels)) return false
    if (f['label!']?.length && f['label!'].some((v) => matchLabels([v], n.labels))) return false
    return true
  }
}
