// The build context `berth build` sends: a directory packed as a tar while it is read (never held
// in memory), minus what .dockerignore (or <Dockerfile>.dockerignore) leaves out, with the
// Dockerfile and the ignore file always in it (the daemon reads them; it applies the patterns
// again). A Dockerfile outside the context, or read from stdin, travels in it under a name of its
// own, as the docker CLI sends it.
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

/** A name for a Dockerfile from elsewhere, made up each time. */
async function madeUpName(): Promise<string> {
  const { randomBytes } = await import('../../lib/build-digest.ts')
  return `.dockerfile.${randomBytes(10).toString('hex')}`
}

/** Its key in the listing: made up on each run, so always sent. */
async function madeUpKey(): Promise<string> {
  const { randomBytes } = await import('../../lib/build-digest.ts')
  return `extra:${randomBytes(8).toString('hex')}`
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
  /** The kept paths, made when first asked for (an unchanged rebuild needs only the digest). */
  readonly items: ScannedItem[]
  /**
   * A Dockerfile from outside the context (or stdin), under a name made up for it, and its key
   * in the listing (made up too: it is always sent).
   */
  extra: { name: string; body: Buffer; key: string } | undefined
  /** The Dockerfile's name inside the context, for the `dockerfile` query parameter. */
  dockerfile: string
  /**
   * What the daemon is told this scan's listing is called (berthcontextdigest at a sync): a
   * sha256 of `scan` (lib/build-digest.ts scanDigest). Any change of a kept path's stat or of
   * the set of paths changes it, as it changes the listing.
   */
  digest(): Promise<string>
  /**
   * The bytes the digest covers: every kept path (and its text key, if it has one) and the raw
   * stat records, made without a key string or an object per path. An unchanged rebuild sends
   * them and berthd hashes them (berthcontextpath), so the CLI loads no hashing.
   */
  readonly scan: Buffer
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
  let extra: ScannedContext['extra']
  if (dockerfileText !== undefined) {
    name = await madeUpName()
    extra = { name, body: Buffer.from(dockerfileText), key: await madeUpKey() }
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
      name = await madeUpName()
      extra = { name, body: Buffer.from(body), key: await madeUpKey() }
    } else {
      name = rel.split(sep).join('/')
    }
  }
  const ignoreText =
    (extra === undefined ? await readIfExists(join(root, `${name}.dockerignore`)) : undefined) ??
    (await readIfExists(join(root, '.dockerignore')))
  const matcher = new PatternMatcher(ignoreText === undefined ? [] : readIgnoreFile(ignoreText))
  const always = new Set([name, '.dockerignore', `${name}.dockerignore`])

  const base = root === '/' ? '' : root
  // Per kept path, its name and its stat: a record in `records` (the binding's stat array), or
  // where lstatSync made it (another Node, a number above 2^53), its item in `slow`. No object
  // per path: the items are made only if asked for (ScannedContext.items).
  const records = new Records()
  const rels: string[] = []
  const slow = new Map<number, ScannedItem>()
  const raw = rawLstat()
  // Synchronous calls: the client has nothing else to do meanwhile, and a context is thousands
  // of paths, where a trip through the thread pool each costs more than the lstat itself.
  // One path: its record kept (or not), and whether to walk into it. A function of its own,
  // small, so that V8's optimizing compile of what runs per path is short.
  const visit = (r: string): boolean => {
    // root is resolved and r holds no '.' or '..': a plain concatenation is the path.
    const p = `${base}/${r}`
    const a = raw?.(p)
    const it = a === undefined ? itemOf(r, p, lstatSync(p, { bigint: true })) : undefined
    const t = (a === undefined ? it!.mode : a[F.mode]!) & S_IFMT
    const ignored = !matcher.empty && !always.has(r) && matcher.matches(r)
    if (!ignored && (t === S_IFDIR || t === S_IFLNK || t === S_IFREG)) {
      if (it === undefined) records.add(a!)
      else slow.set(rels.length, it)
      rels.push(r)
    }
    return t === S_IFDIR && !(ignored && matcher.canSkipDir(r))
  }
  const walk = (rel: string): void => {
    const names = byteOrder(readdirSync(rel === '' ? root : `${base}/${rel}`))
    const prefix = rel === '' ? '' : `${rel}/`
    for (const n of names) {
      const r = prefix + n
      if (visit(r)) walk(r)
    }
  }
  walk('')
  let items: ScannedItem[] | undefined
  const scan = records.scan(rels, slow)
  return {
    get items() {
      items ??= records.items(rels, base, slow)
      return items
    },
    extra,
    dockerfile: name,
    scan,
    digest: async () => (await import('../../lib/build-digest.ts')).scanDigest([scan]),
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

  /** Adds a record from the fs binding's stat array (see rawLstat); its index. */
  add(a: Float64Array): number {
    if ((this.n + 1) * RECORD > this.buf.length) {
      const grown = new Float64Array(this.buf.length * 2)
      grown.set(this.buf)
      this.buf = grown
    }
    const b = this.buf
    const o = this.n * RECORD
    b[o] = a[F.mode]!
    b[o + 1] = a[F.size]!
    b[o + 2] = a[F.dev]!
    b[o + 3] = a[F.ino]!
    b[o + 4] = a[F.mtimeSec]!
    b[o + 5] = a[F.mtimeNsec]!
    b[o + 6] = a[F.ctimeSec]!
    b[o + 7] = a[F.ctimeNsec]!
    b[o + 8] = 0
    return this.n++
  }

  /**
   * The scan's bytes (ScannedContext.scan): each kept path and its text key ('' where its key
   * is a record), joined by NUL (neither holds one, so the text reads back one way), then every
   * record's bytes. The paths without an item in `slow` hold the records, in their order.
   */
  scan(rels: readonly string[], slow: ReadonlyMap<number, ScannedItem>): Buffer {
    let text: string
    // the common case: every key a record, each path followed by an empty one
    if (slow.size === 0) text = rels.length === 0 ? '' : `${rels.join('\0\0')}\0`
    else {
      const parts: string[] = []
      for (let i = 0; i < rels.length; i++) parts.push(rels[i]!, slow.get(i)?.key ?? '')
      text = parts.join('\0')
    }
    const recs = this.n * RECORD_BYTES
    const out = Buffer.allocUnsafe(Buffer.byteLength(text) + recs)
    const at = out.write(text)
    out.set(new Uint8Array(this.buf.buffer, 0, recs), at)
    return out
  }

  /** The items of the paths `rels` (see digest), keyed. */
  items(
    rels: readonly string[],
    base: string,
    slow: ReadonlyMap<number, ScannedItem>,
  ): ScannedItem[] {
    const keys = this.keys()
    const b = this.buf
    const out: ScannedItem[] = []
    let rec = 0
    for (let i = 0; i < rels.length; i++) {
      const s = slow.get(i)
      if (s !== undefined) {
        out.push(s)
        continue
      }
      const o = rec * RECORD
      const rel = rels[i]!
      out.push(item(rel, `${base}/${rel}`, b[o]!, b[o + 1]!, b[o + 4]!, b[o + 5]!, keys(rec++)))
    }
    return out
  }

  /** Every record's key, in one base64 of them all (a record is a multiple of 3 bytes). */
  keys(): (i: number) => string {
    const all = Buffer.from(this.buf.buffer, 0, this.n * RECORD_BYTES).toString('base64')
    return (i) => all.slice(i * KEY_CHARS, (i + 1) * KEY_CHARS)
  }
}

/** A path's item: its type from its mode, its mtime from seconds and nanoseconds. */
function item(
  rel: string,
  path: string,
  mode: number,
  size: number,
  mtimeSec: number,
  mtimeNsec: number,
  key: string,
): ScannedItem {
  const t = mode & S_IFMT
  const kind = t === S_IFDIR ? 'd' : t === S_IFLNK ? 'l' : 'f'
  return { rel, path, kind, mode, size, mtimeMs: mtimeSec * 1000 + mtimeNsec / 1e6, key }
}

/** The key of one path's record (the same text as Records.keys gives it). */
function keyOf(fields: readonly number[]): string {
  return Buffer.from(new Float64Array([...fields, 0]).buffer).toString('base64')
}

/** A path's scanned item from Node's public lstat (nanosecond times as BigInts). */
function itemOf(rel: string, path: string, st: BigIntStats): ScannedItem {
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
  const n = fields.map(Number)
  const key = exact
    ? keyOf(n)
    : `${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'}:${st.mode}:${st.size}:${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}`
  return item(rel, path, n[0]!, n[1]!, n[4]!, n[5]!, key)
}

const NS = 1_000_000_000n
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * lstat for the scan. Node's public lstatSync makes a Stats object per path (with BigInts for
 * the nanosecond times, and four Dates): for a context of thousands of files that was most of
 * the scan's instructions (callgrind: 211M for 2000 files, 95M this way). Node 20's fs binding
 * fills one shared array instead, which the scan copies into its records at once; it is used
 * only after a check that it answers as lstatSync does, else (another Node) lstatSync is. Both
 * write the same key. undefined for a number above 2^53 (an inode of some file systems) or a
 * failing call: the scan then asks lstatSync, so the key is always exact and an error is Node's.
 */
function rawLstat(): ((path: string) => Float64Array | undefined) | undefined {
  type Binding = { lstat?: (p: string, big: boolean, req: undefined, throws: boolean) => unknown }
  let binding: Binding | undefined
  try {
    binding = (process as unknown as { binding(name: string): Binding }).binding('fs')
  } catch {
    return undefined
  }
  const lstat = binding?.lstat
  if (typeof lstat !== 'function') return undefined
  const raw = (path: string): Float64Array | undefined => {
    let a: unknown
    try {
      a = lstat.call(binding, path, false, undefined, true)
    } catch {
      return undefined
    }
    if (!(a instanceof Float64Array) || a.length < 16) return undefined
    // integers as the kernel gives them: only their size can make a key inexact
    return a[F.ino]! <= MAX_SAFE_NUMBER &&
      a[F.dev]! <= MAX_SAFE_NUMBER &&
      a[F.size]! <= MAX_SAFE_NUMBER
      ? a
      : undefined
  }
  return agrees(raw) ? raw : undefined
}

const MAX_SAFE_NUMBER = Number.MAX_SAFE_INTEGER

/** The item of a path from the binding's stat array (see rawLstat). */
function rawItem(rel: string, path: string, a: Float64Array): ScannedItem {
  const fields = [F.mode, F.size, F.dev, F.ino, F.mtimeSec, F.mtimeNsec, F.ctimeSec, F.ctimeNsec]
  const key = keyOf(fields.map((f) => a[f]!))
  return item(rel, path, a[F.mode]!, a[F.size]!, a[F.mtimeSec]!, a[F.mtimeNsec]!, key)
}

/**
 * The scan's lstat, one path at a time (what a scan keys a path with): `fast` when it reads
 * the fs binding's array (Node 20).
 */
export function scanStat(): { fast: boolean; stat: (rel: string, path: string) => ScannedItem } {
  const raw = rawLstat()
  return {
    fast: raw !== undefined,
    stat: (rel, path) => {
      const a = raw?.(path)
      return a === undefined
        ? itemOf(rel, path, lstatSync(path, { bigint: true }))
        : rawItem(rel, path, a)
    },
  }
}

/** Whether the binding's answer for a few paths that surely exist is lstatSync's. */
function agrees(raw: (path: string) => Float64Array | undefined): boolean {
  try {
    for (const p of ['/', process.execPath, '/proc/self']) {
      const a = raw(p)
      if (a === undefined) return false
      const fast = rawItem(p, p, a)
      const slow = itemOf(p, p, lstatSync(p, { bigint: true }))
      if (
        fast.key !== slow.key ||
        fast.mode !== slow.mode ||
        fast.size !== slow.size ||
        fast.kind !== slow.kind
      )
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
  // one test of them all (NUL is in no name)
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(names.join('\0'))) return names.sort()
  return names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}

/** Every path of a scanned context with its stat key (the Dockerfile from elsewhere included). */
export function listing(s: ScannedContext): Record<string, string> {
  const out: Record<string, string> = {}
  for (const i of s.items) out[i.rel] = i.key
  // Made up on each run: always sent.
  if (s.extra) out[s.extra.name] = s.extra.key
  return out
}
