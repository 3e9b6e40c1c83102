// The build context `berth build` sends: a directory packed as a tar while it is read (never held
// in memory), minus what .dockerignore (or <Dockerfile>.dockerignore) leaves out, with the
// Dockerfile and the ignore file always in it (the daemon reads them; it applies the patterns
// again). A Dockerfile outside the context, or read from stdin, travels in it under a name of its
// own, as the docker CLI sends it.
import { createHash, randomBytes } from 'node:crypto'
// synchronous: the client has nothing else to do meanwhile, and fs/promises is not loaded
import { lstatSync, readdirSync, readFileSync, type BigIntStats } from 'node:fs'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import type { Readable } from 'node:stream'
import { PatternMatcher, readIgnoreFile } from '../../lib/dockerignore.ts'
import { CliError } from '../command.ts'

export interface PackedContext {
  tar: Readable
  /** The Dockerfile's name inside the context, for the `dockerfile` query parameter. */
  dockerfile: string
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** A context directory's paths after .dockerignore, with their stat, not yet read. */
export interface ScannedContext {
  items: ScannedItem[]
  /** A Dockerfile from outside the context (or stdin), under a name made up for it. */
  extra: { name: string; body: Buffer } | undefined
  /** The Dockerfile's name inside the context, for the `dockerfile` query parameter. */
  dockerfile: string
  /**
   * What the daemon is told this scan's listing is called (berthcontextsame, and
   * berthcontextdigest at a sync): a sha256 of every item's path (and text key, if it has one)
   * and of the raw stat records, made without making a key string per path. Any change of a
   * path's stat or of the set of paths changes it, as it changes the listing.
   */
  digest: string
  /** Makes the items' keys, where their records hold them still (listing calls it). */
  fill: () => void
}

export interface ScannedItem {
  rel: string
  path: string
  kind: 'd' | 'l' | 'f'
  /** st_mode: type and permission bits. */
  mode: number
  size: number
  mtimeMs: number
  /** What berth's synced context says of the path: its stat key (see Records). */
  key: string
  /** Its record in the scan's Records while its key is still to be made; -1 otherwise. */
  rec?: number
}

/**
 * Packs `dir`. `dockerfile` is the -f value ('' for DIR/Dockerfile); `dockerfileText` a Dockerfile
 * read from stdin (-f -).
 */
export async function packDirectory(
  dir: string,
  dockerfile: string,
  dockerfileText?: string,
): Promise<PackedContext> {
  const s = await scanDirectory(dir, dockerfile, dockerfileText)
  const { packScanned } = await import('./build-pack.ts')
  return { tar: packScanned(s), dockerfile: s.dockerfile }
}

/** Walks `dir` (lstat only) as packDirectory would pack it. */
export async function scanDirectory(
  dir: string,
  dockerfile: string,
  dockerfileText?: string,
): Promise<ScannedContext> {
  const root = resolve(dir)
  try {
    if (!lstatSync(root).isDirectory())
      throw new CliError(`unable to prepare context: path "${dir}" not found`)
  } catch (e) {
    if (e instanceof CliError) throw e
    throw new CliError(`unable to prepare context: path "${dir}" not found`)
  }
  let name: string
  let extra: { name: string; body: Buffer } | undefined
  if (dockerfileText !== undefined) {
    name = `.dockerfile.${randomBytes(10).toString('hex')}`
    extra = { name, body: Buffer.from(dockerfileText) }
  } else {
    const abs = dockerfile === '' ? join(root, 'Dockerfile') : resolve(dockerfile)
    const rel = relative(root, abs)
    const body = await readIfExists(abs)
    if (body === undefined) {
      throw new CliError(
        `unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${abs}: no such file or directory`,
      )
    }
    if (rel.startsWith('..') || isAbsolute(rel)) {
      name = `.dockerfile.${randomBytes(10).toString('hex')}`
      extra = { name, body: Buffer.from(body) }
    } else {
      name = rel.split(sep).join('/')
    }
  }
  const ignoreText =
    (extra === undefined ? await readIfExists(join(root, `${name}.dockerignore`)) : undefined) ??
    (await readIfExists(join(root, '.dockerignore')))
  const matcher = new PatternMatcher(ignoreText === undefined ? [] : readIgnoreFile(ignoreText))
  const always = new Set([name, '.dockerignore', `${name}.dockerignore`])

  const items: ScannedItem[] = []
  const base = root === '/' ? '' : root
  const records = new Records()
  const stat = scanStat(records).stat
  // Synchronous calls: the client has nothing else to do meanwhile, and a context is thousands
  // of paths, where a trip through the thread pool each costs more than the lstat itself.
  const walk = (rel: string): void => {
    const names = byteOrder(readdirSync(rel === '' ? root : `${base}/${rel}`))
    for (const n of names) {
      const r = rel === '' ? n : `${rel}/${n}`
      // root is resolved and r holds no '.' or '..': a plain concatenation is the path.
      const p = `${base}/${r}`
      const item = stat(r, p)
      const ignored = !matcher.empty && !always.has(r) && matcher.matches(r)
      const kept =
        !ignored && (item.kind === 'd' || item.kind === 'l' || (item.mode & S_IFMT) === S_IFREG)
      // A path not sent has no record: the records are those of the items, in their order.
      if (kept) items.push(item)
      else records.drop(item.rec)
      if (item.kind === 'd' && !(ignored && matcher.canSkipDir(r))) walk(r)
    }
  }
  walk('')
  let filled = false
  return {
    items,
    extra,
    dockerfile: name,
    digest: records.digest(items),
    fill: () => {
      if (filled) return
      filled = true
      const keys = records.keys()
      for (const i of items) if (i.rec !== undefined && i.rec >= 0) i.key = keys(i.rec)
    },
  }
}

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000

/**
 * A path's stat key: its type and permission bits, size, device, inode and both times to the
 * nanosecond, as nine float64s (a "record") in base64: 96 characters. Written from numbers,
 * never through number-to-text conversions, which cost more than the lstat (callgrind: about
 * 35K instructions a path for nine of them in a template, against one base64 of every record
 * at the end of the scan). The daemon only compares keys. A value a float64 cannot hold exactly
 * (above 2^53) gets a text key instead, which never looks like base64 (it has ':').
 */
const RECORD = 9
const RECORD_BYTES = RECORD * 8
const KEY_CHARS = (RECORD_BYTES / 3) * 4

/** The fields of Node 20's stat array (src/node_file.h, FsStatsOffset). */
const F = {
  dev: 0,
  mode: 1,
  ino: 7,
  size: 8,
  mtimeSec: 12,
  mtimeNsec: 13,
  ctimeSec: 14,
  ctimeNsec: 15,
}

/** Records of a scan, grown as paths come; the keys are made at once (keys). */
class Records {
  private buf = new Float64Array(RECORD * 1024)
  private n = 0

  add(
    mode: number,
    size: number,
    dev: number,
    ino: number,
    ms: number,
    mns: number,
    cs: number,
    cns: number,
  ): number {
    if ((this.n + 1) * RECORD > this.buf.length) {
      const grown = new Float64Array(this.buf.length * 2)
      grown.set(this.buf)
      this.buf = grown
    }
    const b = this.buf
    const o = this.n * RECORD
    b[o] = mode
    b[o + 1] = size
    b[o + 2] = dev
    b[o + 3] = ino
    b[o + 4] = ms
    b[o + 5] = mns
    b[o + 6] = cs
    b[o + 7] = cns
    b[o + 8] = 0
    return this.n++
  }

  /** Takes back the last record (`rec`, its index: a path left out); -1 or another: nothing. */
  drop(rec: number | undefined): void {
    if (rec !== undefined && rec >= 0 && rec === this.n - 1) this.n--
  }

  /**
   * The scan's digest (ScannedContext.digest): each item's path and its text key ('' where its
   * key is a record), joined by NUL (neither holds one, so the text reads back one way), then
   * every record's bytes. `items` hold exactly the records, in their order (drop).
   */
  digest(items: readonly ScannedItem[]): string {
    const parts: string[] = []
    for (const i of items) parts.push(i.rel, i.rec !== undefined && i.rec >= 0 ? '' : i.key)
    return createHash('sha256')
      .update('berth scan 1\0')
      .update(parts.join('\0'))
      .update(new Uint8Array(this.buf.buffer, 0, this.n * RECORD_BYTES))
      .digest('hex')
  }

  /** Every record's key, in one base64 of them all (a record is a multiple of 3 bytes). */
  keys(): (i: number) => string {
    const all = Buffer.from(this.buf.buffer, 0, this.n * RECORD_BYTES).toString('base64')
    return (i) => all.slice(i * KEY_CHARS, (i + 1) * KEY_CHARS)
  }
}

/** The key of one path's record (the same text as Records.keys gives it). */
function keyOf(...fields: Parameters<Records['add']>): string {
  const r = new Records()
  r.add(...fields)
  return r.keys()(0)
}

/** A path's scanned item from Node's public lstat (nanosecond times as BigInts). */
function itemOf(rel: string, path: string, st: BigIntStats): ScannedItem {
  const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'
  const sec = (ns: bigint) => (ns >= 0n ? ns / NS : -((-ns + NS - 1n) / NS))
  const ms = sec(st.mtimeNs)
  const cs = sec(st.ctimeNs)
  const fields = [
    st.mode,
    st.size,
    st.dev,
    st.ino,
    ms,
    st.mtimeNs - ms * NS,
    cs,
    st.ctimeNs - cs * NS,
  ]
  const exact = fields.every((v) => v <= MAX_SAFE && v >= -MAX_SAFE)
  const [mode, size, dev, ino, mts, mns, cts, cns] = fields.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  return {
    rel,
    path,
    kind,
    mode,
    size,
    mtimeMs: Number(st.mtimeMs),
    key: exact
      ? keyOf(mode, size, dev, ino, mts, mns, cts, cns)
      : `${kind}:${st.mode}:${st.size}:${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}`,
  }
}

const NS = 1_000_000_000n
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * lstat for the scan. Node's public lstatSync makes a Stats object per path (with BigInts for
 * the nanosecond times, and four Dates): for a context of thousands of files that was most of
 * the scan's instructions (callgrind: 211M for 2000 files, 95M this way). Node 20's fs binding
 * fills one shared array instead, which is read here at once; it is used only after a check that
 * it answers as lstatSync does, on the scan's own root, else (another Node) lstatSync is. Both
 * write the same key. A number above 2^53 (an inode of some file systems) or a failing call goes
 * to lstatSync too, so the key is always exact and an error is Node's own.
 *
 * With `records`, a path's key is left empty and its record added there (its index in `rec`):
 * the scan makes every key at its end (Records.keys).
 */
export function scanStat(records?: Records): {
  fast: boolean
  stat: (rel: string, path: string) => ScannedItem
} {
  const slow = (rel: string, path: string) => itemOf(rel, path, lstatSync(path, { bigint: true }))
  type Binding = { lstat?: (p: string, big: boolean, req: undefined, throws: boolean) => unknown }
  let binding: Binding | undefined
  try {
    binding = (process as unknown as { binding(name: string): Binding }).binding('fs')
  } catch {
    return { fast: false, stat: slow }
  }
  const raw = binding?.lstat
  if (typeof raw !== 'function') return { fast: false, stat: slow }
  const read = (rel: string, path: string, into: Records | undefined): ScannedItem => {
    let a: unknown
    try {
      a = raw.call(binding, path, false, undefined, true)
    } catch {
      return slow(rel, path)
    }
    if (!(a instanceof Float64Array) || a.length < 16) return slow(rel, path)
    const mode = a[F.mode]!
    const size = a[F.size]!
    const dev = a[F.dev]!
    const ino = a[F.ino]!
    if (!Number.isSafeInteger(ino) || !Number.isSafeInteger(dev) || !Number.isSafeInteger(size))
      return slow(rel, path)
    const t = mode & S_IFMT
    const kind = t === S_IFDIR ? 'd' : t === S_IFLNK ? 'l' : 'f'
    const ms = a[F.mtimeSec]!
    const mns = a[F.mtimeNsec]!
    const fields = [mode, size, dev, ino, ms, mns, a[F.ctimeSec]!, a[F.ctimeNsec]!] as const
    const rec = into ? into.add(...fields) : -1
    return {
      rel,
      path,
      kind,
      mode,
      size,
      mtimeMs: ms * 1000 + mns / 1e6,
      key: into ? '' : keyOf(...fields),
      rec,
    }
  }
  const fast = (rel: string, path: string) => read(rel, path, undefined)
  if (!agrees(fast, slow)) return { fast: false, stat: slow }
  return { fast: true, stat: records ? (rel, path) => read(rel, path, records) : fast }
}

/** Whether the binding's answer for a few paths that surely exist is lstatSync's. */
function agrees(
  fast: (rel: string, path: string) => ScannedItem,
  slow: (rel: string, path: string) => ScannedItem,
): boolean {
  try {
    for (const p of ['/', process.execPath, '/proc/self']) {
      const a = fast(p, p)
      const b = slow(p, p)
      if (a.key !== b.key || a.mode !== b.mode || a.size !== b.size || a.kind !== b.kind)
        return false
    }
    return true
  } catch {
    return false
  }
}

/**
 * Names in the byte order of their UTF-8 (the tar's order). For ASCII names that is the order of
 * JS strings, which sorts without making a buffer per comparison.
 */
function byteOrder(names: string[]): string[] {
  // eslint-disable-next-line no-control-regex
  if (names.every((n) => /^[\x00-\x7f]*$/.test(n))) return names.sort()
  return names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}

/** Every path of a scanned context with its stat key (the Dockerfile from elsewhere included). */
export function listing(s: ScannedContext): Record<string, string> {
  s.fill()
  const out: Record<string, string> = {}
  for (const i of s.items) out[i.rel] = i.key
  // Made up on each run: always sent.
  if (s.extra) out[s.extra.name] = `extra:${randomBytes(8).toString('hex')}`
  return out
}
