// The unpack thread: runs unpackLayer (gunzip when asked, tar parsing, hashing and every file
// system call) for the layers the daemon's main thread streams to it, so that the main thread
// is left with sockets and bookkeeping. Several layers are unpacked at once, each into its own
// directory. The protocol is unpacker.ts's; each chunk is acknowledged when unpackLayer takes
// it, which is the main thread's backpressure.
import { parentPort } from 'node:worker_threads'
import { Readable } from 'node:stream'
import { BerthError } from '../errors.ts'
import { unpackLayer } from './unpack.ts'
import type { FromWorker, ToWorker } from './unpacker.ts'

const port = parentPort
if (port === null) throw new Error('unpack-worker.ts runs only as a worker thread')

/** The bytes of one layer as they arrive; a chunk counts as taken when the reader pulls it. */
class Inbox extends Readable {
  private readonly queue: Uint8Array[] = []
  private ended = false
  private wanted = false

  constructor(private readonly id: number) {
    super()
  }

  add(chunk: Uint8Array): void {
    this.queue.push(chunk)
    this.flush()
  }

  end(): void {
    this.ended = true
    this.flush()
  }

  override _read(): void {
    this.wanted = true
    this.flush()
  }

  private flush(): void {
    while (this.wanted && this.queue.length > 0) {
      const chunk = this.queue.shift() as Uint8Array
      send({ t: 'ack', id: this.id, bytes: chunk.byteLength })
      this.wanted = this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    }
    if (this.ended && this.queue.length === 0 && this.wanted) {
      this.wanted = false
      this.push(null)
    }
  }
}

interface Job {
  inbox: Inbox
  abort: AbortController
}

const jobs = new Map<number, Job>()

function send(m: FromWorker): void {
  port!.postMessage(m)
}

port.on('message', (m: ToWorker) => {
  if (m.t === 'start') {
    const job: Job = { inbox: new Inbox(m.id), abort: new AbortController() }
    jobs.set(m.id, job)
    unpackLayer(job.inbox, m.root, {
      allowDevices: m.allowDevices,
      uncompressed: m.uncompressed,
      signal: job.abort.signal,
    })
      .then(
        (r) => send({ t: 'done', id: m.id, diffID: r.diffID, size: r.size }),
        (err: unknown) =>
          send({
            t: 'error',
            id: m.id,
            name: err instanceof BerthError ? err.name : 'Internal',
            message: err instanceof Error ? err.message : String(err),
          }),
      )
      .finally(() => jobs.delete(m.id))
    return
  }
  const job = jobs.get(m.id)
  if (job === undefined) return // it already ended; late data or a late abort changes nothing
  if (m.t === 'data') job.inbox.add(m.chunk)
  else if (m.t === 'end') job.inbox.end()
  else job.abort.abort(new Error(m.reason))
})
