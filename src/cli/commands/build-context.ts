// The build context `berth build` sends: a directory packed as a tar while it is read (never held
// in memory), minus what .dockerignore (or <Dockerfile>.dockerignore) leaves out, with the
// Dockerfile and the ignore file always in it (the daemon reads them; it applies the patterns
// again). A Dockerfile outside the context, or read from stdin, travels in it under a name of its
// own, as the docker CLI sends it.
import { randomBytes } from 'node:crypto'
import { createReadStream, lstatSync, readdirSync, type BigIntStats } from 'node:fs'
import { lstat, readFile, readlink } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { Readable } from 'node:stream'
import tar, { type Header } from 'tar-stream'
import { PatternMatcher, readIgnoreFile } from '../../lib/dockerignore.ts'
import { CliError } from '../command.ts'

export interface PackedContext {
  tar: Readable
  /** The Dockerfile's name inside the context, for the `dockerfile` query parameter. */
  dockerfile: string
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
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
}

interface ScannedItem {
  rel: string
  path: string
  kind: 'd' | 'l' | 'f'
  /** st_mode: type and permission bits. */
  mode: number
  size: number
  mtimeMs: number
  /** What berth's synced context says of the path (statKey). */
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
    if (!(await lstat(root)).isDirectory())
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
  const stat = scanStat().stat
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
      if (ignored && !(item.kind === 'd' && !matcher.canSkipDir(r))) continue
      if (item.kind === 'd') {
        if (!ignored) items.push(item)
        walk(r)
      } else if (item.kind === 'l' || (item.mode & S_IFMT) === S_IFREG) {
        items.push(item)
      }
    }
  }
  walk('')
  return { items, extra, dockerfile: name }
}

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000

/** A path's scanned item from Node's public lstat (nanosecond times as BigInts). */
function itemOf(rel: string, path: string, st: BigIntStats): ScannedItem {
  const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'
  return {
    rel,
    path,
    kind,
    mode: Number(st.mode),
    size: Number(st.size),
    mtimeMs: Number(st.mtimeMs),
    key: `${kind}:${st.mode}:${st.size}:${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}`,
  }
}

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

/** Seconds and nanoseconds as one count of nanoseconds, written as BigInt would write it. */
function nanos(sec: number, nsec: number): string {
  if (sec > 0) return `${sec}${String(nsec).padStart(9, '0')}`
  // Before 1970 the seconds are negative and the nanoseconds count up from them.
  return String(BigInt(sec) * 1_000_000_000n + BigInt(nsec))
}

/**
 * lstat for the scan. Node's public lstatSync makes a Stats object per path (with BigInts for
 * the nanosecond times, and four Dates): for a context of thousands of files that was most of
 * the scan's instructions (callgrind: 211M for 2000 files, 95M this way). Node 20's fs binding
 * fills one shared array instead, which is read here at once; it is used only after a check that
 * it answers as lstatSync does, on the scan's own root, else (another Node) lstatSync is. Both
 * write the same key. A number above 2^53 (an inode of some file systems) or a failing call goes
 * to lstatSync too, so the key is always exact and an error is Node's own.
 */
export function scanStat(): { fast: boolean; stat: (rel: string, path: string) => ScannedItem } {
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
  const fast = (rel: string, path: string): ScannedItem => {
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
    return {
      rel,
      path,
      kind,
      mode,
      size,
      mtimeMs: ms * 1000 + mns / 1e6,
      key: `${kind}:${mode}:${size}:${dev}:${ino}:${nanos(ms, mns)}:${nanos(a[F.ctimeSec]!, a[F.ctimeNsec]!)}`,
    }
  }
  return agrees(fast, slow) ? { fast: true, stat: fast } : { fast: false, stat: slow }
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
  const out: Record<string, string> = {}
  for (const i of s.items) out[i.rel] = i.key
  // Made up on each run: always sent.
  if (s.extra) out[s.extra.name] = `extra:${randomBytes(8).toString('hex')}`
  return out
}

/**
 * The tar of a scanned context. With `send`, only the files it names go (directories and
 * symlinks always do: they cost a header); the daemon keeps the others from before.
 */
export function packScanned(s: ScannedContext, send?: ReadonlySet<string>): Readable {
  const pack = tar.pack()
  const entry = (
    header: Partial<Header> & { name: string },
    body?: Readable | Buffer,
  ): Promise<void> =>
    new Promise((res, rej) => {
      if (body === undefined) {
        pack.entry(header, (e) => (e ? rej(e) : res()))
        return
      }
      if (Buffer.isBuffer(body)) {
        pack.entry(header, body, (e) => (e ? rej(e) : res()))
        return
      }
      const sink = pack.entry(header, (e) => (e ? rej(e) : res()))
      body.on('error', rej)
      body.pipe(sink)
    })
  ;(async () => {
    try {
      for (const { rel, path, kind, mode, size, mtimeMs } of s.items) {
        const header = {
          name: rel,
          mode: mode & 0o7777,
          mtime: new Date(mtimeMs),
          uid: 0,
          gid: 0,
        }
        if (kind === 'd') await entry({ ...header, type: 'directory' })
        else if (kind === 'l')
          await entry({ ...header, type: 'symlink', linkname: await readlink(path) })
        else if (!send || send.has(rel))
          await entry({ ...header, type: 'file', size }, createReadStream(path))
      }
      if (s.extra)
        await entry(
          { name: s.extra.name, mode: 0o644, mtime: new Date(), type: 'file' },
          s.extra.body,
        )
      pack.finalize()
    } catch (e) {
      pack.destroy(e as Error)
    }
  })()
  return Readable.from(pack)
}

/** A context tar from stdin (`-`), or a Dockerfile there, which then makes an empty context. */
export async function contextFromStdin(stdin: Readable): Promise<PackedContext> {
  const chunks: Buffer[] = []
  let size = 0
  const it = stdin[Symbol.asyncIterator]()
  // Enough to tell a tar (ustar at 257) or a compressed stream from a Dockerfile.
  while (size < 512) {
    const r = await it.next()
    if (r.done) break
    chunks.push(r.value as Buffer)
    size += (r.value as Buffer).length
  }
  const head = Buffer.concat(chunks)
  const compressed = head[0] === 0x1f && head[1] === 0x8b
  const isTar = compressed || head.subarray(257, 262).toString('latin1') === 'ustar'
  const rest = (async function* () {
    yield head
    for (;;) {
      const r = await it.next()
      if (r.done) return
      yield r.value as Buffer
    }
  })()
  if (isTar) return { tar: Readable.from(rest), dockerfile: 'Dockerfile' }
  const body: Buffer[] = []
  for await (const c of rest) body.push(c)
  const pack = tar.pack()
  pack.entry({ name: 'Dockerfile', mode: 0o644, type: 'file' }, Buffer.concat(body))
  pack.finalize()
  return { tar: Readable.from(pack), dockerfile: 'Dockerfile' }
}
