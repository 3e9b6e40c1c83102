// A hijacked client's input, as moby's stream.CopyStreams handles it: with a TTY it is watched
// for the detach keys (the session ends, the process keeps running) and its end ends the
// session; without one, its end closes the process's stdin when the caller says so.
import type { Socket } from 'node:net'
import { InvalidArgument } from '../engine/errors.ts'
import { DEFAULT_DETACH_KEYS, DetachScanner, parseDetachKeys } from '../lib/detachkeys.ts'

export interface StdinTarget {
  tty: boolean
  /** Detach key bytes; Docker's ctrl-p,ctrl-q when empty. */
  keys: readonly number[]
  write(data: Uint8Array): Promise<void>
  /** The client's input ended (without a TTY): close the process's stdin if that applies. */
  onEnd(): void
  /** The session must end: detach keys were typed, or a TTY client's input ended. */
  onDetach(): void
}

/** Parses the `detachKeys` query parameter with Docker's words for a bad one. */
export function detachKeysParam(value: string | undefined): number[] {
  if (!value) return []
  try {
    return parseDetachKeys(value)
  } catch {
    throw new InvalidArgument(`Invalid detach keys (${value}) provided`)
  }
}

/** Forwards the client's input to the process, one chunk at a time (backpressure). */
export function forwardStdin(socket: Socket, t: StdinTarget): void {
  const scanner = t.tty
    ? new DetachScanner(t.keys.length > 0 ? t.keys : DEFAULT_DETACH_KEYS)
    : undefined
  let detached = false
  socket.on('data', (chunk: Buffer) => {
    if (detached) return
    let data = chunk
    if (scanner) {
      const r = scanner.push(chunk)
      data = r.forward
      if (r.detached) {
        detached = true
        const done = data.length > 0 ? t.write(data).catch(() => undefined) : Promise.resolve()
        void done.then(() => t.onDetach())
        return
      }
      if (data.length === 0) return
    }
    socket.pause()
    t.write(data).then(
      () => socket.resume(),
      () => socket.destroy(),
    )
  })
  socket.on('end', () => {
    if (detached) return
    if (t.tty) t.onDetach()
    else t.onEnd()
  })
  // hijack() hands the socket over paused; what arrived meanwhile is read now, in order.
  socket.resume()
}
