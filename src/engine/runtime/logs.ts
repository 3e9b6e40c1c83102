// Reads conmon's k8s-file logs: `TIME STREAM F|P TEXT` per record, F ending a line and P a
// part of one. Streams the file; `tail` reads backwards from the end; `follow` watches it.
import { watch, type FSWatcher } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
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

/**
 * The log's entries, oldest first. With `tail` only the last N lines (a line: its P records
 * and the F record that ends it). With `follow`, keeps reading as conmon appends, until
 * `stopWhen` resolves and everything written before then has been read, or `signal` aborts.
 */
export async function* readLog(path: string, opts: LogReadOptions): AsyncGenerator<LogEntry> {
  const { signal } = opts
  if (signal?.aborted) return
  let fh: FileHandle
  try {
    fh = await open(path, 'r')
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return
    throw new Internal(`cannot read log ${path}: ${String(err)}`, { cause: err })
  }

  // Set up the watch before reading, so nothing appended in between is missed.
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
    watcher = watch(path, () => {
      changed = true
      poke()
    })
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

  try {
    let pos = opts.tail === undefined ? 0 : await tailOffset(fh, opts.tail)
    let carry: Buffer = Buffer.alloc(0)
    const buf = Buffer.allocUnsafe(CHUNK)
    for (;;) {
      // Whether stop was asked before this pass: then reaching EOF ends it.
      const stopBefore = stopped
      changed = false
      for (;;) {
        if (signal?.aborted) return
        const { bytesRead } = await fh.read(buf, 0, CHUNK, pos)
        if (bytesRead === 0) break
        pos += bytesRead
        let chunk = Buffer.from(buf.subarray(0, bytesRead))
        if (carry.length > 0) chunk = Buffer.concat([carry, chunk])
        let start = 0
        for (;;) {
          const nl = chunk.indexOf(NL, start)
          if (nl < 0) break
          const rec = parseLogRecord(chunk.subarray(start, nl))
          start = nl + 1
          if (!rec) continue
          if (opts.since !== undefined && rec.seconds < opts.since) continue
          if (opts.until !== undefined && rec.seconds > opts.until) return
          yield rec.entry
          if (signal?.aborted) return
        }
        carry = chunk.subarray(start)
      }
      if (!opts.follow || stopBefore || signal?.aborted) return
      if (!changed && !stopped) await new Promise<void>((r) => (wake = r))
    }
  } finally {
    watcher?.close()
    signal?.removeEventListener('abort', onAbort)
    await fh.close()
  }
}

/**
 * The offset where the last `n` lines begin, reading backwards in chunks. A line is the F
 * record that ends it plus the P records before it; a trailing run of P records (a line still
 * being written) counts as one. Bytes after the last newline (a record being written) are not
 * counted: the forward reader picks them up once whole.
 */
async function tailOffset(fh: FileHandle, n: number): Promise<number> {
  const size = (await fh.stat()).size
  if (n <= 0) return size
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
  const visit = async (start: number, end: number): Promise<number | undefined> => {
    const rec = parseHeader(await header(start, end))
    if (rec === 'F') {
      if (count === n) return end + 1
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
  return 0
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
