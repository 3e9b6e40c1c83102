// The hijacked attach connection: an HTTP request upgraded to a raw TCP-like stream, carrying
// the container's stdin one way and its output (raw for a tty, else stdcopy frames) back.
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Readable, Writable } from 'node:stream'
import { buildQuery, errorFromBody, readBody } from './client.ts'
import { NO_SERVERNAME } from './httpsend.ts'
import { DetachScanner } from '../lib/detachkeys.ts'
import type { Client, Query } from './client.ts'

export interface Hijacked {
  socket: Socket
  /** bytes the daemon sent after the 101 response headers */
  head: Buffer
}

export async function hijack(
  client: Client,
  path: string,
  query: Query,
  body?: unknown,
): Promise<Hijacked> {
  await client.ensureNegotiated()
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const headers: Record<string, string> = { Connection: 'Upgrade', Upgrade: 'tcp' }
    if (payload) {
      headers['Content-Type'] = 'application/json'
      headers['Content-Length'] = String(payload.length)
    }
    const req = http.request({
      socketPath: client.socketPath,
      path: `/v${client.version}${path}${buildQuery(query)}`,
      method: 'POST',
      headers,
      agent: false,
      ...NO_SERVERNAME,
    })
    req.on('upgrade', (_res, socket: Socket, head: Buffer) => resolve({ socket, head }))
    req.on('response', (res) => {
      // an old daemon answers 200 and streams on the same connection; treat the body as the stream
      if ((res.statusCode ?? 500) >= 400) {
        readBody(res).then(
          (b) => reject(errorFromBody(res.statusCode ?? 500, b, res.statusMessage)),
          reject,
        )
        return
      }
      resolve({ socket: res.socket as Socket, head: Buffer.alloc(0) })
    })
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') reject(client.connectError(e.code))
      else reject(e)
    })
    req.end(payload)
  })
}

/**
 * Splits docker's multiplexed stream (8-byte headers: stream type, 3 zero bytes, big-endian
 * length) into stdout and stderr. Stream 3 carries a daemon error, returned at the end.
 */
export class StdcopyDemuxer {
  private pending: Buffer = Buffer.alloc(0)
  systemError = ''

  constructor(
    private readonly stdout: Writable | null,
    private readonly stderr: Writable | null,
  ) {}

  /** Returns false when a destination asked to slow down. */
  push(chunk: Buffer): boolean {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    let ok = true
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4)
      if (this.pending.length < 8 + size) break
      const kind = this.pending[0]
      const frame = this.pending.subarray(8, 8 + size)
      this.pending = this.pending.subarray(8 + size)
      if (kind === 0 || kind === 1) ok = (this.stdout?.write(frame) ?? true) && ok
      else if (kind === 2) ok = (this.stderr?.write(frame) ?? true) && ok
      else if (kind === 3) this.systemError += frame.toString('utf8')
      else throw new Error(`Unrecognized input header: ${kind}`)
    }
    return ok
  }
}

export interface StreamOptions {
  tty: boolean
  stdin: Readable | null
  stdout: Writable | null
  stderr: Writable | null
  /** With a tty and stdin: the detach key bytes that end the stream (the container runs on). */
  detachKeys?: number[]
}

/**
 * Pumps a hijacked connection: stdin to the socket (half-closing it when stdin ends), and the
 * socket to stdout/stderr. Resolves when the daemon closes its side: true when the user typed
 * the detach keys instead.
 */
export function streamHijacked(h: Hijacked, o: StreamOptions): Promise<boolean> {
  const { socket } = h
  return new Promise((resolve, reject) => {
    const demux = o.tty ? null : new StdcopyDemuxer(o.stdout, o.stderr)
    const onData = (c: Buffer) => {
      if (demux) {
        if (!demux.push(c)) waitDrain()
      } else if (o.stdout && !o.stdout.write(c)) waitDrain()
    }
    const waitDrain = () => {
      socket.pause()
      const dest = o.stdout?.writableNeedDrain ? o.stdout : o.stderr
      if (dest) dest.once('drain', () => socket.resume())
      else socket.resume()
    }
    if (h.head.length) onData(h.head)
    socket.on('data', onData)
    socket.on('error', (e) => {
      cleanupStdin()
      reject(e)
    })
    socket.on('end', () => {
      cleanupStdin()
      if (demux?.systemError) reject(new Error(demux.systemError))
      else resolve(false)
    })
    socket.on('close', () => {
      cleanupStdin()
      resolve(false)
    })
    let cleanupStdin = () => {}
    if (o.stdin) {
      const input = o.stdin
      const scanner =
        o.tty && o.detachKeys && o.detachKeys.length > 0
          ? new DetachScanner(o.detachKeys)
          : undefined
      const onIn = (chunk: Buffer) => {
        let c = chunk
        if (scanner) {
          const r = scanner.push(chunk)
          c = r.forward
          if (r.detached) {
            cleanupStdin()
            const bye = () => {
              socket.destroy()
              resolve(true)
            }
            if (c.length > 0) socket.write(c, bye)
            else bye()
            return
          }
          if (c.length === 0) return
        }
        if (!socket.write(c)) {
          input.pause()
          socket.once('drain', () => input.resume())
        }
      }
      const onEnd = () => {
        // half-close: the container sees EOF on stdin while we keep reading its output
        if (!socket.destroyed) socket.end()
      }
      input.on('data', onIn)
      input.once('end', onEnd)
      cleanupStdin = () => {
        input.off('data', onIn)
        input.off('end', onEnd)
        input.pause()
        cleanupStdin = () => {}
      }
    }
  })
}

/** Puts the terminal in raw mode for -t, restoring it on every exit path. */
export function setRawTerminal(): () => void {
  const stdin = process.stdin
  if (!stdin.isTTY) return () => {}
  stdin.setRawMode(true)
  let restored = false
  const restore = () => {
    if (restored) return
    restored = true
    try {
      stdin.setRawMode(false)
    } catch {
      // the terminal may already be gone
      restored = true
    }
  }
  process.once('exit', restore)
  // A signal that ends berth must not leave the user's terminal raw.
  const onSignal = (sig: NodeJS.Signals) => {
    restore()
    process.kill(process.pid, sig)
  }
  for (const sig of ['SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.once(sig, onSignal)
  return () => {
    for (const sig of ['SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.off(sig, onSignal)
    restore()
  }
}

/** Sends the terminal size now and on every SIGWINCH (POST /containers/{id}/resize). */
export function monitorTtySize(
  client: Client,
  id: string,
  exec = false,
  nudge = false,
): () => void {
  if (!process.stdout.isTTY) return () => {}
  const path = exec ? `/exec/${id}/resize` : `/containers/${encodeURIComponent(id)}/resize`
  const resize = (h: number, w: number) =>
    client.request('POST', path, { query: { h, w } }).then((r) => {
      r.resume()
    })
  const send = () => {
    const [w, hgt] = process.stdout.getWindowSize()
    resize(hgt, w).catch(() => {
      // resizing is best effort, as in docker
    })
  }
  if (nudge) {
    // As docker attach does: a size change makes the program redraw (a shell its prompt).
    const [w, hgt] = process.stdout.getWindowSize()
    resize(hgt + 1, w + 1).then(send, send)
  } else send()
  process.on('SIGWINCH', send)
  return () => process.off('SIGWINCH', send)
}
