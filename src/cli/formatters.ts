// docker's formatter contexts (ContainerContext, imageContext, historyContext): the fields
// and methods a --format template can use, and the table headers.
import { STRUCT } from './template/index.ts'
import {
  ellipsis,
  goQuote,
  goTimeString,
  humanSize,
  humanSizeWithPrecision,
  rfc3339,
  since,
  truncateID,
} from '../lib/units.ts'
import { familiarName, parseNamed, type Reference } from '../lib/reference.ts'

export interface ContainerSummary {
  Id: string
  Names?: string[]
  Image: string
  ImageID?: string
  Command: string
  Created: number
  Ports?: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }>
  SizeRw?: number
  SizeRootFs?: number
  Labels?: Record<string, string> | null
  State: string
  Status: string
  Mounts?: Array<{ Name?: string; Source?: string }>
  NetworkSettings?: { Networks?: Record<string, unknown> }
}

export const containerHeaders: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  LocalVolumes: 'LOCAL VOLUMES',
  Networks: 'NETWORKS',
  Platform: 'PLATFORM',
}

function labelsString(l: Record<string, string> | null | undefined): string {
  return Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

/** Go's string order (by bytes), which localeCompare is not. */
function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** An address and port as Go's net.JoinHostPort writes them (IPv6 in brackets). */
function joinHostPort(ip: string, port: string | number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}

/**
 * PORTS as the docker CLI shows it: ports published on the same number they expose, and
 * exposed-only ones, grouped into ranges per address and protocol; then the others one by one.
 */
export function displayablePorts(ports: ContainerSummary['Ports']): string {
  const sorted = [...(ports ?? [])].sort(
    (a, b) =>
      a.PrivatePort - b.PrivatePort ||
      byteOrder(a.IP ?? '', b.IP ?? '') ||
      (a.PublicPort ?? 0) - (b.PublicPort ?? 0) ||
      byteOrder(a.Type, b.Type),
  )
  const groups = new Map<string, { ip: string; type: string; first: number; last: number }>()
  const result: string[] = []
  const mappings: string[] = []
  const form = (g: { ip: string; type: string; first: number; last: number }): string => {
    const range = g.first === g.last ? `${g.first}` : `${g.first}-${g.last}`
    return g.ip ? `${joinHostPort(g.ip, range)}->${range}/${g.type}` : `${range}/${g.type}`
  }
  for (const p of sorted) {
    const ip = p.IP ?? ''
    if (ip !== '' && p.PublicPort !== p.PrivatePort) {
      mappings.push(`${joinHostPort(ip, p.PublicPort ?? 0)}->${p.PrivatePort}/${p.Type}`)
      continue
    }
    const key = `${ip}/${p.Type}`
    const g = groups.get(key)
    if (g && p.PrivatePort === g.last + 1) {
      g.last = p.PrivatePort
      continue
    }
    if (g) result.push(form(g))
    // A key keeps its first place among the groups even when a new range starts for it.
    const fresh = { ip, type: p.Type, first: p.PrivatePort, last: p.PrivatePort }
    if (g) Object.assign(g, fresh)
    else groups.set(key, fresh)
  }
  return [...result, ...[...groups.values()].map(form), ...mappings].join(', ')
}

export function containerContext(c: ContainerSummary, trunc: boolean, now = Date.now()): object {
  return {
    [STRUCT]: '*formatter.ContainerContext',
    ID: () => (trunc ? truncateID(c.Id) : c.Id),
    Names: () => {
      let names = (c.Names ?? []).map((n) => n.replace(/^\//, ''))
      if (trunc) {
        const primary = names.find((n) => !n.includes('/'))
        if (primary !== undefined) names = [primary]
      }
      return names.join(',')
    },
    Image: () => {
      let image = c.Image || '<no image>'
      if (trunc) {
        if (c.ImageID && truncateID(c.ImageID) === truncateID(image)) return truncateID(image)
        const at = image.indexOf('@')
        if (at > 0) image = image.slice(0, at)
      }
      return image
    },
    Command: () => goQuote(trunc ? ellipsis(c.Command, 20) : c.Command),
    CreatedAt: () => goTimeString(c.Created),
    RunningFor: () => since(c.Created, now),
    Ports: () => displayablePorts(c.Ports),
    State: () => c.State,
    Status: () => c.Status,
    Size: () => {
      const srw = humanSizeWithPrecision(c.SizeRw ?? 0, 3)
      if ((c.SizeRootFs ?? 0) > 0)
        return `${srw} (virtual ${humanSizeWithPrecision(c.SizeRootFs ?? 0, 3)})`
      return srw
    },
    Labels: () => labelsString(c.Labels),
    Label: (name: unknown) => c.Labels?.[String(name)] ?? '',
    Mounts: () =>
      (c.Mounts ?? [])
        .map((m) => {
          const n = m.Name || m.Source || ''
          return trunc ? ellipsis(n, 15) : n
        })
        .join(','),
    LocalVolumes: () => String((c.Mounts ?? []).filter((m) => m.Name).length),
    Networks: () =>
      Object.keys(c.NetworkSettings?.Networks ?? {})
        .sort()
        .join(','),
  }
}

export interface ImageSummary {
  Id: string
  ParentId?: string
  RepoTags?: string[] | null
  RepoDigests?: string[] | null
  Created: number
  Size: number
  SharedSize?: number
  VirtualSize?: number
  Labels?: Record<string, string> | null
  Containers?: number
}

export const imageHeaders: Record<string, string> = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  VirtualSize: 'VIRTUAL SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
}

/** A RepoTags or RepoDigests entry, or undefined for one that is not a reference (skipped). */
function parseOrUndefined(s: string): Reference | undefined {
  try {
    return parseNamed(s)
  } catch {
    return undefined
  }
}

export function imageContext(
  i: ImageSummary,
  trunc: boolean,
  repo: string,
  tag: string,
  digest: string,
  now: number,
): object {
  return {
    [STRUCT]: '*formatter.imageContext',
    ID: () => (trunc ? truncateID(i.Id) : i.Id),
    Repository: () => repo,
    Tag: () => tag,
    Digest: () => digest,
    CreatedSince: () => since(i.Created, now),
    CreatedAt: () => goTimeString(i.Created),
    Size: () => humanSizeWithPrecision(i.Size, 3),
    Containers: () =>
      i.Containers === undefined || i.Containers === -1 ? 'N/A' : String(i.Containers),
    VirtualSize: () => humanSizeWithPrecision(i.VirtualSize ?? i.Size, 3),
    SharedSize: () =>
      i.SharedSize === undefined || i.SharedSize === -1 ? 'N/A' : humanSize(i.SharedSize), // docker's units.HumanSize here, not precision 3
    UniqueSize: () =>
      i.SharedSize === undefined || i.SharedSize === -1 ? 'N/A' : humanSize(i.Size - i.SharedSize),
  }
}

/** imageFormat: one row per repository:tag (and per digest with --digests), "<none>" for dangling. */
export function imageContexts(
  images: ImageSummary[],
  trunc: boolean,
  digests: boolean,
  now = Date.now(),
): object[] {
  const rows: object[] = []
  for (const img of images) {
    const tags = img.RepoTags ?? []
    const dgs = img.RepoDigests ?? []
    const dangling =
      (tags.length === 0 && dgs.length === 0) ||
      (tags.length === 1 &&
        tags[0] === '<none>:<none>' &&
        dgs.length === 1 &&
        dgs[0] === '<none>@<none>')
    if (dangling) {
      rows.push(imageContext(img, trunc, '<none>', '<none>', '<none>', now))
      continue
    }
    const repoTags = new Map<string, string[]>()
    const repoDigests = new Map<string, string[]>()
    for (const t of tags) {
      const ref = parseOrUndefined(t)
      if (ref?.tag === undefined) continue
      const r = familiarName(ref)
      repoTags.set(r, [...(repoTags.get(r) ?? []), ref.tag])
    }
    for (const d of dgs) {
      const ref = parseOrUndefined(d)
      if (ref?.digest === undefined) continue
      const r = familiarName(ref)
      repoDigests.set(r, [...(repoDigests.get(r) ?? []), ref.digest])
    }
    for (const [repo, ts] of repoTags) {
      let ds = repoDigests.get(repo) ?? []
      repoDigests.delete(repo)
      if (!digests) ds = []
      for (const t of ts) {
        if (ds.length === 0) rows.push(imageContext(img, trunc, repo, t, '<none>', now))
        else for (const d of ds) rows.push(imageContext(img, trunc, repo, t, d, now))
      }
    }
    for (const [repo, ds] of repoDigests) {
      if (digests) for (const d of ds) rows.push(imageContext(img, trunc, repo, '<none>', d, now))
      else rows.push(imageContext(img, trunc, repo, '<none>', '', now))
    }
  }
  return rows
}

export interface HistoryItem {
  Id: string
  Created: number
  CreatedBy: string
  Tags?: string[] | null
  Size: number
  Comment: string
}

export const historyHeaders: Record<string, string> = {
  ID: 'IMAGE',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  CreatedBy: 'CREATED BY',
  Size: 'SIZE',
  Comment: 'COMMENT',
}

export function historyContext(
  h: HistoryItem,
  trunc: boolean,
  human: boolean,
  now = Date.now(),
): object {
  return {
    [STRUCT]: '*formatter.historyContext',
    ID: () => (trunc ? truncateID(h.Id) : h.Id),
    CreatedSince: () => (human ? since(h.Created, now) : rfc3339(h.Created)),
    CreatedAt: () => rfc3339(h.Created),
    CreatedBy: () => {
      const c = h.CreatedBy.replace(/\t/g, ' ')
      return trunc ? ellipsis(c, 45) : c
    },
    Size: () => (human ? humanSizeWithPrecision(h.Size, 3) : String(h.Size)),
    Comment: () => h.Comment,
  }
}
