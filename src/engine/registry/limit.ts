// A counting semaphore: at most `size` tasks at once, the rest wait in order. Pull and push run
// each blob transfer through one, as Docker's max-concurrent-downloads/uploads do.

export class Limiter {
  private active = 0
  private readonly waiting: (() => void)[] = []

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`limit must be at least 1: ${size}`)
  }

  /** Tasks running now. */
  get running(): number {
    return this.active
  }

  /**
   * Runs fn when a place is free. `onWait` is told when the task has to wait first (Docker's
   * "Waiting" progress line). A signal aborted while waiting gives the place up unused.
   */
  async run<T>(
    fn: () => Promise<T>,
    opts: { signal?: AbortSignal; onWait?: () => void } = {},
  ): Promise<T> {
    await this.acquire(opts)
    try {
      return await fn()
    } finally {
      this.release()
    }
  }

  private acquire(opts: { signal?: AbortSignal; onWait?: () => void }): Promise<void> {
    opts.signal?.throwIfAborted()
    if (this.active < this.size) {
      this.active++
      return Promise.resolve()
    }
    opts.onWait?.()
    return new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        opts.signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        const i = this.waiting.indexOf(grant)
        if (i >= 0) this.waiting.splice(i, 1)
        reject(opts.signal?.reason)
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(grant)
    })
  }

  private release(): void {
    const next = this.waiting.shift()
    // The place passes straight to the next task, so `active` stays as it is.
    if (next) next()
    else this.active--
  }
}
