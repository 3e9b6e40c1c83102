// The guard over work left in containers, as the berth command shows it: what a container holds
// outside its volumes and binds (berthd's /berth/v1/ routes), the warning `rm` and the prunes
// print before asking, and the commands that would save it. Against a daemon without those
// routes (dockerd) every helper here answers "nothing known", and the commands behave as
// docker's.
import type { Client } from './client.ts'
import { DaemonError } from './client.ts'
import { humanDuration, humanSizeWithPrecision } from '../lib/units.ts'

/** berthd's UnsavedChanges (GET /berth/v1/containers/{id}/unsaved). */
export interface Unsaved {
  Id: string
  Name: string
  Unsaved: boolean
  Size: number
  Files: number
  Deleted: number
  LastChange: string
  Top: { Path: string; Size: number }[]
  SavedIn: string
  MeasuredAt: string
  Current: boolean
}

/** berthd's TrashEntry. */
export interface TrashEntry {
  Id: string
  Name: string
  Image: string
  ImageID: string
  Command: string
  RemovedAt: string
  ExpiresAt: string
  Size: number
  Changes: Unsaved
}

export interface TrashList {
  KeepSeconds: number
  Entries: TrashEntry[]
}

/** A berth-only request; undefined when the daemon does not serve it (404: not berthd). */
export async function berthOnly<T>(
  client: Client,
  method: string,
  path: string,
  query?: Record<string, string | boolean | undefined>,
): Promise<T | undefined> {
  try {
    return await client.json<T>(method, path, query ? { query } : {})
  } catch (e) {
    if (e instanceof DaemonError && e.status === 404 && /page not found/.test(e.message)) {
      return undefined
    }
    throw e
  }
}

/** The ps column: how much a container holds unsaved ('' when nothing). */
export function unsavedCell(u: Unsaved | undefined): string {
  if (!u?.Unsaved) return ''
  return humanSizeWithPrecision(u.Size, 3)
}

/** "12.3MB in 4 files, 1 deleted" */
export function changesLine(u: Unsaved): string {
  const parts = [`${humanSizeWithPrecision(u.Size, 3)} in ${plural(u.Files, 'file')}`]
  if (u.Deleted > 0) parts.push(`${plural(u.Deleted, 'file')} deleted`)
  return parts.join(', ')
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}

/** How long ago, in docker's words ("3 minutes ago"). */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return ''
  return `${humanDuration(Math.max(0, now - t))} ago`
}

/** An image name a container's name would commit to: lower case, separators Docker allows. */
export function imageNameFor(container: string): string {
  const base = container
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[._-]{2,}/g, '-')
    .replace(/^[._-]+|[._-]+$/g, '')
  return `${base || 'container'}-saved`
}

/** A word the shell passes as it is. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

/** The copy command for one of the container's paths: into the current directory. */
function cpCommand(name: string, path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1) || 'root'
  return `berth cp ${shellWord(`${name}:${path}`)} ${shellWord(`./${base}`)}`
}

/**
 * What removing the container would lose and how to keep it: the lines `rm` prints before it
 * asks (`trashSeconds` > 0: berthd keeps removed containers that long).
 */
export function lossReport(u: Unsaved, trashSeconds: number, now = Date.now()): string {
  const name = u.Name
  let s = `Container ${name} holds changes that are in no image or volume:\n`
  s += `  ${changesLine(u)}, last changed ${ago(u.LastChange, now) || 'at an unknown time'}\n`
  const width = Math.max(...u.Top.map((p) => humanSizeWithPrecision(p.Size, 3).length), 0)
  for (const p of u.Top)
    s += `    ${humanSizeWithPrecision(p.Size, 3).padStart(width)}  ${p.Path}\n`
  s += 'To keep them, save them first:\n'
  s += `  berth commit ${shellWord(name)} ${imageNameFor(name)}    (an image with the changes)\n`
  for (const p of u.Top.slice(0, 3)) s += `  ${cpCommand(name, p.Path)}\n`
  if (trashSeconds > 0) {
    s += `berthd keeps removed containers for ${humanDuration(trashSeconds * 1000).toLowerCase()}: \`berth container restore ${shellWord(name)}\` brings it back.\n`
  }
  return s
}

/** One line per container for the prunes' warning. */
export function pruneReport(list: Unsaved[], now = Date.now()): string {
  const losing = list.filter((u) => u.Unsaved)
  if (losing.length === 0) return ''
  let s = `${losing.length === 1 ? 'This container holds' : 'These containers hold'} changes that are in no image or volume:\n`
  for (const u of losing) {
    const where = u.Top.slice(0, 3)
      .map((p) => p.Path)
      .join(', ')
    s += `  ${u.Name}: ${changesLine(u)}, last changed ${ago(u.LastChange, now)}${where ? ` (${where})` : ''}\n`
  }
  s += `Save them first with \`berth commit CONTAINER IMAGE\` or \`berth cp CONTAINER:PATH DEST\`.\n`
  return s
}
