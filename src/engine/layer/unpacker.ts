// Unpacks layers on a thread of their own (unpack-worker.ts): the main thread only copies the
// stream's bytes into 256 KiB batches and hands them over (transferred, not cloned), and gets
// back the diffID and size. A pull's gunzip output, tar parsing, diffID hashing and the per-file
// calls then run beside the daemon's event loop instead of on it. One worker serves every
// unpack (each layer still into its own directory, several at once): a second V8 heap per
// layer would cost more memory than it saves time on a machine with few cores.
import { Worker } from 'node:worker_threads'
import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'
import {
  BerthError,
  Conflict,
  Forbidden,
  Internal,
  InvalidArgument,
  NotFound,
  NotImplemented,
  Unavailable,
} from '../errors.ts'
import type { UnpackOptions, UnpackResult } from './unpack.ts'

export type ToWorker =
  | { t: 'start'; id: number; root: string; allowDevices: boolean; uncompressed: boolean }
  | { t: 'data'; id: number; chunk: Uint8Array }
  | { t: 'end'; id: number }
  | { t: 'abort'; id: number; reason: string }

export type FromWorker =
  | { t: 'ack'; id: number; bytes: number }
  | { t: 'done'; id: number; diffID: Digest; size: number }
  | { t: 'error'; id: number; name: string; message: string }

/** Bytes handed over per message. */
const BATCH = 256 * 1024
/** Bytes of one layer handed over and not yet taken by the unpack, at most (backpressure). */
const WINDOW = 1024 * 1024

const ERRORS: Record<string, new (message: string) => BerthError> = {
  InvalidArgument,
  NotFound,
  Conflict,
  Forbidden,
  NotImplemented,
  Unavailable,
  Internal,
}

interface Pending {
  acked: (bytes: number) => void
  settle: (r: { ok: UnpackResult } | { err: BerthError }) => void
}

/**
 * The worker: dist/unpack-worker.mjs beside berthd.mjs, or, when this module runs from the
 * source tree (tests, tsx), unpack-worker.ts beside it, loaded through tsx's loader, which a
 * worker does not inherit.
 */
function spawnWorker(): Worker {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new Worker(new URL('./unpack-worker.mjs', here))
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  const file = JSON.stringify(new URL('./unpack-worker.ts', here).href)
  return new Worker(`import(${tsx}).then((m) => { m.register(); return import(${file}) })`, {
    eval: true,
  })
}

class UnpackThread {
  private worker: Worker | undefined
  private readonly jobs = new Map<number, Pending>()
  private nextId = 1

  /** Starts a job; `pending` hears of it until it settles. */
  start(root: string, opts: UnpackOptions, pending: Pending): { id: number; worker: Worker } {
    const worker = this.worker ?? this.spawn()
    const id = this.nextId++
    this.jobs.set(id, pending)
    worker.ref()
    worker.postMessage({
      t: 'start',
      id,
      root,
      allowDevices: opts.allowDevices ?? true,
      uncompressed: opts.uncompressed ?? false,
    } satisfies ToWorker)
    return { id, worker }
  }

  private spawn(): Worker {
    const worker = spawnWorker()
    worker.on('message', (m: FromWorker) => {
      const job = this.jobs.get(m.id)
      if (job === undefined) return
      if (m.t === 'ack') {
        job.acked(m.bytes)
        return
      }
      this.jobs.delete(m.id)
      if (this.jobs.size === 0) worker.unref()
      if (m.t === 'done') job.settle({ ok: { diffID: m.diffID, size: m.size } })
      else job.settle({ err: new (ERRORS[m.name] ?? Internal)(m.message) })
    })
    const lost = (why: string): void => {
      if (this.worker === worker) this.worker = undefined
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

const thread = new UnpackThread()

/** unpackLayer's contract, run on the unpack thread. */
export async function unpackInWorker(
  source: Readable,
  root: string,
  opts: UnpackOptions = {},
): Promise<UnpackResult> {
  const { signal } = opts
  signal?.throwIfAborted()
  let inFlight = 0
  let wake: (() => void) | undefined
  let settled: { ok: UnpackResult } | { err: BerthError } | undefined
  let resolve!: (r: { ok: UnpackResult } | { err: BerthError }) => void
  const result = new Promise<{ ok: UnpackResult } | { err: BerthError }>((r) => (resolve = r))
  const { id, worker } = thread.start(root, opts, {
    acked: (bytes) => {
      inFlight -= bytes
      wake?.()
    },
    settle: (r) => {
      settled = r
      wake?.()
      resolve(r)
    },
  })
  const post = (m: ToWorker, transfer?: ArrayBuffer[]): void => worker.postMessage(m, transfer)
  const onAbort = (): void => {
    source.destroy()
    post({ t: 'abort', id, reason: 'aborted' })
  }
  signal?.addEventListener('abort', onAbort, { once: true })

  let sourceError: unknown
  try {
    let batch = Buffer.allocUnsafeSlow(BATCH)
    let used = 0
    const flush = async (): Promise<void> => {
      if (used === 0) return
      const chunk = new Uint8Array(batch.buffer, 0, used)
      inFlight += used
      post({ t: 'data', id, chunk }, [batch.buffer as ArrayBuffer])
      batch = Buffer.allocUnsafeSlow(BATCH)
      used = 0
      while (inFlight > WINDOW && settled === undefined) {
        await new Promise<void>((r) => (wake = r))
        wake = undefined
      }
    }
    for await (const piece of source as AsyncIterable<Buffer>) {
      if (settled !== undefined) break // the unpack already ended (refused the layer)
      let off = 0
      while (off < piece.length) {
        const n = Math.min(piece.length - off, BATCH - used)
        piece.copy(batch, used, off, off + n)
        used += n
        off += n
        if (used === BATCH) await flush()
      }
    }
    await flush()
    post({ t: 'end', id })
  } catch (err) {
    sourceError = err
    post({ t: 'abort', id, reason: err instanceof Error ? err.message : String(err) })
  } finally {
    source.destroy()
  }
  // The unpack has stopped writing into `root` once it settles, whichever way.
  const r = await result
  signal?.removeEventListener('abort', onAbort)
  if (signal?.aborted) throw signal.reason
  if (sourceError !== undefined) {
    if (sourceError instanceof BerthError) throw sourceError
    throw new Internal(
      `unpacking layer: ${(sourceError as Error).message ?? String(sourceError)}`,
      {
        cause: sourceError,
      },
    )
  }
  if ('err' in r) throw r.err
  return r.ok
}
