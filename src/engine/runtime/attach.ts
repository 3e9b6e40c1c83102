// conmon's attach socket: SOCK_SEQPACKET, each packet read starting with a byte that names the
// stream (2 stdout, 3 stderr); bytes written to it go to the process's stdin.
import { open } from 'node:fs/promises'
import { SeqpacketSocket } from 'node-unix-socket'
import { Conflict, errnoCode, Internal } from '../errors.ts'
import type { AttachConnection, OutputChunk } from './types.ts'

// O_PATH (Linux): a handle on the socket file, to connect through /proc/self/fd/N whatever
// the length of the real path (sun_path holds 108 bytes).
const O_PATH = 0o10000000
// conmon reads stdin packets into a 32 KiB buffer; a longer SOCK_SEQPACKET packet is cut.
const STDIN_PACKET = 16 * 1024

/** Connects to the attach socket at `path`; Conflict when nothing listens there any more. */
export async function connectAttach(path: string, id: string): Promise<AttachConnection> {
  let fh
  try {
    fh = await open(path, O_PATH)
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') {
      throw new Conflict('You cannot attach to a stopped container, start it first')
    }
    throw new Internal(`cannot open attach socket of ${id}: ${String(err)}`, { cause: err })
  }
  const sock = new SeqpacketSocket()
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject)
      try {
        sock.connect(`/proc/self/fd/${fh.fd}`, () => {
          sock.off('error', reject)
          resolve()
        })
      } catch (err) {
        reject(err)
      }
    })
  } catch (err) {
    sock.destroy()
    if (/ECONNREFUSED|ENOENT/.test(String(err))) {
      throw new Conflict('You cannot attach to a stopped container, start it first')
    }
    throw new Internal(`cannot attach to ${id}: ${String(err)}`, { cause: err })
  } finally {
    await fh.close()
  }
  return new SeqpacketAttach(sock)
}

/** An attach session on conmon's SOCK_SEQPACKET socket. */
class SeqpacketAttach implements AttachConnection {
  readonly output: AsyncIterable<OutputChunk>
  private readonly queue: OutputChunk[] = []
  private ended = false
  private error: unknown
  private wake?: () => void
  private closed = false

  constructor(private readonly sock: SeqpacketSocket) {
    sock.on('data', (buf: Buffer) => {
      if (buf.length < 2) return
      // First byte names the stream: 2 stdout, 3 stderr.
      const tag = buf[0]
      if (tag !== 2 && tag !== 3) return
      this.queue.push({ stream: tag === 2 ? 'stdout' : 'stderr', data: buf.subarray(1) })
      this.notify()
    })
    sock.on('end', () => {
      this.ended = true
      this.notify()
    })
    sock.on('close', () => {
      this.ended = true
      this.notify()
    })
    sock.on('error', (err: unknown) => {
      this.error = err
      this.ended = true
      this.notify()
    })
    this.output = { [Symbol.asyncIterator]: () => this.iterate() }
  }

  private notify(): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  private async *iterate(): AsyncGenerator<OutputChunk> {
    for (;;) {
      const chunk = this.queue.shift()
      if (chunk) {
        yield chunk
        continue
      }
      if (this.ended) {
        if (this.error !== undefined && !this.closed) {
          throw new Internal(`attach: ${String(this.error)}`, { cause: this.error })
        }
        return
      }
      await new Promise<void>((r) => (this.wake = r))
    }
  }

  async writeStdin(data: Uint8Array): Promise<void> {
    if (this.closed || this.ended) throw new Conflict('attach connection is closed')
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    for (let off = 0; off < buf.length; off += STDIN_PACKET) {
      const part = buf.subarray(off, Math.min(buf.length, off + STDIN_PACKET))
      await new Promise<void>((resolve, reject) => {
        try {
          this.sock.write(part, 0, part.length, () => resolve())
        } catch (err) {
          reject(new Internal(`attach: ${String(err)}`, { cause: err }))
        }
      })
    }
  }

  closeStdin(): void {
    if (this.closed) return
    // SHUT_WR once queued writes are out: conmon sees EOF and closes the container's stdin
    // (with StdinOnce; otherwise conmon runs with --leave-stdin-open and keeps it).
    this.sock.end()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.ended = true
    this.sock.destroy()
    this.notify()
  }
}
