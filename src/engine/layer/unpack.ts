// Unpacks layer tars on the unpack thread (unpack-worker.ts, writer.ts): the main thread
// decompresses (in libuv's pool, as before) and copies the tar into a few fixed 256 KiB buffers
// that it hands over and gets back (transferred, not cloned); the thread parses the tar, hashes
// it and writes the files with synchronous calls. One thread serves every unpack: a layer's
// ~20,000 small files otherwise cost a thread-pool hand-off per open, write, utimes and close,
// and most of a pull's CPU went to those hand-offs, not to the calls.
import { createHash } from 'node:crypto'
import {
  constants as perf,
  type NodeGCPerformanceDetail,
  type PerformanceEntry,
  PerformanceObserver,
} from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Worker } from 'node:worker_threads'
import type { Digest } from '../digest.ts'
import { BerthError, Internal, InvalidArgument } from '../errors.ts'
import { decompress } from '../compression.ts'
import { setMmapThreshold } from '../sys/libc.ts'
import type { UnpackResult } from './writer.ts'

export type { UnpackResult } from './writer.ts'

export interface UnpackOptions {
  /** Device nodes other than whiteouts (default true, as Docker allows for root). */
  allowDevices?: boolean
  /** The stream is a plain tar (its producer decompressed it): do not look for compression. */
  uncompressed?: boolean
  signal?: AbortSignal
}

export type ToWorker =
  | { t: 'start'; id: number; root: string; allowDevices: boolean }
  | { t: 'data'; id: number; buf: ArrayBuffer; len: number }
  | { t: 'end'; id: number }
  | { t: 'abort'; id: number }

export type FromWorker =
  | { t: 'ack'; id: number; buf: ArrayBuffer }
  | { t: 'done'; id: number; diffID: Digest; size: number }
  | { t: 'error'; id: number; code: string; message: string }

/** Bytes handed over per message. */
const BATCH = 256 * 1024
/** Buffers one unpack may have handed over and not had back (its bytes in flight). */
const PER_JOB = 4
/** Spare buffers kept for the next unpacks. */
const SPARE = 16
/** How long the thread outlives its last unpack (a build's or a pull's next layer reuses it). */
let idleMs = 5000

type Outcome = { ok: UnpackResult } | { err: BerthError }

/** One layer's unpack as the main thread sees it. */
interface Job {
  /** Buffers of this job not back yet. */
  out: number
  wake: (() => void) | undefined
  outcome: Outcome | undefined
  settle: (o: Outcome) => void
}

/**
 * The worker: dist/unpack-worker.mjs beside berthd.mjs, or, when this module runs from the
 * source tree (tests, tsx), unpack-worker.ts beside it, loaded through tsx's loader, which a
 * worker does not inherit.
 */
function spawnWorker(): Worker {
  const here = import.meta.url
  // The thread holds a few buffers and a layer's directory names: a small heap is plenty, and
  // a young generation left to grow would take tens of MiB for nothing.
  const resourceLimits = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 64 }
  if (!here.endsWith('.ts')) {
    return new Worker(new URL('./unpack-worker.mjs', here), { resourceLimits })
  }
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  const file = JSON.stringify(new URL('./unpack-worker.ts', here).href)
  return new Worker(`import(${tsx}).then((m) => { m.register(); return import(${file}) })`, {
    eval: true,
    resourceLimits,
  })
}

class UnpackThread {
  private worker: Worker | undefined
  private readonly jobs = new Map<number, Job>()
  private readonly spare: Buffer[] = []
  private nextId = 1
  private idleTimer: NodeJS.Timeout | undefined

  start(root: string, allowDevices: boolean): { id: number; job: Job; done: Promise<Outcome> } {
    clearTimeout(this.idleTimer)
    const worker = this.worker ?? this.spawn()
    const id = this.nextId++
    let settle!: (o: Outcome) => void
    const done = new Promise<Outcome>((r) => (settle = r))
    const job: Job = {
      out: 0,
      wake: undefined,
      outcome: undefined,
      settle: (o) => {
        job.outcome = o
        job.wake?.()
        settle(o)
      },
    }
    this.jobs.set(id, job)
    worker.ref()
    this.post({ t: 'start', id, root, allowDevices })
    return { id, job, done }
  }

  post(m: ToWorker, transfer?: ArrayBuffer[]): void {
    this.worker?.postMessage(m, transfer)
  }

  /** A buffer for `job`, once it has fewer than PER_JOB out; undefined once the job settled. */
  async take(job: Job): Promise<Buffer | undefined> {
    while (job.out >= PER_JOB && job.outcome === undefined) {
      await new Promise<void>((r) => (job.wake = r))
      job.wake = undefined
    }
    if (job.outcome !== undefined) return undefined
    job.out++
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(BATCH)
  }

  /** A buffer taken and never handed over. */
  giveBack(job: Job, buf: Buffer): void {
    job.out--
    if (this.spare.length < SPARE) this.spare.push(buf)
  }

  /**
   * No unpack left: the thread no longer keeps the daemon alive, and goes after idleMs without
   * work, its memory (some 12 MiB, more after a big layer) with it; the next unpack starts one.
   */
  private idle(worker: Worker): void {
    worker.unref()
    this.idleTimer = setTimeout(() => {
      if (this.worker !== worker || this.jobs.size > 0) return
      this.worker = undefined
      this.spare.length = 0
      void worker.terminate()
    }, idleMs)
    this.idleTimer.unref()
  }

  /** The thread now serving unpacks, if one is. */
  current(): Worker | undefined {
    return this.worker
  }

  private spawn(): Worker {
    const worker = spawnWorker()
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'ack') {
        if (this.spare.length < SPARE) this.spare.push(Buffer.from(m.buf))
        const job = this.jobs.get(m.id)
        if (job === undefined) return
        job.out--
        job.wake?.()
        return
      }
      const job = this.jobs.get(m.id)
      if (job === undefined) return
      this.jobs.delete(m.id)
      if (this.jobs.size === 0) this.idle(worker)
      if (m.t === 'done') job.settle({ ok: { diffID: m.diffID, size: m.size } })
      else {
        const E = m.code === 'invalid_argument' ? InvalidArgument : Internal
        job.settle({ err: new E(m.message) })
      }
    })
    const lost = (why: string): void => {
      // A thread retired when idle is no loss: the next thread's unpacks must not hear of it.
      if (this.worker !== worker) return
      this.worker = undefined
      const jobs = [...this.jobs.values()]
      this.jobs.clear()
      for (const job of jobs) job.settle({ err: new Internal(`unpacking layer: ${why}`) })
    }
    worker.on('error', (err) => lost(`the unpack thread failed: ${err.message}`))
    worker.on('exit', (code) => lost(`the unpack thread exited (${code})`))
    worker.unref()
    this.worker = worker
    return worker
  }
}

let thread: UnpackThread | undefined

/** For tests: the unpack thread as it is now, and a shorter idle time. */
export const unpackThreadForTests = {
  worker: (): Worker | undefined => thread?.current(),
  setIdleMs: (ms: number): void => void (idleMs = ms),
}

// A pull's socket reads and gunzip output are some 700 MB of short-lived buffers outside V8's
// heap, freed only by a full collection. V8 counts them against its old generation's slack and
// starts one itself after every ten-odd MB of them, but after busy spells it widens the slack,
// and the dead buffers then piled up to half of berthd's peak memory during a pull. So a full
// collection is forced once COLLECT_EVERY bytes of tar went by without any. V8's own restart
// the count: forcing one every COLLECT_EVERY regardless doubled up with them (some 50 forced
// on top of V8's 45 per 250 MB image, each a whole atomic collection); now some 25 are.
const COLLECT_EVERY = 8 * 1024 * 1024
let sinceCollect = 0
let collector: (() => void) | null | undefined

function spent(bytes: number): void {
  sinceCollect += bytes
  if (sinceCollect < COLLECT_EVERY) return
  sinceCollect = 0
  if (collector === undefined) collector = makeCollector()
  collector?.()
}

/** V8's gc(), with V8's own full collections watched; null where it cannot be had. */
function makeCollector(): (() => void) | null {
  let gc: () => void
  try {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as () => void
  } catch {
    return null
  }
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const { kind, flags } = (e as PerformanceEntry & { detail: NodeGCPerformanceDetail }).detail
      const forced = (flags & perf.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0
      if (kind === perf.NODE_PERFORMANCE_GC_MAJOR && !forced) sinceCollect = 0
    }
  }).observe({ entryTypes: ['gc'] })
  return gc
}

/** Unpacks the layer blob `source` into `root`, an existing empty directory. */
export async function unpackLayer(
  source: Readable,
  root: string,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  const { signal } = opts
  signal?.throwIfAborted()
  if (thread === undefined) {
    // A pull's 256 KiB buffers (gunzip's output, these batches), once freed, go back to the
    // kernel rather than stay resident in malloc's heap (about 12 MiB of berthd's peak).
    setMmapThreshold(128 * 1024)
    thread = new UnpackThread()
  }
  const t = thread
  const { id, job, done } = t.start(root, opts.allowDevices ?? true)
  const onAbort = (): void => {
    source.destroy()
  }
  signal?.addEventListener('abort', onAbort, { once: true })

  let sourceError: unknown
  // The thread may end the unpack first (it refused the layer, or it died): the feed then stops
  // at once, even while the source is silent, and the thread's word is the cause to report.
  let endedFirst = false
  void done.then((r) => {
    if (!('err' in r) || sourceError !== undefined) return
    endedFirst = true
    source.destroy()
  })
  let buf: Buffer | undefined
  let used = 0
  try {
    const flush = (): void => {
      if (buf === undefined) return
      const ab = buf.buffer as ArrayBuffer
      t.post({ t: 'data', id, buf: ab, len: used }, [ab])
      buf = undefined
      used = 0
    }
    feed: for await (const piece of tarBytes(source, opts.uncompressed)) {
      let off = 0
      while (off < piece.length) {
        buf ??= await t.take(job)
        if (buf === undefined) break feed // the unpack already ended (it refused the layer)
        const n = Math.min(piece.length - off, BATCH - used)
        piece.copy(buf, used, off, off + n)
        used += n
        off += n
        if (used === BATCH) flush()
      }
      spent(piece.length)
    }
    if (used > 0) flush()
    t.post({ t: 'end', id })
  } catch (err) {
    sourceError = err
    t.post({ t: 'abort', id })
  } finally {
    if (buf !== undefined) t.giveBack(job, buf)
    source.destroy()
  }
  // The unpack has stopped writing into `root` once it settles, whichever way.
  const r = await done
  signal?.removeEventListener('abort', onAbort)
  if (signal?.aborted) throw signal.reason
  if (endedFirst && 'err' in r) throw r.err
  if (sourceError !== undefined) {
    if (sourceError instanceof BerthError) throw sourceError
    throw new Internal(`unpacking layer: ${messageOf(sourceError)}`, { cause: sourceError })
  }
  if ('err' in r) throw r.err
  return r.ok
}

/** Reads a layer blob to its end and returns its diffID, writing nothing. */
export async function layerDigest(
  source: Readable,
  signal?: AbortSignal,
  uncompressed = false,
): Promise<Digest> {
  const hash = createHash('sha256')
  const onAbort = (): void => {
    source.destroy(signal?.reason as Error)
  }
  signal?.throwIfAborted()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const chunk of tarBytes(source, uncompressed)) hash.update(chunk)
  } catch (err) {
    if (signal?.aborted) throw signal.reason
    if (err instanceof BerthError) throw err
    throw new Internal(`reading layer: ${messageOf(err)}`, { cause: err })
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  return `sha256:${hash.digest('hex')}`
}

/** The tar's bytes: decompressed as its first bytes say, or as they come when known to be plain. */
function tarBytes(source: Readable, uncompressed = false): AsyncIterable<Buffer> {
  return uncompressed ? (source as AsyncIterable<Buffer>) : decompress(source)
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
