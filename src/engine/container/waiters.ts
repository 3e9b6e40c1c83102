// What the container service coordinates with: one queue of operations per container, and the
// clients waiting for a container's exit or removal.
import type { WaitResult } from './types.ts'

export interface Deferred<T> {
  promise: Promise<T>
  resolve(v: T): void
  reject(e: unknown): void
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Whether `p` settles within `ms` (its rejection counts as settled). */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      late,
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Operations on one key run one after another, each after every earlier one settled. */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>()

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    const tail = run.catch(() => undefined)
    this.tails.set(key, tail)
    try {
      return await run
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }
}

/** Clients waiting for containers to exit or to be removed (POST /containers/{id}/wait). */
export class Waiters {
  private readonly exits = new Map<string, Deferred<WaitResult>[]>()
  private readonly removals = new Map<string, Deferred<WaitResult>[]>()

  /** Waits for the next exit (or the removal) of the container `id`. */
  wait(id: string, removal: boolean, signal?: AbortSignal): Promise<WaitResult> {
    const waiters = removal ? this.removals : this.exits
    const d = deferred<WaitResult>()
    waiters.set(id, [...(waiters.get(id) ?? []), d])
    const onAbort = (): void => d.reject(signal?.reason ?? new Error('aborted'))
    signal?.addEventListener('abort', onAbort, { once: true })
    return d.promise.finally(() => {
      signal?.removeEventListener('abort', onAbort)
      const rest = (waiters.get(id) ?? []).filter((w) => w !== d)
      if (rest.length > 0) waiters.set(id, rest)
      else waiters.delete(id)
    })
  }

  /** The container exited (or a start failed): those waiting for an exit hear of it. */
  exited(id: string, result: WaitResult): void {
    for (const w of this.exits.get(id) ?? []) w.resolve(result)
    this.exits.delete(id)
  }

  /** The container is gone: everyone waiting on it hears of it. */
  removed(id: string, result: WaitResult): void {
    for (const w of this.removals.get(id) ?? []) w.resolve(result)
    this.removals.delete(id)
    this.exited(id, result)
  }
}
