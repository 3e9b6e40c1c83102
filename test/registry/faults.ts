// A fault proxy in front of a test registry, on a loopback port of its own: it forwards requests
// as they are (the Host header too, so the registry's upload Locations point back at the proxy)
// and spoils the responses of the requests a rule matches: an error status, a connection
// dropped after N bytes, a body cut short but ended cleanly, a flipped byte, a rewritten body.
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type Server,
} from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type Fault =
  /** Answer this status without asking the registry. */
  | { kind: 'status'; status: number; body?: string }
  /** Forward, then drop the connection after `after` bytes of the body. */
  | { kind: 'drop'; after: number }
  /** Forward, then end the body cleanly after `keep` bytes, with a Content-Length to match. */
  | { kind: 'truncate'; keep: number }
  /** Forward with the byte at `at` flipped. */
  | { kind: 'corrupt'; at: number }
  /** Forward without the request's Range header, as a registry that ignores ranges answers. */
  | { kind: 'ignore-range' }
  /**
   * Forward `after` bytes of the body, then hold the rest (the connection stays open) until the
   * proxy stops; `onStall` is told when the bytes have gone.
   */
  | { kind: 'stall'; after: number; onStall?: () => void }
  /** Forward with the whole body replaced, and the digest header removed (a lying registry). */
  | { kind: 'rewrite'; fn: (body: Buffer) => Buffer; headers?: Record<string, string> }

export interface FaultRule {
  method?: string
  path: RegExp
  /** How many matching requests it spoils; Infinity for all. Default 1. */
  times?: number
  fault: Fault
}

export interface SeenRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  /** The rule's fault, when one was applied. */
  fault?: Fault['kind']
}

export interface FaultProxy {
  name: string
  url: string
  requests: SeenRequest[]
  add(rule: FaultRule): void
  clear(): void
  stop(): Promise<void>
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream)
  const rules: (FaultRule & { left: number })[] = []
  const requests: SeenRequest[] = []
  const sockets = new Set<Socket>()

  const server: Server = createServer((req, res) => {
    const seen: SeenRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
    }
    requests.push(seen)
    const rule = rules.find(
      (r) => r.left > 0 && (!r.method || r.method === req.method) && r.path.test(req.url ?? ''),
    )
    let fault: Fault | undefined
    if (rule) {
      rule.left--
      fault = rule.fault
      seen.fault = fault.kind
    }
    if (fault?.kind === 'status') {
      req.resume()
      res.writeHead(fault.status, { 'content-type': 'text/plain' })
      res.end(fault.body ?? `fault proxy: ${fault.status}\n`)
      return
    }
    const reqHeaders = { ...req.headers }
    if (fault?.kind === 'ignore-range') delete reqHeaders.range
    const up = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: reqHeaders,
      },
      (upRes) => {
        const headers = { ...upRes.headers }
        if (!fault || fault.kind === 'ignore-range') {
          res.writeHead(upRes.statusCode ?? 502, headers)
          upRes.pipe(res)
          return
        }
        if (fault.kind === 'rewrite' || fault.kind === 'truncate') {
          const chunks: Buffer[] = []
          upRes.on('data', (c: Buffer) => chunks.push(c))
          upRes.on('end', () => {
            let body: Buffer = Buffer.concat(chunks)
            if (fault.kind === 'rewrite') {
              body = fault.fn(body)
              delete headers['docker-content-digest']
              Object.assign(headers, fault.headers)
            } else {
              body = body.subarray(0, fault.keep)
            }
            headers['content-length'] = String(body.length)
            res.writeHead(upRes.statusCode ?? 502, headers)
            res.end(body)
          })
          return
        }
        res.writeHead(upRes.statusCode ?? 502, headers)
        let offset = 0
        upRes.on('data', (c: Buffer) => {
          if (fault.kind === 'stall') {
            if (offset + c.length >= fault.after) {
              res.write(c.subarray(0, Math.max(0, fault.after - offset)))
              offset = fault.after
              upRes.pause()
              upRes.removeAllListeners('data')
              fault.onStall?.()
              return
            }
          } else if (fault.kind === 'drop') {
            if (offset + c.length >= fault.after) {
              res.write(c.subarray(0, Math.max(0, fault.after - offset)))
              offset = fault.after
              upRes.destroy()
              // Let the bytes leave before the connection goes.
              res.socket?.end(() => res.socket?.destroy())
              return
            }
          } else if (
            fault.kind === 'corrupt' &&
            fault.at >= offset &&
            fault.at < offset + c.length
          ) {
            c = Buffer.from(c)
            c[fault.at - offset] = c[fault.at - offset]! ^ 0xff
          }
          offset += c.length
          res.write(c)
        })
        upRes.on('end', () => res.end())
      },
    )
    up.on('error', (err) => {
      res.writeHead(502)
      res.end(`fault proxy: ${err.message}\n`)
    })
    req.pipe(up)
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    name: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    add(rule) {
      rules.push({ ...rule, left: rule.times ?? 1 })
    },
    clear() {
      rules.length = 0
      requests.length = 0
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
