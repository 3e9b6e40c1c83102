// Taking over the connection for attach and exec, as moby's postContainersAttach
// does: answer `101 UPGRADED` when the client asked to upgrade (the docker CLI
// always does), else `200 OK`, then hand the raw socket to the caller.
// The socket is half-open capable: when the client's stdin ends it CloseWrite()s,
// the socket emits 'end', and output can still be written until we end() it.
// The socket comes back paused: the client's input (and its end) waits in the socket until
// the caller starts reading, however long the caller takes to get the process ready.
import type { Socket } from 'node:net'
import type { Ctx } from './router.ts'
import { takeUpgrade } from './http.ts'
import { versionAtLeast } from './version.ts'

export const RAW_STREAM = 'application/vnd.docker.raw-stream'
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream'

export interface HijackOptions {
  /** With a TTY the output is one raw stream; without, stdout and stderr are framed. */
  tty: boolean
}

export interface Hijacked {
  /** Paused: start reading with forwardStdin, or resume() to discard the client's input. */
  socket: Socket
  /** True when output must be framed with stdcopyFrame (no TTY). */
  multiplexed: boolean
  contentType: string
}

const hijacked = new WeakSet<Ctx['req']>()

export function isHijacked(req: Ctx['req']): boolean {
  return hijacked.has(req)
}

// The parts of Node's HTTP machinery on a socket that a takeover must undo.
interface ParserOwner {
  parser?: { unconsume?: () => void; _consumed?: boolean } | null
}

export function hijack(ctx: Ctx, opts: HijackOptions): Hijacked {
  const { req, res } = ctx
  if (hijacked.has(req)) throw new Error('connection already hijacked')
  hijacked.add(req)
  const multiplexed = !opts.tty
  const up = takeUpgrade(req)
  let socket: Socket
  let contentType = RAW_STREAM
  if (up) {
    socket = up.socket
    res.detachSocket(socket)
    if (up.head.length > 0) socket.unshift(up.head)
    if (multiplexed && versionAtLeast(ctx.apiVersion, '1.42')) contentType = MULTIPLEXED_STREAM
    socket.write(
      `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
    )
  } else {
    // A client that did not ask to upgrade still gets the raw socket; Node's
    // parser must let go of it first or the client's stdin would parse as HTTP.
    socket = req.socket
    res.detachSocket(socket)
    const owner = socket as Socket & ParserOwner
    if (owner.parser?._consumed && owner.parser.unconsume) {
      owner.parser.unconsume()
      owner.parser._consumed = false
    }
    for (const ev of ['data', 'end', 'drain', 'timeout', 'pause', 'resume'] as const) {
      socket.removeAllListeners(ev)
    }
    socket.setTimeout(0)
    socket.write(`HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n\r\n`)
  }
  socket.setNoDelay(true)
  socket.on('error', () => {
    // A client that drops the connection is not our error; the owner sees 'close'.
  })
  // A flowing socket with no 'data' listener drops what arrives, its end included: a client
  // that sends its stdin and half-closes while exec start is still spawning the process
  // would then never see the process end. Nothing reads until the caller says so.
  socket.pause()
  return { socket, multiplexed, contentType }
}

/** Docker's stdcopy frame: [stream, 0, 0, 0, size(4, big-endian)] then the data. */
export function stdcopyFrame(stream: 0 | 1 | 2 | 3, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8)
  head[0] = stream
  head.writeUInt32BE(data.length, 4)
  return Buffer.concat([head, data])
}

export interface Frame {
  stream: number
  data: Buffer
}

/** An incremental stdcopy parser: push bytes in, frames come out whole. */
export class StdDemuxer {
  private buf: Buffer = Buffer.alloc(0)

  push(chunk: Uint8Array): Frame[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk])
    const out: Frame[] = []
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4)
      if (this.buf.length < 8 + size) break
      out.push({ stream: this.buf[0]!, data: this.buf.subarray(8, 8 + size) })
      this.buf = this.buf.subarray(8 + size)
    }
    return out
  }

  /** Bytes of an incomplete frame still held. */
  get pending(): number {
    return this.buf.length
  }
}

/** Splits a whole stdcopy byte stream into stdout and stderr text. */
export function demuxAll(data: Uint8Array): { stdout: Buffer; stderr: Buffer; frames: Frame[] } {
  const d = new StdDemuxer()
  const frames = d.push(data)
  if (d.pending > 0) throw new Error(`truncated stdcopy frame (${d.pending} bytes left)`)
  const pick = (n: number): Buffer =>
    Buffer.concat(frames.filter((f) => f.stream === n).map((f) => f.data))
  return { stdout: pick(1), stderr: pick(2), frames }
}
