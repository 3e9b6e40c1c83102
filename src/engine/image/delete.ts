// rmi and image prune: moby's ImageDelete (daemon/images/image_delete.go), its conflict rules
// and its words, over the store's state as RemovalState shows it. The caller holds the store's
// lock for the whole removal and writes the references afterwards.
import { hex, shortId, type Digest } from '../digest.ts'
import { timestampNanos } from '../../lib/timestamp.ts'
import { Conflict, InvalidArgument, isBerthError } from '../errors.ts'
import { parsed } from '../grammar.ts'
import { parseNamed, tagNameOnly, type Reference } from '../reference/reference.ts'
import type { DeleteResponseItem } from './types.ts'

/** What removal needs of the image store; LocalImageStore gives it under its lock. */
export interface RemovalState {
  /** The ID a reference names (moby's GetImage); NotFound in Docker's words. */
  resolveId(ref: string): Digest
  has(id: Digest): boolean
  /** Tag and digest references of an image. */
  repoRefs(id: Digest): Reference[]
  /** Drops one reference (and says so in an untag event). */
  dropRef(id: Digest, ref: Reference): Promise<void>
  children(id: Digest): Digest[]
  parent(id: Digest): Digest | undefined
  containersUsing(id: Digest): Promise<{ id: string; running: boolean }[]>
  /** Drops the record, then layers and blobs no other image uses; adds the bytes freed. */
  deleteImage(id: Digest, acc: { reclaimed: number }): Promise<void>
  /** Every image, for prune: its ID, creation time and labels. */
  entries(): { id: Digest; created?: string; labels: Record<string, string> }[]
}

interface DeleteConflict {
  hard: boolean
  used: boolean
  message: string
}

const CONFLICT_CHILD = 1
const CONFLICT_RUNNING = 2
const CONFLICT_REFERENCE = 4
const CONFLICT_STOPPED = 8
const CONFLICT_HARD = CONFLICT_CHILD | CONFLICT_RUNNING
const CONFLICT_SOFT = CONFLICT_REFERENCE | CONFLICT_STOPPED

function isDangling(s: RemovalState, id: Digest): boolean {
  return s.repoRefs(id).length === 0 && s.children(id).length === 0
}

async function checkConflict(
  s: RemovalState,
  id: Digest,
  mask: number,
): Promise<DeleteConflict | undefined> {
  if (mask & CONFLICT_CHILD && s.children(id).length > 0) {
    return { hard: true, used: false, message: 'image has dependent child images' }
  }
  const ctrs = mask & (CONFLICT_RUNNING | CONFLICT_STOPPED) ? await s.containersUsing(id) : []
  if (mask & CONFLICT_RUNNING) {
    const c = ctrs.find((c) => c.running)
    if (c)
      return {
        hard: true,
        used: true,
        message: `image is being used by running container ${shortId(c.id)}`,
      }
  }
  if (mask & CONFLICT_REFERENCE && s.repoRefs(id).length > 0) {
    return { hard: false, used: false, message: 'image is referenced in multiple repositories' }
  }
  if (mask & CONFLICT_STOPPED) {
    const c = ctrs.find((c) => !c.running)
    if (c)
      return {
        hard: false,
        used: true,
        message: `image is being used by stopped container ${shortId(c.id)}`,
      }
  }
  return undefined
}

function conflictError(id: Digest, c: DeleteConflict): Conflict {
  const force = c.hard ? 'cannot be forced' : 'must be forced'
  return new Conflict(`conflict: unable to delete ${shortId(id)} (${force}) - ${c.message}`)
}

/** moby's ImageDelete for one reference or ID. */
export async function removeImage(
  s: RemovalState,
  refStr: string,
  force: boolean,
  prune: boolean,
  acc: { reclaimed: number },
): Promise<DeleteResponseItem[]> {
  const id = s.resolveId(refStr)
  const records: DeleteResponseItem[] = []
  let removedRepositoryRef = false
  if (!isImageIdPrefix(id, refStr)) {
    if (!force && isSingleReference(s.repoRefs(id))) {
      const ctrs = await s.containersUsing(id)
      if (ctrs.length > 0) {
        throw new Conflict(
          `conflict: unable to remove repository reference "${refStr}" (must force) - container ${shortId(ctrs[0].id)} is using its referenced image ${shortId(id)}`,
        )
      }
    }
    let parsed = parseNamed(refStr)
    if (parsed.digest === undefined) parsed = tagNameOnly(parsed)
    await s.dropRef(id, parsed)
    records.push({ Untagged: parsed.familiar })
    let remaining = s.repoRefs(id)
    if (parsed.digest === undefined) {
      const sameNameTag = remaining.some((r) => r.digest === undefined && r.name === parsed.name)
      if (!sameNameTag) {
        const keep: Reference[] = []
        for (const r of remaining) {
          if (r.digest !== undefined && r.name === parsed.name) {
            await s.dropRef(id, r)
            records.push({ Untagged: r.familiar })
          } else keep.push(r)
        }
        remaining = keep
      }
    }
    if (remaining.length > 0) return records
    removedRepositoryRef = true
  } else {
    const refs = s.repoRefs(id)
    if (isSingleReference(refs)) {
      let mask = CONFLICT_HARD
      if (!force) mask |= CONFLICT_SOFT & ~CONFLICT_REFERENCE
      const c = await checkConflict(s, id, mask)
      if (c) throw conflictError(id, c)
      for (const r of refs) {
        await s.dropRef(id, r)
        records.push({ Untagged: r.familiar })
      }
    }
  }
  await deleteHelper(s, id, records, force, prune, removedRepositoryRef, acc)
  return records
}

async function deleteHelper(
  s: RemovalState,
  id: Digest,
  records: DeleteResponseItem[],
  force: boolean,
  prune: boolean,
  quiet: boolean,
  acc: { reclaimed: number },
): Promise<void> {
  let mask = CONFLICT_HARD
  if (!force) mask |= CONFLICT_SOFT
  const c = await checkConflict(s, id, mask)
  if (c) {
    if (quiet && (!isDangling(s, id) || c.used)) return
    throw conflictError(id, c)
  }
  if (!s.has(id)) return
  const parent = s.parent(id)
  for (const r of s.repoRefs(id)) {
    await s.dropRef(id, r)
    records.push({ Untagged: r.familiar })
  }
  await s.deleteImage(id, acc)
  records.push({ Deleted: id })
  if (!prune || !parent || !s.has(parent)) return
  await deleteHelper(s, parent, records, false, true, true, acc)
}

/** moby's ImagesPrune: dangling images (or all unused ones), with its filters. */
export async function pruneImages(
  s: RemovalState,
  opts: { all: boolean; filters: Record<string, string[]> },
): Promise<{ deleted: DeleteResponseItem[]; spaceReclaimed: number }> {
  const f = pruneFilters(opts)
  const deleted: DeleteResponseItem[] = []
  const acc = { reclaimed: 0 }
  const candidates = s.entries().filter((e) => f.all || s.children(e.id).length === 0)
  for (const e of candidates) {
    const id = e.id
    if (!s.has(id)) continue
    if (f.until !== undefined) {
      const created = e.created ? Date.parse(e.created) : NaN
      if (!Number.isNaN(created) && created > f.until) continue
    }
    if (!f.labels.every((l) => matchLabel(e.labels, l))) continue
    if (f.notLabels.some((l) => matchLabel(e.labels, l))) continue
    if ((await s.containersUsing(id)).length > 0) continue
    const refs = s.repoRefs(id)
    const targets: string[] = []
    if (refs.length > 0) {
      const hasTag = refs.some((r) => r.digest === undefined)
      if (f.all || !hasTag) for (const r of refs) targets.push(r.familiar)
    } else {
      targets.push(hex(id))
    }
    for (const t of targets) {
      try {
        deleted.push(...(await removeImage(s, t, false, true, acc)))
      } catch (err) {
        if (isBerthError(err) && (err.status === 404 || err.status === 409)) continue
        throw err
      }
    }
  }
  return { deleted, spaceReclaimed: acc.reclaimed }
}

/** Checks prune's filters before anything is touched. */
export function pruneFilters(opts: { all: boolean; filters: Record<string, string[]> }): {
  all: boolean
  until?: number
  labels: string[]
  notLabels: string[]
} {
  let all = opts.all
  let until: number | undefined
  const labels: string[] = []
  const notLabels: string[] = []
  for (const [k, vals] of Object.entries(opts.filters)) {
    switch (k) {
      case 'dangling':
        for (const v of vals) {
          if (!['true', 'false', '1', '0'].includes(v.toLowerCase())) {
            throw new InvalidArgument(`invalid filter 'dangling=${v}'`)
          }
          if (['false', '0'].includes(v.toLowerCase())) all = true
        }
        break
      case 'until':
        for (const v of vals) until = parseUntil(v)
        break
      case 'label':
        labels.push(...vals)
        break
      case 'label!':
        notLabels.push(...vals)
        break
      default:
        throw new InvalidArgument(`invalid filter '${k}'`)
    }
  }
  return { all, until, labels, notLabels }
}

/** moby's isImageIDPrefix: the reference names the image by (a prefix of) its ID. */
function isImageIdPrefix(id: Digest, s: string): boolean {
  return id.startsWith(s) || hex(id).startsWith(s)
}

/** moby's isSingleReference: one tag, alone or with digests of the same repository. */
function isSingleReference(refs: Reference[]): boolean {
  if (refs.length <= 1) return refs.length === 1
  let single: Reference | undefined
  const canonical = new Set<string>()
  for (const r of refs) {
    if (r.digest !== undefined) canonical.add(r.name)
    else if (single === undefined) single = r
    else return false
  }
  single ??= refs[0]
  return canonical.size === 1 && canonical.has(single.name)
}

function matchLabel(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=')
  if (eq < 0) return Object.hasOwn(labels, filter)
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1)
}

/** Docker's `until` filter value (a Go duration ago, a date, or unix seconds) in unix ms. */
function parseUntil(v: string): number {
  return Number(parsed(() => timestampNanos(v))) / 1e6
}
