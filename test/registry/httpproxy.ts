// A small HTTP proxy on loopback for the proxy tests: CONNECT tunnels (HTTPS) and forwarded
// absolute-URI requests (plain HTTP), as squid or tinyproxy serve them. Host names in `hosts`
// resolve to the address given (the proxy resolves names, not its clients: a registry named
// registry.test is reached only through it). It records every request it is asked for.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'

export interface ProxyLogEntry {
  method: string
  /** host:port for CONNECT, the absolute URL otherwise. */
  target: string
  /** The Proxy-Authorization header the client sent, if any. */
  auth?: string
}

export interface TestProxy {
  /** http://127.0.0.1:PORT */
  url: string
  log: ProxyLogEntry[]
  stop(): Promise<void>
}

export async function startHttpProxy(hosts: Record<string, string> = {}): Promise<TestProxy> {
  const log: ProxyLogEntry[] = []
  const sockets = new Set<Socket>()
  const resolveHost = (h: string): string => hosts[h.toLowerCase()] ?? h
  const record = (req: IncomingMessage, target: string): void => {
    const auth = req.headers['proxy-authorization']
    log.push({ method: req.method ?? '', target, ...(auth ? { auth } : {}) })
  }
  const server: Server = createServer((req, res) => {
    const target = req.url ?? ''
    record(req, target)
    let url: URL
    try {
      url = new URL(target)
    } catch {
      res.writeHead(400).end('absolute URI required\n')
      return
    }
    const headers = { ...req.headers }
    delete headers['proxy-authorization']
    delete headers['proxy-connection']
    const up = httpRequest(
      {
        host: resolveHost(url.hostname),
        port: url.port || 80,
        method: req.method,
        path: url.pathname + url.search,
        headers,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers)
        upRes.pipe(res)
      },
    )
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    })
    req.pipe(up)
  })
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? ''
    record(req, target)
    const i = target.lastIndexOf(':')
    const up = connect(Number(target.slice(i + 1)), resolveHost(target.slice(0, i)))
    sockets.add(up)
    up.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) up.write(head)
      up.pipe(client)
      client.pipe(up)
    })
    const close = (): void => {
      up.destroy()
      client.destroy()
    }
    up.on('error', () => {
      if (client.writable) client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n')
      close()
    })
    client.on('error', close)
    client.on('close', close)
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
