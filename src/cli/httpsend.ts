// The requests that go through node:http (a body, a stream, a long answer read as it comes).
// client.ts loads this module on its first such request, so a command whose requests are all
// whole GETs (wholeget.ts) never loads Node's HTTP client.
import http from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'

/** One keep-alive agent per client, for the requests of one command. */
export function newAgent(): http.Agent {
  return new http.Agent({ keepAlive: true })
}

export interface SendOptions {
  socketPath: string
  agent: http.Agent
  method: string
  path: string
  headers: Record<string, string>
  payload?: Buffer
  stream?: Readable
  signal?: AbortSignal
  onSent?: () => void
}

/** Resolves with the answer's head (its body still to read); rejects with Node's error. */
export function send(o: SendOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      socketPath: o.socketPath,
      path: o.path,
      method: o.method,
      headers: o.headers,
      agent: o.agent,
      signal: o.signal,
      ...NO_SERVERNAME,
    })
    req.on('response', resolve)
    if (o.onSent) req.once('finish', o.onSent)
    req.on('error', reject)
    if (o.stream) {
      o.stream.on('error', (e) => req.destroy(e))
      o.stream.pipe(req)
    } else req.end(o.payload)
  })
}

/**
 * Options for every http.request to the socket. Without a servername, Node's agent works one
 * out from the host name with net.isIP, whose first call compiles the IPv6 pattern: tens of
 * milliseconds of a CLI's start-up, for a TLS name a unix socket never uses.
 */
export const NO_SERVERNAME = { servername: '' } as const
