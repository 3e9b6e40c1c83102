// Resolves a Docker `--user` spec against the image's /etc/passwd and /etc/group, with the
// semantics of moby/sys/user GetExecUser (which Docker and runc share).
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { InvalidArgument } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import type { User } from './types.ts'

export interface ResolvedUser extends User {
  /** The user's home directory from passwd; "/" when the user has no entry (runc's default). */
  home: string
}

const MAX_ID = 2 ** 31 - 1
const RANGE_ERROR = `uids and gids must be in range 0-${MAX_ID}`

interface PasswdEntry {
  name: string
  uid: number
  gid: number
  home: string
}

interface GroupEntry {
  name: string
  gid: number
  members: string[]
}

/**
 * `''` is root; otherwise `user`, `uid`, `user:group`, `uid:gid`, `user:gid` or `uid:group`.
 * Numeric ids need no entry; names must have one. additionalGids starts with the primary
 * gid, then the groups that list the user (only when no group was given), as Docker's do.
 */
export async function resolveUser(rootfs: string, spec: string | undefined): Promise<ResolvedUser> {
  const [userArg = '', groupArg = ''] = (spec ?? '').split(':')
  const uidArg = parseNumeric(userArg)
  const gidArg = parseNumeric(groupArg)

  let uid = 0
  let gid = 0
  let home = '/'
  let sgids: number[] = []

  const passwd = await readUserFile(rootfs, '/etc/passwd')
  const entry = passwd
    ? await findFirst(passwd, parsePasswdLine, (u) =>
        userArg === '' ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg,
      )
    : undefined
  if (entry) {
    uid = entry.uid
    gid = entry.gid
    home = entry.home
  } else if (userArg !== '') {
    if (uidArg === undefined) {
      throw new InvalidArgument(
        `unable to find user ${userArg}: no matching entries in passwd file`,
      )
    }
    uid = uidArg
  }

  if (groupArg !== '' || entry) {
    const groupLines = await readUserFile(rootfs, '/etc/group')
    const groups: GroupEntry[] = []
    if (groupLines) {
      for await (const line of groupLines) {
        const g = parseGroupLine(line)
        if (!g) continue
        const hit =
          groupArg === ''
            ? entry !== undefined && g.members.includes(entry.name)
            : gidArg !== undefined
              ? g.gid === gidArg
              : g.name === groupArg
        if (hit) groups.push(g)
        // With an explicit group only the first match counts.
        if (hit && groupArg !== '') break
      }
    }
    if (groupArg !== '') {
      if (groups.length > 0) gid = groups[0]!.gid
      else if (gidArg !== undefined) gid = gidArg
      else
        throw new InvalidArgument(
          `unable to find group ${groupArg}: no matching entries in group file`,
        )
    } else {
      sgids = groups.map((g) => g.gid)
    }
  }

  return { uid, gid, additionalGids: [gid, ...sgids], home }
}

/** A decimal id in range, or undefined when the text is not a number (then it is a name). */
function parseNumeric(text: string): number | undefined {
  if (text === '') return undefined
  // Go's strconv.Atoi: optional sign, then digits.
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined
  const n = Number(text)
  if (n < 0 || n > MAX_ID) throw new InvalidArgument(RANGE_ERROR)
  return n
}

/** Go's Atoi with errors ignored, as the passwd parser does for odd files. */
function atoi(text: string | undefined): number {
  if (text === undefined || !/^[+-]?[0-9]+$/.test(text)) return 0
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : 0
}

function parsePasswdLine(line: string): PasswdEntry | undefined {
  const t = line.trim()
  if (t === '') return undefined
  const f = t.split(':')
  return { name: f[0] ?? '', uid: atoi(f[2]), gid: atoi(f[3]), home: f[5] ?? '' }
}

function parseGroupLine(line: string): GroupEntry | undefined {
  const t = line.trim()
  if (t === '' || t.startsWith('#')) return undefined
  const f = t.split(':')
  const list = f[3]
  return { name: f[0] ?? '', gid: atoi(f[2]), members: list ? list.split(',') : [] }
}

async function findFirst<T>(
  lines: AsyncIterable<string>,
  parse: (line: string) => T | undefined,
  match: (v: T) => boolean,
): Promise<T | undefined> {
  for await (const line of lines) {
    const v = parse(line)
    if (v !== undefined && match(v)) return v
  }
  return undefined
}

/**
 * The lines of a file inside rootfs, or undefined when it cannot be opened (as Docker
 * treats it). Symlinks resolve inside rootfs, never on the host.
 */
async function readUserFile(
  rootfs: string,
  path: string,
): Promise<AsyncIterable<string> | undefined> {
  let resolved: string
  try {
    resolved = await resolveInRoot(rootfs, path)
  } catch {
    return undefined
  }
  let fh
  try {
    // O_NOFOLLOW: the resolved path has no links left; refuse one swapped in since.
    fh = await open(resolved, constants.O_RDONLY | constants.O_NOFOLLOW)
    if (!(await fh.stat()).isFile()) {
      await fh.close()
      return undefined
    }
  } catch {
    await fh?.close()
    return undefined
  }
  const handle = fh
  return (async function* () {
    const stream = handle.createReadStream({ encoding: 'utf8' })
    try {
      yield* createInterface({ input: stream, crlfDelay: Infinity })
    } finally {
      stream.destroy()
      await handle.close().catch(() => undefined)
    }
  })()
}
