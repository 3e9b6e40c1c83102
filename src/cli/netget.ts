// The whole GET of wholeget.ts over node:net, where libuv's pipe handle cannot be used; a
// module of its own so that node:net is loaded only then.
import net from 'node:net'
import { WholeGetError, type Done } from './wholeget.ts'

/** The request over node:net. */
export function netGet(socketPath: string, head: string, done: Done): void {
  const chunks: Buffer[] = []
  const socket = net.connect(socketPath)
  // Written, not ended: a server may drop a connection whose client has finished sending
  // before it answers (berthd does, for an answer that takes a while); it closes it itself
  // after the answer, as the request asks.
  socket.on('connect', () => socket.write(head))
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.on('error', (e: NodeJS.ErrnoException) =>
    done(new WholeGetError(e.message, e.code), Buffer.alloc(0)),
  )
  socket.on('end', () => done(undefined, Buffer.concat(chunks)))
}
