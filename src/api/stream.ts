// Docker's JSON progress stream: one JSON object per line (moby ends each with
// CRLF), headers sent with the first message, and an error after the first
// message sent in-band as {"errorDetail":{"message"},"error"}.
import type { Ctx } from './router.ts'
import { errorLine, logError } from './errors.ts'
import type { Progress } from '../engine/image/types.ts'

export interface JsonMessage extends Progress {
  aux?: unknown
  errorDetail?: { message: string; code?: number }
  error?: string
}

export class JsonStream {
  private begun = false

  constructor(
    private readonly ctx: Ctx,
    private readonly contentType = 'application/json',
  ) {}

  /** Whether the status line has gone out; after that, errors travel in the stream. */
  get started(): boolean {
    return this.begun
  }

  private begin(): void {
    if (this.begun) return
    this.begun = true
    this.ctx.res.writeHead(200, { 'Content-Type': this.contentType })
    // The client renders progress as it arrives; do not let Nagle hold it back.
    this.ctx.res.socket?.setNoDelay(true)
  }

  /** Sends one message; small messages are not worth waiting on backpressure for. */
  write(msg: JsonMessage): void {
    this.begin()
    if (this.ctx.res.writableEnded || this.ctx.res.destroyed) return
    this.ctx.res.write(JSON.stringify(msg) + '\r\n')
  }

  status(status: string, id?: string): void {
    this.write(id === undefined ? { status } : { status, id })
  }

  /** Build-style text output. */
  text(stream: string): void {
    this.write({ stream })
  }

  /** A progress callback to hand to the engine. */
  readonly progress = (p: Progress): void => this.write(p)

  /**
   * Reports a failure: before the stream has started the error is rethrown so
   * the dispatcher answers with its real status; afterwards it goes in-band.
   */
  fail(err: unknown): void {
    if (!this.begun) throw err
    logError({ req: this.ctx.req, res: this.ctx.res, logger: this.ctx.logger }, err)
    this.write(errorLine(err))
  }

  /** Ends the response, sending the headers first if nothing was written. */
  end(): void {
    this.begin()
    if (!this.ctx.res.writableEnded) this.ctx.res.end()
  }
}
