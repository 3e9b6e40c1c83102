// Reads conmon's k8s-file logs: `TIME STREAM F|P TEXT` per record, F ending a line and P a
// part of one. Streams the files; `tail` reads backwards from the end; `follow` watches them.
//
// Rotation (max-size with max-file > 1): conmon, given --log-size-max, starts a new file when
// the next write would pass the size by opening LOG.tmp (O_TRUNC|O_CREAT) and renaming it over
// LOG. The keeper makes LOG.tmp a symlink to the next generation's name (LOG.N+1) beforehand,
// so conmon's open makes that file and its rename turns LOG into a symlink to it: the file it
// left (LOG.N) stays. The keeper then readies the next symlink and removes the oldest
// generations past max-file. Should conmon rotate again before the keeper is back (or with no
// berthd at all), LOG.tmp is a plain file and LOG becomes one: the keeper links it as the next
// generation when it sees it; only a third rotation before then loses a file.
// With compress, the keeper gzips each generation conmon has left (LOG.N -> LOG.N.gz, made
// beside and renamed in before LOG.N goes), in a queue apart from the renames, so a rotation
// never waits for a gzip. A generation may change form at any moment: readers open LOG.N, else
// LOG.N.gz, and a follower goes on by generation number (the oldest later one), never by a
// place in a listing.
import { createReadStream, createWriteStream, watch, type FSWatcher } from 'node:fs'
import {
  link,
  lstat,
  open,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  type FileHandle,
} from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import { errnoCode, Internal } from '../errors.ts'
import type { LogEntry, LogReadOptions } from './types.ts'

const CHUNK = 64 * 1024
const NL = 0x0a

interface ParsedRecord {
  entry: LogEntry
  /** Seconds since the epoch (fractional), for since/until. */
  seconds: number
  full: boolean
}

/** Parses one record (without its newline); undefined when it is not one. */
export function parseLogRecord(line: Buffer): ParsedRecord | undefined {
  const s1 = line.indexOf(0x20)
  if (s1 < 0) return undefined
  const s2 = line.indexOf(0x20, s1 + 1)
  if (s2 < 0) return undefined
  const stream = line.toString('latin1', s1 + 1, s2)
  if (stream !== 'stdout' && stream !== 'stderr') return undefined
  // The tag is one letter; the text follows one space (absent for an empty line).
  const tag = line[s2 + 1]
  if (tag !== 0x46 /* F */ && tag !== 0x50 /* P */) return undefined
  const time = line.toString('latin1', 0, s1)
  const seconds = parseTime(time)
  if (Number.isNaN(seconds)) return undefined
  const full = tag === 0x46
  const text = line.subarray(Math.min(line.length, s2 + 3))
  const data = full ? Buffer.concat([text, Buffer.from('\n')]) : Buffer.from(text)
  return { entry: { stream, time, data }, seconds, full }
}

/** RFC 3339 with up to nanoseconds (`Z` or `±hh:mm`) to fractional seconds since the epoch. */
export function parseTime(time: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(time)
  if (!m) return Number.NaN
  const whole = Date.parse(`${m[1]}${m[3]}`)
  if (Number.isNaN(whole)) return Number.NaN
  const frac = m[2] ? Number(`0.${m[2]}`) : 0
  return whole / 1000 + frac
}

/** One of a log's files: a rotated generation (`LOG.N`) or the log itself. */
interface LogFile {
  path: string
  ino: number
  /** Generation number; the log itself, when not a generation's link, comes after them all. */
  gen: number
  /** A generation the keeper compressed (LOG.N.gz). */
  gz: boolean
}

const GEN_RE = /^(.*)\.(\d+)(\.gz)?$/

/**
 * A log's files, oldest first: the generations conmon filled and the keeper kept (LOG.1,
 * LOG.2, ...), then LOG itself when it is a file of its own (a symlink to the newest
 * generation otherwise). One file per inode and per generation (LOG.N rather than LOG.N.gz
 * while both are there); files that went away while listed are left out.
 */
export async function logFiles(path: string): Promise<LogFile[]> {
  const dir = dirname(path)
  const base = basename(path)
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return []
    throw err
  }
  const found: LogFile[] = []
  for (const name of names) {
    const m = GEN_RE.exec(name)
    if (!m || m[1] !== base) continue
    let p = join(dir, name)
    let gz = m[3] !== undefined
    let st = await stat(p).catch(() => undefined)
    if (!st && !gz) {
      // Compressed since readdir: LOG.N.gz is whole before LOG.N goes, so it is there now
      // (unless pruned). Without this the generation would be missing from the list, and a
      // follower would skip it.
      p = `${p}.gz`
      gz = true
      st = await stat(p).catch(() => undefined)
    }
    if (st?.isFile()) found.push({ path: p, ino: st.ino, gen: Number(m[2]), gz })
  }
  // Plain first within a generation, so the one kept for it is LOG.N.
  found.sort((a, b) => a.gen - b.gen || Number(a.gz) - Number(b.gz))
  const files = found.filter((f, i) => i === 0 || (found[i - 1] as LogFile).gen !== f.gen)
  const cur = await stat(path).catch(() => undefined)
  if (cur?.isFile() && !files.some((f) => f.ino === cur.ino)) {
    files.push({ path, ino: cur.ino, gen: Number.MAX_SAFE_INTEGER, gz: false })
  }
  return files
}

/** The whole records in `chunk`, and the bytes after its last newline. */
function splitRecords(chunk: Buffer): { recs: ParsedRecord[]; rest: Buffer } {
  const recs: ParsedRecord[] = []
  let start = 0
  for (;;) {
    const nl = chunk.indexOf(NL, start)
    if (nl < 0) break
    const rec = parseLogRecord(chunk.subarray(start, nl))
    start = nl + 1
    if (rec) recs.push(rec)
  }
  return { recs, rest: chunk.subarray(start) }
}

/**
 * A compressed generation's records, from byte `pos` of its uncompressed text (where a plain
 * read of the same generation had got to) and after the first `skip` lines from there. Closes
 * `fh` when done.
 */
async function* gzRecords(fh: FileHandle, pos = 0, skip = 0): AsyncGenerator<ParsedRecord> {
  let carry: Buffer = Buffer.alloc(0)
  let skipped = 0
  let left = pos
  const src = fh.createReadStream()
  const gunzip = createGunzip()
  // A failure of either stream reaches the loop below through gunzip (pipeline destroys it).
  pipeline(src, gunzip).catch(() => undefined)
  try {
    for await (const got of gunzip) {
      let data = got as Buffer
      if (left > 0) {
        const cut = Math.min(left, data.length)
        left -= cut
        data = data.subarray(cut)
        if (data.length === 0) continue
      }
      const { recs, rest } = splitRecords(carry.length > 0 ? Buffer.concat([carry, data]) : data)
      carry = Buffer.from(rest)
      for (const rec of recs) {
        if (skipped < skip) {
          if (rec.full) skipped++
          continue
        }
        yield rec
      }
    }
  } finally {
    gunzip.destroy()
    src.destroy()
  }
}

/** The lines a compressed generation holds (a trailing run of P records counts as one). */
async function gzLines(fh: FileHandle): Promise<number> {
  let lines = 0
  let partial = false
  for await (const rec of gzRecords(fh)) {
    if (rec.full) lines++
    partial = !rec.full
  }
  return lines + (partial ? 1 : 0)
}

/**
 * Opens a generation in whichever form it has now: LOG.N, else LOG.N.gz (the keeper renames
 * the .gz in before it removes LOG.N, so one of them is there unless the generation was
 * pruned: then undefined).
 */
async function openGeneration(f: LogFile): Promise<{ fh: FileHandle; gz: boolean } | undefined> {
  const plain = f.gz ? f.path.slice(0, -'.gz'.length) : f.path
  const tries: [string, boolean][] =
    f.gen === Number.MAX_SAFE_INTEGER
      ? [[plain, false]]
      : [
          [plain, false],
          [`${plain}.gz`, true],
        ]
  for (const [p, gz] of tries) {
    try {
      return { fh: await open(p, 'r'), gz }
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
    }
  }
  return undefined
}

/**
 * The log's entries, oldest first, across its rotated files. With `tail` only the last N lines
 * (a line: its P records and the F record that ends it). With `follow`, keeps reading as conmon
 * appends and rotates, until `stopWhen` resolves and everything written before then has been
 * read, or `signal` aborts.
 */
export async function* readLog(path: string, opts: LogReadOptions): AsyncGenerator<LogEntry> {
  const { signal } = opts
  if (signal?.aborted) return
  const base = basename(path)

  // Set up the watch before reading, so nothing appended in between is missed. The directory
  // is watched: conmon's rotation makes new files in it.
  let watcher: FSWatcher | undefined
  // Set by the watcher; cleared before each read pass.
  let changed: boolean
  let stopped = false
  let wake: (() => void) | undefined
  const poke = (): void => {
    const w = wake
    wake = undefined
    w?.()
  }
  const onAbort = (): void => poke()
  if (opts.follow) {
    try {
      watcher = watch(dirname(path), (_event, name) => {
        if (name !== null && !String(name).startsWith(base)) return
        changed = true
        poke()
      })
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return
      throw new Internal(`cannot read log ${path}: ${String(err)}`, { cause: err })
    }
    watcher.on('error', () => {
      stopped = true
      poke()
    })
    opts.stopWhen?.then(
      () => {
        stopped = true
        poke()
      },
      () => {
        stopped = true
        poke()
      },
    )
    signal?.addEventListener('abort', onAbort, { once: true })
  }

  let fh: FileHandle | undefined
  try {
    let files = await logFiles(path)
    // The file to open next; then the one being read (or read last), known by its generation
    // and, for a plain LOG the keeper may link as a generation later, its inode. The next one
    // is always the oldest of a later generation: never found by its place in a listing, which
    // shifts as generations are compressed and pruned.
    let next: LogFile | undefined = files[0]
    let cur: { gen: number; ino: number } | undefined
    // Where to start in `next`: a byte offset (in its uncompressed text), then lines to skip.
    let pos = 0
    let skip = 0
    if (opts.tail !== undefined) ({ next, pos, skip } = await tailStart(files, opts.tail))
    let carry: Buffer = Buffer.alloc(0)
    let draining = false
    const buf = Buffer.allocUnsafe(CHUNK)
    const emit = (rec: ParsedRecord): 'skip' | 'yield' | 'end' => {
      if (opts.since !== undefined && rec.seconds < opts.since) return 'skip'
      if (opts.until !== undefined && rec.seconds > opts.until) return 'end'
      return 'yield'
    }
    for (;;) {
      // Whether stop was asked before this pass: then reaching the end ends it.
      const stopBefore = stopped
      changed = false
      if (!fh && next) {
        const f = next
        next = undefined
        let opened: { fh: FileHandle; gz: boolean } | undefined
        try {
          opened = await openGeneration(f)
        } catch (err) {
          throw new Internal(`cannot read log ${path}: ${String(err)}`, { cause: err })
        }
        cur = { gen: f.gen, ino: opened?.gz ? -1 : f.ino }
        if (opened?.gz) {
          // A compressed generation is finished: read it through, then on to the next one.
          try {
            for await (const rec of gzRecords(opened.fh, pos, skip)) {
              const what = emit(rec)
              if (what === 'end') return
              if (what === 'skip') continue
              yield rec.entry
              if (signal?.aborted) return
            }
          } catch (err) {
            throw new Internal(`cannot read log ${path}: ${String(err)}`, { cause: err })
          }
        } else if (opened) {
          fh = opened.fh
        }
        // Otherwise pruned since listed: on to the next one.
        skip = 0
        if (!fh) pos = 0
      }
      if (fh) {
        for (;;) {
          if (signal?.aborted) return
          const { bytesRead } = await fh.read(buf, 0, CHUNK, pos)
          if (bytesRead === 0) break
          pos += bytesRead
          let chunk = Buffer.from(buf.subarray(0, bytesRead))
          if (carry.length > 0) chunk = Buffer.concat([carry, chunk])
          const { recs, rest } = splitRecords(chunk)
          for (const rec of recs) {
            const what = emit(rec)
            if (what === 'end') return
            if (what === 'skip') continue
            yield rec.entry
            if (signal?.aborted) return
          }
          carry = rest
        }
      }
      // A later generation means this one is finished (conmon writes only the newest).
      files = await logFiles(path)
      if (cur && fh) {
        // A plain LOG the keeper has since linked as a generation: that generation now.
        const same = files.find((f) => f.ino === cur?.ino)
        if (same) cur.gen = same.gen
      }
      const gen = cur?.gen ?? -1
      const later = files.find((f) => f.gen > gen && f.ino !== cur?.ino)
      if (later) {
        // Once more to its end: conmon may have written to it after our last read.
        if (fh && !draining) {
          draining = true
          continue
        }
        draining = false
        await fh?.close()
        fh = undefined
        carry = Buffer.alloc(0)
        next = later
        pos = 0
        continue
      }
      if (!opts.follow || stopBefore || signal?.aborted) return
      if (!changed && !stopped) await new Promise<void>((r) => (wake = r))
    }
  } finally {
    watcher?.close()
    signal?.removeEventListener('abort', onAbort)
    await fh?.close()
  }
}

/**
 * Where reading starts for the last `n` lines: the file, the byte offset in it, and (in a
 * compressed generation) how many of its lines to pass over.
 */
async function tailStart(
  files: LogFile[],
  n: number,
): Promise<{ next: LogFile | undefined; pos: number; skip: number }> {
  let left = n
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i] as LogFile
    const opened = await openGeneration(f)
    if (!opened) continue
    const { fh } = opened
    if (opened.gz) {
      const lines = await gzLines(fh)
      if (lines >= left) return { next: f, pos: 0, skip: lines - left }
      left -= lines
      continue
    }
    try {
      const { offset, count } = await tailOffset(fh, left)
      if (count >= left || offset > 0) return { next: f, pos: offset, skip: 0 }
      left -= count
    } finally {
      await fh.close()
    }
  }
  return { next: files[0], pos: 0, skip: 0 }
}

/**
 * The offset where the last `n` lines begin, reading backwards in chunks. A line is the F
 * record that ends it plus the P records before it; a trailing run of P records (a line still
 * being written) counts as one. Bytes after the last newline (a record being written) are not
 * counted: the forward reader picks them up once whole.
 */
async function tailOffset(fh: FileHandle, n: number): Promise<{ offset: number; count: number }> {
  const size = (await fh.stat()).size
  if (n <= 0) return { offset: size, count: 0 }
  const buf = Buffer.allocUnsafe(CHUNK)
  let chunkStart = size
  let chunkLen = 0
  let count = 0
  let seenFull = false
  let trailing = false
  // The newline that ends the record being looked at; undefined until the last one is found.
  let recEnd: number | undefined
  const header = async (start: number, end: number): Promise<Buffer> => {
    const want = Math.min(HEADER, end - start)
    if (start >= chunkStart && start + want <= chunkStart + chunkLen) {
      return buf.subarray(start - chunkStart, start - chunkStart + want)
    }
    const h = Buffer.allocUnsafe(want)
    await fh.read(h, 0, want, start)
    return h
  }
  // Returns the offset to start at, or undefined to go on.
  const visit = async (
    start: number,
    end: number,
  ): Promise<{ offset: number; count: number } | undefined> => {
    const rec = parseHeader(await header(start, end))
    if (rec === 'F') {
      if (count === n) return { offset: end + 1, count }
      count++
      seenFull = true
    } else if (rec === 'P' && !seenFull && !trailing) {
      trailing = true
      count++
    }
    return undefined
  }
  while (chunkStart > 0) {
    chunkLen = Math.min(CHUNK, chunkStart)
    chunkStart -= chunkLen
    await fh.read(buf, 0, chunkLen, chunkStart)
    for (let i = chunkLen - 1; i >= 0; i--) {
      if (buf[i] !== NL) continue
      const nl = chunkStart + i
      if (recEnd !== undefined) {
        const at = await visit(nl + 1, recEnd)
        if (at !== undefined) return at
      }
      recEnd = nl
    }
  }
  if (recEnd !== undefined) {
    const at = await visit(0, recEnd)
    if (at !== undefined) return at
  }
  return { offset: 0, count }
}

/** Enough of a record to see its tag: `TIME STREAM TAG`. */
const HEADER = 64

function parseHeader(h: Buffer): 'F' | 'P' | undefined {
  const s1 = h.indexOf(0x20)
  if (s1 < 0) return undefined
  const s2 = h.indexOf(0x20, s1 + 1)
  if (s2 < 0 || s2 + 1 >= h.length) return undefined
  const tag = h[s2 + 1]
  return tag === 0x46 ? 'F' : tag === 0x50 ? 'P' : undefined
}

/**
 * Keeps a rotating log's generations (see the top of this file): readies LOG and LOG.tmp as
 * symlinks to fresh generations, links a LOG that conmon made a plain file, and removes the
 * generations past `maxFiles`. `start` before conmon opens the log; `watch` while it runs.
 */
export class LogKeeper {
  private watcher?: FSWatcher
  private running?: Promise<void>
  private again = false
  /** The compression queue: apart from rotation, so a slow gzip never delays a rename. */
  private compressing?: Promise<void>
  private compressAgain = false
  private readonly dir: string
  private readonly base: string

  constructor(
    readonly path: string,
    readonly maxFiles: number,
    /** gzip each generation once conmon has moved on from it (log-opt compress). */
    readonly compress = false,
  ) {
    this.dir = dirname(path)
    this.base = basename(path)
  }

  /** Readies the files (idempotent); conmon keeps appending to the newest generation. */
  async start(): Promise<void> {
    const cur = await lstat(this.path).catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return undefined
      throw err
    })
    if (!cur) await this.symlink(this.path, await this.nextGen())
    await this.sync()
  }

  /** Follows conmon's rotations until closed (fs events; no polling). */
  watch(): void {
    if (this.watcher) return
    this.watcher = watch(this.dir, (_event, name) => {
      if (name === null || String(name).startsWith(this.base)) this.kick()
    })
    this.watcher.on('error', () => this.close())
    this.kick()
  }

  close(): void {
    this.watcher?.close()
    this.watcher = undefined
  }

  /** Settles once the work asked for so far (rotation and compression) is done. */
  async idle(): Promise<void> {
    while (this.running || this.compressing) {
      await this.running
      await this.compressing
    }
  }

  private kick(): void {
    if (this.running) {
      this.again = true
      return
    }
    this.running = (async () => {
      do {
        this.again = false
        await this.rotate().catch(() => {
          // A file that moved under us: the event its move made runs this again.
        })
        this.queueCompress()
      } while (this.again)
      this.running = undefined
    })()
  }

  private queueCompress(): void {
    if (!this.compress) return
    if (this.compressing) {
      this.compressAgain = true
      return
    }
    this.compressing = (async () => {
      do {
        this.compressAgain = false
        await this.compressFinished().catch(() => {
          // Left as it is (plain, which readers read as well): the next pass tries again.
        })
      } while (this.compressAgain)
      this.compressing = undefined
    })()
  }

  /** One pass (rotation, then compression), settled when both are done. */
  async sync(): Promise<void> {
    await this.rotate()
    this.queueCompress()
    await this.compressing
  }

  /** Links a plain LOG, readies LOG.tmp, removes the oldest past maxFiles. */
  private async rotate(): Promise<void> {
    const cur = await lstat(this.path).catch(() => undefined)
    if (cur?.isFile()) {
      const gens = await logFiles(this.path)
      const kept = gens.some((g) => g.ino === cur.ino && g.gen !== Number.MAX_SAFE_INTEGER)
      if (!kept) {
        await link(this.path, join(this.dir, await this.nextGen())).catch((err: unknown) => {
          if (errnoCode(err) !== 'EEXIST') throw err
        })
      }
    }
    const tmp = `${this.path}.tmp`
    const t = await lstat(tmp).catch(() => undefined)
    // A plain LOG.tmp is conmon's, between its open and its rename: leave it be.
    if (!t?.isFile()) {
      const want = await this.nextGen()
      const target = t?.isSymbolicLink() ? await readlink(tmp).catch(() => '') : ''
      if (target !== want) await this.symlink(tmp, want)
    }
    await this.prune()
  }

  /**
   * Gzips the generations before the one LOG is (conmon writes only that one, or, between its
   * open and its rename, a newer one). Streamed through zlib into LOG.N.gz.part, renamed to
   * LOG.N.gz once whole, and only then LOG.N removed: a reader always finds one of the two
   * whole (readLog opens LOG.N, else LOG.N.gz). Nothing is compressed while LOG is no
   * generation's (a rotation the rename pass has still to see).
   */
  private async compressFinished(): Promise<void> {
    const cur = await stat(this.path).catch(() => undefined)
    const gens = await logFiles(this.path)
    const at = gens.find((g) => g.ino === cur?.ino && g.gen !== Number.MAX_SAFE_INTEGER)
    if (!at) return
    for (const g of gens) {
      if (g.gz || g.gen >= at.gen) continue
      const gz = `${g.path}.gz`
      const part = `${gz}.part`
      try {
        await pipeline(createReadStream(g.path), createGzip(), createWriteStream(part))
        await rename(part, gz)
      } catch (err) {
        await rm(part, { force: true })
        // Pruned meanwhile: nothing to keep.
        if (errnoCode(err) === 'ENOENT') continue
        throw err
      }
      // prune removes LOG.N before LOG.N.gz: LOG.N gone now means it was pruned while we
      // compressed, and the .gz just renamed in must go too.
      if (!(await stat(g.path).catch(() => undefined))) await rm(gz, { force: true })
      else await rm(g.path, { force: true })
    }
  }

  /** The name of the generation after the newest one there (or LOG's, still to be made). */
  private async nextGen(): Promise<string> {
    let max = 0
    for (const f of await readdir(this.dir)) {
      const m = GEN_RE.exec(f)
      if (m && m[1] === this.base) max = Math.max(max, Number(m[2]))
    }
    // LOG's target, before conmon has made it.
    const m = GEN_RE.exec(await readlink(this.path).catch(() => ''))
    if (m && m[1] === this.base) max = Math.max(max, Number(m[2]))
    return `${this.base}.${max + 1}`
  }

  private async symlink(at: string, target: string): Promise<void> {
    // Made beside and renamed over, so conmon never sees it half made.
    const tmp = `${at}.new`
    await rm(tmp, { force: true })
    await symlink(target, tmp)
    await rename(tmp, at)
  }

  private async prune(): Promise<void> {
    const gens = (await logFiles(this.path)).filter((g) => g.gen !== Number.MAX_SAFE_INTEGER)
    const plain = await lstat(this.path).catch(() => undefined)
    // A plain LOG not yet linked counts as the newest file.
    const extra = plain?.isFile() && !gens.some((g) => g.ino === plain.ino) ? 1 : 0
    const drop = gens.length + extra - this.maxFiles
    for (const g of gens.slice(0, Math.max(0, drop))) {
      const plain = g.gz ? g.path.slice(0, -'.gz'.length) : g.path
      await rm(plain, { force: true })
      await rm(`${plain}.gz`, { force: true })
    }
  }
}
