// For tests: a recording proxy on a unix socket in front of a real daemon. Every request a
// client sends (method, path with query, body) is recorded and passed on unchanged, answers
// and hijacked streams come back unchanged, so the docker CLI and berth can be run one after
// the other through it and what each sent compared.
import http from 'node:http'
import net from 'node:net'

export interface Recorded {
  method: string
  /** path with the query, as sent (the API version prefix included) */
  url: string
  body: Buffer
}

export interface RecordingProxy {
  readonly socket: string
  /** what was sent since the last take(), in order */
  take(): Recorded[]
  close(): Promise<void>
}

export async function recordingProxy(daemon: string, socket: string): Promise<RecordingProxy> {
  let log: Recorded[] = []
  const conns = new Set<net.Socket>()
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      log.push({ method: req.method ?? '', url: req.url ?? '', body })
      const headers = { ...req.headers }
      delete headers['transfer-encoding']
      headers['content-length'] = String(body.length)
      const up = http.request(
        { socketPath: daemon, method: req.method, path: req.url, headers },
        (r) => {
          res.writeHead(r.statusCode ?? 500, r.headers)
          // a long poll (wait, events) answers its headers first: pass them on at once
          res.flushHeaders()
          r.pipe(res)
        },
      )
      up.on('error', (e) => res.destroy(e))
      up.end(body)
    })
  })
  // attach and exec start: the request and the raw stream after it go through as bytes
  server.on('upgrade', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    // the request's body (Content-Length bytes) may come after the headers, or in `head`
    const entry: Recorded = { method: req.method ?? '', url: req.url ?? '', body: Buffer.alloc(0) }
    log.push(entry)
    const want = Number(req.headers['content-length'] ?? 0)
    let got = head
    const take = (c: Buffer) => {
      got = Buffer.concat([got, c])
      entry.body = got.subarray(0, want)
      if (got.length >= want) client.off('data', take)
    }
    take(Buffer.alloc(0))
    if (got.length < want) client.on('data', take)
    const up = net.connect(daemon)
    conns.add(up)
    up.on('close', () => conns.delete(up))
    let raw = `${req.method} ${req.url} HTTP/1.1\r\n`
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      raw += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`
    }
    up.write(raw + '\r\n')
    up.write(head)
    up.pipe(client)
    client.pipe(up)
    up.on('error', () => client.destroy())
    client.on('error', () => up.destroy())
  })
  server.on('connection', (c: net.Socket) => {
    conns.add(c)
    c.on('close', () => conns.delete(c))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socket, resolve)
  })
  return {
    socket,
    take() {
      const l = log
      log = []
      return l
    },
    async close() {
      for (const c of conns) c.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
