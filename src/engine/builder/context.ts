// The build context: the tar the client sends (plain, gzip or zstd), unpacked as it streams into a
// directory of the daemon's (never held in memory), with each file's content hashed on the way
// so that COPY's cache keys cost no second read. Sources are resolved as BuildKit resolves them:
// inside the context (`..` cannot leave it), symlinks followed within it, globs matched per path
// component, and .dockerignore'd paths absent.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import {
  chmod,
  link as hardlink,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  readlink,
  rm,
  symlink,
} from 'node:fs/promises'
import { posix } from 'node:path'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import { decompress } from '../compression.ts'
import { InvalidArgument, errnoCode, isBerthError } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import { parsed } from '../grammar.ts'
import { PatternMatcher, readIgnoreFile } from '../../lib/dockerignore.ts'

export interface ContextEntry {
  type: 'file' | 'dir' | 'symlink'
  /** Permission bits (with setuid, setgid, sticky). */
  mode: number
  size: number
  /** Hex sha256 of a file's content. */
  sha256?: string
  /** A symlink's target. */
  target?: string
}

type TarEntry = tar.Extract extends AsyncIterable<infer T> ? T : never

/** The daemon's umask, read once at start (as the layer store's unpack reads it). */
const UMASK = process.umask()

class Hasher extends Transform {
  private readonly h = createHash('sha256')
  size = 0
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.h.update(chunk)
    this.size += chunk.length
    cb(null, chunk)
  }
  digest(): string {
    return this.h.digest('hex')
  }
}

/** A tar header's size field: octal, or GNU base-256 for large sizes. */
function headerSize(block: Buffer): number {
  const f = block.subarray(124, 136)
  if (f[0]! & 0x80) {
    let n = 0
    for (let i = 1; i < f.length; i++) n = n * 256 + f[i]!
    return n
  }
  const v = Number.parseInt(
    f
      .toString('latin1')
      .replace(/[\0 ]+$/, '')
      .trim() || '0',
    8,
  )
  return Number.isNaN(v) ? 0 : v
}

/**
 * The tar as it came, made whole at its end: the docker CLI sends a context whose last file is
 * not padded and has no end-of-archive blocks when it adds a Dockerfile from outside the context
 * (dockerd's reader accepts that). A stream cut inside an entry's data is still an error.
 */
async function* completeTar(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending = Buffer.alloc(0)
  // Bytes of the current entry's data, then its padding, still to come before the next header.
  let dataLeft = 0
  let padLeft = 0
  let zeros = 0
  for await (const chunk of source) {
    yield chunk
    let buf = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk
    pending = Buffer.alloc(0)
    while (buf.length > 0) {
      if (dataLeft > 0 || padLeft > 0) {
        const n = Math.min(buf.length, dataLeft > 0 ? dataLeft : padLeft)
        if (dataLeft > 0) dataLeft -= n
        else padLeft -= n
        buf = buf.subarray(n)
        continue
      }
      if (buf.length < 512) {
        pending = Buffer.from(buf)
        break
      }
      const block = buf.subarray(0, 512)
      buf = buf.subarray(512)
      if (block.every((b) => b === 0)) {
        zeros++
        continue
      }
      zeros = 0
      const size = headerSize(block)
      dataLeft = size
      padLeft = (512 - (size % 512)) % 512
    }
  }
  if (dataLeft > 0 || pending.length > 0) {
    throw new InvalidArgument('failed to read the build context: unexpected EOF in the tar')
  }
  // The end the sender left out: the last entry's padding and the two zero blocks.
  if (padLeft > 0) yield Buffer.alloc(padLeft)
  if (zeros < 2) yield Buffer.alloc(512 * (2 - zeros))
}

/** A tar entry's name as a clean relative path; '' for the root; refused when it climbs out. */
function cleanEntryName(name: string): string {
  // As moby's untar: an absolute name is taken below the root, a climbing one is refused.
  const n = posix.normalize(name.replace(/^\/+/, '') || '.').replace(/\/$/, '')
  if (n === '..' || n.startsWith('../')) {
    throw new InvalidArgument(`invalid build context: ${JSON.stringify(name)} is outside it`)
  }
  return n === '.' ? '' : n
}

/** filepath.Match for one path component (`*`, `?`, `[...]`, backslash escapes). */
function componentMatcher(pattern: string): RegExp {
  let re = '^'
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]!}`
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1)
      if (end < 0) throw new InvalidArgument('syntax error in pattern')
      let cls = pattern.slice(i + 1, end)
      if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`
      re += `[${cls.replace(/\\/g, '\\\\')}]`
      i = end
    } else re += c.replace(/[.+(){}|$^\]]/g, '\\$&')
  }
  return new RegExp(`${re}$`, 'u')
}

export function hasWildcards(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\') i++
    else if (p[i] === '*' || p[i] === '?' || p[i] === '[') return true
  }
  return false
}

/** A directory of files that sources are copied from: the context, or a stage's or image's root. */
export interface SourceTree {
  /** The host directory holding it. */
  readonly root: string
}

export class BuildContext implements SourceTree {
  private readonly entries = new Map<string, ContextEntry>()
  private sorted: string[] = []
  private ignore = new PatternMatcher([])
  private ignoredCache = new Map<string, boolean>()
  private presentCache = new Map<string, boolean>()

  private constructor(readonly root: string) {}

  /** Unpacks a context tar into `dir` (made here) as it arrives. */
  static async fromTar(stream: Readable, dir: string, signal?: AbortSignal): Promise<BuildContext> {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const ctx = new BuildContext(dir)
    ctx.entries.set('', { type: 'dir', mode: 0o755, size: 0 })
    await ctx.apply(stream, signal)
    return ctx
  }

  /**
   * A context whose files are already in `dir`, as `entries` describe them (berth's synced
   * contexts, kept between builds): nothing is read again.
   */
  static restore(dir: string, entries: Iterable<[string, ContextEntry]>): BuildContext {
    const ctx = new BuildContext(dir)
    for (const [k, v] of entries) ctx.entries.set(k, v)
    if (!ctx.entries.has('')) ctx.entries.set('', { type: 'dir', mode: 0o755, size: 0 })
    ctx.sorted = sortedBytes([...ctx.entries.keys()])
    return ctx
  }

  /**
   * Unpacks a tar over what is here: a path it names replaces what was there. Returns the paths
   * it named.
   */
  async apply(stream: Readable, signal?: AbortSignal): Promise<Set<string>> {
    const named = new Set<string>()
    const extract = tar.extract()
    const feeding = pipeline(
      Readable.from(completeTar(decompress(stream))),
      extract,
      signal ? { signal } : {},
    )
    const consuming = (async () => {
      for await (const entry of extract as AsyncIterable<TarEntry>) {
        try {
          named.add(cleanEntryName(entry.header.name))
          await this.addEntry(entry)
        } finally {
          entry.resume()
        }
      }
    })()
    const [fed, consumed] = await Promise.allSettled([feeding, consuming])
    if (consumed.status === 'rejected') extract.destroy()
    const failed =
      consumed.status === 'rejected' ? consumed : fed.status === 'rejected' ? fed : undefined
    if (failed) {
      const err = failed.reason as Error
      if (signal?.aborted || isBerthError(err)) throw err
      // What the client sent is not a tar (or not a whole one): its error, not ours.
      throw new InvalidArgument(`failed to read the build context: ${err.message}`, { cause: err })
    }
    this.sorted = sortedBytes([...this.entries.keys()])
    return named
  }

  /** Removes a path and what is below it. */
  async drop(rel: string): Promise<void> {
    if (rel === '' || !this.entries.has(rel)) return
    await rm(posix.join(this.root, rel), { recursive: true, force: true })
    for (const k of [...this.entries.keys()])
      if (k === rel || k.startsWith(`${rel}/`)) this.entries.delete(k)
    this.sorted = sortedBytes([...this.entries.keys()])
  }

  /** Every entry, the root ('') included. */
  list(): [string, ContextEntry][] {
    return [...this.entries]
  }

  /** A context from a directory that already holds the files (tests, and stages' roots). */
  static async fromDir(dir: string): Promise<BuildContext> {
    const ctx = new BuildContext(dir)
    ctx.entries.set('', { type: 'dir', mode: 0o755, size: 0 })
    const walk = async (rel: string): Promise<void> => {
      for (const name of await readdir(posix.join(dir, rel))) {
        const r = rel === '' ? name : `${rel}/${name}`
        const p = posix.join(dir, r)
        const st = await lstat(p)
        if (st.isDirectory()) {
          ctx.entries.set(r, { type: 'dir', mode: st.mode & 0o7777, size: 0 })
          await walk(r)
        } else if (st.isSymbolicLink()) {
          ctx.entries.set(r, { type: 'symlink', mode: 0o777, size: 0, target: await readlink(p) })
        } else if (st.isFile()) {
          const h = new Hasher()
          await pipeline(createReadStream(p), h, async (s: AsyncIterable<unknown>) => {
            for await (const _ of s) void _
          })
          ctx.entries.set(r, {
            type: 'file',
            mode: st.mode & 0o7777,
            size: st.size,
            sha256: h.digest(),
          })
        }
      }
    }
    await walk('')
    ctx.sorted = sortedBytes([...ctx.entries.keys()])
    return ctx
  }

  private async ensureParents(rel: string): Promise<void> {
    const parts = rel.split('/')
    parts.pop()
    let cur = ''
    for (const part of parts) {
      cur = cur === '' ? part : `${cur}/${part}`
      const e = this.entries.get(cur)
      if (e?.type === 'dir') continue
      if (e !== undefined) {
        throw new InvalidArgument(
          `invalid build context: ${rel} is below ${cur}, which is not a directory`,
        )
      }
      await mkdir(posix.join(this.root, cur), { mode: 0o755 })
      this.entries.set(cur, { type: 'dir', mode: 0o755, size: 0 })
    }
  }

  private async addEntry(entry: TarEntry): Promise<void> {
    const h = entry.header
    const rel = cleanEntryName(h.name)
    const mode = (h.mode ?? 0o644) & 0o7777
    if (rel === '') {
      if (h.type === 'directory') this.entries.set('', { type: 'dir', mode, size: 0 })
      return
    }
    await this.ensureParents(rel)
    const path = posix.join(this.root, rel)
    const existing = this.entries.get(rel)
    if (existing && !(existing.type === 'dir' && h.type === 'directory')) {
      await rm(path, { recursive: true, force: true })
      for (const k of [...this.entries.keys()])
        if (k === rel || k.startsWith(`${rel}/`)) this.entries.delete(k)
    }
    switch (h.type) {
      case 'directory':
        if (!existing) await mkdir(path, { mode: 0o755 })
        await chmod(path, mode)
        this.entries.set(rel, { type: 'dir', mode, size: 0 })
        return
      case 'file':
      case 'contiguous-file': {
        // One handle per file, written chunk by chunk as the tar gives them: a context is often
        // thousands of small files, where a stream pipeline per file costs more than the bytes.
        const hash = createHash('sha256')
        let size = 0
        // Most files can be made with their mode (nothing the umask takes, no set-id bits): one
        // trip through the thread pool less per file.
        const exact = (mode & 0o7000) === 0 && (mode & UMASK) === 0
        const fh = await open(path, 'wx', exact ? mode : 0o600)
        try {
          for await (const chunk of entry as AsyncIterable<Buffer>) {
            hash.update(chunk)
            size += chunk.length
            await fh.write(chunk)
          }
          if (!exact) await fh.chmod(mode)
        } finally {
          await fh.close()
        }
        this.entries.set(rel, { type: 'file', mode, size, sha256: hash.digest('hex') })
        return
      }
      case 'symlink':
        await symlink(h.linkname ?? '', path)
        this.entries.set(rel, { type: 'symlink', mode: 0o777, size: 0, target: h.linkname ?? '' })
        return
      case 'link': {
        const target = cleanEntryName(h.linkname ?? '')
        const t = this.entries.get(target)
        if (t?.type !== 'file') {
          throw new InvalidArgument(
            `invalid build context: hard link ${rel} to ${h.linkname ?? ''}, which is no file before it`,
          )
        }
        await hardlink(posix.join(this.root, target), path)
        this.entries.set(rel, { ...t })
        return
      }
      default:
        // Devices, fifos and the like have no place in a build context; Docker skips them too.
        return
    }
  }

  /** The text of a file in the context (the Dockerfile, .dockerignore), or undefined. */
  async readText(rel: string): Promise<string | undefined> {
    const r = cleanEntryName(rel)
    const e = this.entries.get(r)
    if (!e || e.type === 'dir') return undefined
    const p = await resolveInRoot(this.root, r)
    try {
      return await readFile(p, 'utf8')
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'EISDIR') return undefined
      throw err
    }
  }

  /** Takes the .dockerignore patterns: `<dockerfile>.dockerignore` when it exists, else `.dockerignore`. */
  async loadIgnore(dockerfile: string): Promise<string[]> {
    const specific = await this.readText(`${dockerfile}.dockerignore`)
    const text = specific ?? (await this.readText('.dockerignore'))
    const patterns = text === undefined ? [] : readIgnoreFile(text)
    this.ignore = parsed(() => new PatternMatcher(patterns))
    this.ignoredCache.clear()
    this.presentCache.clear()
    return patterns
  }

  /** Whether a path is left out by .dockerignore (a left-out directory stays for what is kept below it). */
  ignored(rel: string): boolean {
    if (rel === '' || this.ignore.empty) return false
    let v = this.ignoredCache.get(rel)
    if (v === undefined) {
      v = this.ignore.matches(rel)
      this.ignoredCache.set(rel, v)
    }
    return v
  }

  /** Whether the path is present: not left out, or a directory something kept lies below. */
  present(rel: string): boolean {
    if (!this.entries.has(rel)) return false
    if (!this.ignored(rel)) return true
    if (this.entries.get(rel)!.type !== 'dir') return false
    if (this.ignore.canSkipDir(rel)) return false
    let v = this.presentCache.get(rel)
    if (v === undefined) {
      v = this.below(rel).some((r) => !this.ignored(r))
      this.presentCache.set(rel, v)
    }
    return v
  }

  entry(rel: string): ContextEntry | undefined {
    return this.entries.get(rel)
  }

  /** Every path below a directory, in byte order, present or not. */
  below(dir: string): string[] {
    const prefix = dir === '' ? '' : `${dir}/`
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (byteOrder(this.sorted[mid]!, prefix) < 0) lo = mid + 1
      else hi = mid
    }
    const out: string[] = []
    for (let i = lo; i < this.sorted.length; i++) {
      const p = this.sorted[i]!
      if (!p.startsWith(prefix)) break
      if (p !== dir) out.push(p)
    }
    return out
  }

  /**
   * Follows symlinks in `rel` inside the context (never out of it); the resolved relative path,
   * or undefined when something on the way is missing.
   */
  resolve(rel: string): string | undefined {
    const pending = rel.split('/').filter((c) => c !== '' && c !== '.')
    const out: string[] = []
    let links = 0
    while (pending.length > 0) {
      const part = pending.shift()!
      if (part === '..') {
        out.pop()
        continue
      }
      const cand = [...out, part].join('/')
      const e = this.entries.get(cand)
      if (!e) return undefined
      if (e.type === 'symlink') {
        if (++links > 255) return undefined
        if (e.target!.startsWith('/')) out.length = 0
        pending.unshift(...e.target!.split('/').filter((c) => c !== '' && c !== '.'))
        continue
      }
      out.push(part)
    }
    return out.join('/')
  }

  /**
   * The sources one COPY/ADD argument names, as relative paths with symlinks followed: the path
   * itself, or everything a glob matches. An empty list for a glob that matches nothing (BuildKit
   * allows it); NotFound-worded InvalidArgument for a missing or left-out path.
   */
  sources(src: string): string[] {
    const clean = posix.normalize(`/${src}`).slice(1).replace(/\/$/, '')
    if (!hasWildcards(clean)) {
      const r = this.resolve(clean)
      if (r === undefined || !this.present(r)) {
        throw new InvalidArgument(`failed to compute cache key: "/${clean}" not found: not found`)
      }
      return [r]
    }
    // Match component by component from the first one holding a wildcard.
    const parts = clean.split('/')
    let bases = ['']
    for (const part of parts) {
      const next: string[] = []
      if (!hasWildcards(part)) {
        for (const b of bases) {
          const r = this.resolve(b === '' ? part : `${b}/${part}`)
          if (r !== undefined && this.present(r)) next.push(r)
        }
      } else {
        const re = componentMatcher(part)
        for (const b of bases) {
          const dir = this.resolve(b)
          if (dir === undefined || this.entries.get(dir)?.type !== 'dir') continue
          const prefix = dir === '' ? '' : `${dir}/`
          for (const p of this.below(dir)) {
            const name = p.slice(prefix.length)
            if (name.includes('/') || !re.test(name)) continue
            const r = this.resolve(p)
            if (r !== undefined && this.present(r)) next.push(r)
          }
        }
      }
      bases = next
    }
    return bases
  }

  /**
   * A digest of what copying `rel` takes: the names, types, modes, link targets and contents of
   * every present path at and below it, minus what `exclude` leaves out. Never times or owners.
   */
  digest(rel: string, exclude?: PatternMatcher): string {
    const h = createHash('sha256')
    const add = (name: string, e: ContextEntry) => {
      h.update(`${name}\0${e.type}\0${e.mode.toString(8)}\0${e.sha256 ?? e.target ?? ''}\0`)
    }
    const top = this.entries.get(rel)
    if (!top)
      throw new InvalidArgument(`failed to compute cache key: "/${rel}" not found: not found`)
    add('', top)
    if (top.type === 'dir') {
      const prefix = rel === '' ? '' : `${rel}/`
      for (const p of this.below(rel)) {
        const name = p.slice(prefix.length)
        if (!this.present(p) || exclude?.matches(name)) continue
        add(name, this.entries.get(p)!)
      }
    }
    return h.digest('hex')
  }

  /** Removes the unpacked files. */
  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true })
  }
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/**
 * Names sorted in the byte order of their UTF-8. Below U+D800 that is the order of JS strings
 * (UTF-16 code units), which sorts without two buffers per comparison: a kept context of 2000
 * paths is sorted at every build that opens it.
 */
function sortedBytes(names: string[]): string[] {
  // eslint-disable-next-line no-control-regex
  if (names.every((n) => /^[\u0000-\ud7ff]*$/.test(n))) return names.sort()
  return names.sort(byteOrder)
}
