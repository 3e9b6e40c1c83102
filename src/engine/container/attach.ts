import type { AttachConnection, OutputChunk } from '../runtime/types.ts'

/** An unbounded queue read as an async iterable: the hub pushes, one client reads. */
class ChunkQueue implements AsyncIterable<OutputChunk> {
  private readonly items: OutputChunk[] = []
  private ended = false
  private wake: (() => void) | undefined

  push(chunk: OutputChunk): void {
    if (this.ended) return
    this.items.push(chunk)
    this.wake?.()
  }

  end(): void {
    this.ended = true
    this.wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<OutputChunk> {
    for (;;) {
      const next = this.items.shift()
      if (next) {
        yield next
        continue
      }
      if (this.ended) return
      await new Promise<void>((resolve) => (this.wake = resolve))
      this.wake = undefined
    }
  }
}

/**
 * One connection to a container's monitor, shared by every attached client: output goes to
 * all of them, stdin comes from whoever writes it. conmon closes a StdinOnce container's stdin
 * when an attach connection closes, so clients must not each hold their own connection.
 */
export class AttachHub {
  private readonly queues = new Set<ChunkQueue>()
  private connection: Promise<AttachConnection> | undefined
  /** Settles once connected; stdin written before the container starts waits on it. */
  private readonly ready: Promise<AttachConnection>
  private settleReady!: (c: Promise<AttachConnection>) => void
  /** Stdin writes and the final close, in order. */
  private stdin: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly connect: () => Promise<AttachConnection>,
    private readonly onDone: () => void,
  ) {
    this.ready = new Promise((resolve) => (this.settleReady = resolve))
    this.ready.catch(() => undefined)
  }

  get clients(): number {
    return this.queues.size
  }

  get connected(): boolean {
    return this.connection !== undefined
  }

  /** Connects once; output from then on reaches every client. */
  ensureConnected(): Promise<AttachConnection> {
    if (!this.connection) {
      this.connection = this.connect()
      this.settleReady(this.connection)
      this.connection.then(
        (conn) => void this.pump(conn),
        () => this.finish(),
      )
    }
    return this.connection
  }

  private async pump(conn: AttachConnection): Promise<void> {
    try {
      for await (const chunk of conn.output) {
        for (const q of this.queues) q.push(chunk)
      }
    } catch {
      // The monitor went away; the clients see their stream end.
    } finally {
      this.finish()
    }
  }

  private finish(): void {
    for (const q of this.queues) q.end()
    this.queues.clear()
    this.onDone()
  }

  subscribe(): { output: AsyncIterable<OutputChunk>; unsubscribe(): void } {
    const q = new ChunkQueue()
    this.queues.add(q)
    return {
      output: q,
      unsubscribe: () => {
        q.end()
        if (!this.queues.delete(q) || this.queues.size > 0) return
        // The last client left: let go of the monitor's socket.
        this.connection?.then((c) => c.close()).catch(() => undefined)
        this.onDone()
      },
    }
  }

  writeStdin(data: Uint8Array): Promise<void> {
    const write = this.stdin.then(async () => (await this.ready).writeStdin(data))
    this.stdin = write.catch(() => undefined)
    return write
  }

  closeStdin(): void {
    this.stdin = this.stdin.then(async () => (await this.ready).closeStdin()).catch(() => undefined)
  }

  /** Ends every client, e.g. when the container failed to start. */
  abort(): void {
    this.connection?.then((c) => c.close()).catch(() => undefined)
    this.settleReady(Promise.reject(new Error('the container did not start')))
    this.finish()
  }
}
