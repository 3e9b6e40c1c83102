// The Engine API client: HTTP/1.1 over a unix socket with keep-alive, docker's API version
// negotiation (min of ours and the daemon's) and docker's error words.
import http from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'

export const API_VERSION = '1.45'
export const DEFAULT_SOCKET = '/run/berth/berth.sock'

/** An error status from the daemon; message is already "Error response from daemon: ...". */
export class DaemonError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message)
  }
}

/** Nothing answered on the socket. */
export class ConnectError extends Error {
  constructor(
    message: string,
    readonly errno: string,
  ) {
    super(message)
  }
}

export type Query = Record<string, string | number | boolean | string[] | undefined>

export interface RequestOptions {
  query?: Query
  body?: unknown
  headers?: Record<string, string>
  signal?: AbortSignal
  /** called once the whole request has been handed to the socket */
  onSent?: () => void
}

export function buildQuery(q: Query | undefined): string {
  if (!q) return ''
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) p.append(k, x)
    else if (typeof v === 'boolean') p.append(k, v ? '1' : '0')
    else p.append(k, String(v))
  }
  const s = p.toString()
  return s ? '?' + s : ''
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

export function negotiate(server: string | undefined): string {
  if (!server) return '1.24'
  return compareVersions(server, API_VERSION) < 0 ? server : API_VERSION
}

export async function readBody(res: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

export function errorFromBody(status: number, body: Buffer): DaemonError {
  const text = body.toString('utf8')
  let msg = text.trim()
  try {
    const j = JSON.parse(text) as { message?: string }
    if (typeof j.message === 'string') msg = j.message
  } catch {
    // not JSON: docker prints the raw body
  }
  if (!msg) msg = `${status} ${http.STATUS_CODES[status] ?? ''}`.trim()
  return new DaemonError(`Error response from daemon: ${msg}`, status)
}

export class Client {
  readonly agent: http.Agent
  version = API_VERSION
  serverVersion: string | undefined
  osType: string | undefined
  private negotiated = false

  constructor(readonly socketPath: string) {
    this.agent = new http.Agent({ keepAlive: true })
  }

  get hostURL(): string {
    return `unix://${this.socketPath}`
  }

  connectError(errno: string): ConnectError {
    return new ConnectError(
      `Cannot connect to the berth daemon at ${this.hostURL}. Is berthd running?`,
      errno,
    )
  }

  /** GET /_ping; records the daemon's API version. Rejects with ConnectError when nothing answers. */
  async ping(): Promise<void> {
    const res = await this.raw('GET', '/_ping', {})
    await readBody(res)
    this.serverVersion = header(res, 'api-version')
    this.osType = header(res, 'ostype')
    this.version = negotiate(this.serverVersion)
    this.negotiated = true
  }

  async ensureNegotiated(): Promise<void> {
    if (!this.negotiated) await this.ping()
  }

  /** A request with the version prefix; rejects with DaemonError on status >= 400. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    await this.ensureNegotiated()
    const res = await this.raw(method, `/v${this.version}${path}`, opts)
    if (opts.onSent) opts.onSent = undefined
    if ((res.statusCode ?? 500) >= 400)
      throw errorFromBody(res.statusCode ?? 500, await readBody(res))
    return res
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts)
    const body = await readBody(res)
    return (body.length ? JSON.parse(body.toString('utf8')) : undefined) as T
  }

  /** Like json() but returns the raw bytes (for inspect, which prints the daemon's JSON). */
  async bytes(method: string, path: string, opts: RequestOptions = {}): Promise<Buffer> {
    return readBody(await this.request(method, path, opts))
  }

  raw(method: string, path: string, opts: RequestOptions): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...opts.headers }
      let payload: Buffer | undefined
      let stream: Readable | undefined
      const b = opts.body
      if (b !== undefined) {
        if (Buffer.isBuffer(b)) payload = b
        else if (b && typeof (b as Readable).pipe === 'function') stream = b as Readable
        else {
          payload = Buffer.from(JSON.stringify(b))
          headers['Content-Type'] ??= 'application/json'
        }
      }
      if (payload) headers['Content-Length'] = String(payload.length)
      const req = http.request({
        socketPath: this.socketPath,
        path: path + buildQuery(opts.query),
        method,
        headers,
        agent: this.agent,
        signal: opts.signal,
      })
      req.on('response', resolve)
      if (opts.onSent) req.once('finish', opts.onSent)
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'EACCES')
          reject(this.connectError(e.code))
        else reject(e)
      })
      if (stream) {
        stream.on('error', (e) => req.destroy(e))
        stream.pipe(req)
      } else req.end(payload)
    })
  }
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Reads a stream of JSON values, one a line (progress messages, stats samples, events). */
export async function* jsonLines<T>(res: Readable): AsyncGenerator<T> {
  let buf = ''
  for await (const c of res) {
    buf += (c as Buffer).toString('utf8')
    let nl: number
    // daemons separate messages with \r\n or \n; a decoder must also cope with none
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim()
      buf = buf.slice(nl + 1)
      if (line) yield JSON.parse(line) as T
    }
  }
  if (buf.trim()) yield JSON.parse(buf.trim()) as T
}

/** Reads a JSON-lines progress stream (pull, load, import). */
export function jsonMessages(res: Readable): AsyncGenerator<JSONMessage> {
  return jsonLines<JSONMessage>(res)
}

export interface JSONMessage {
  stream?: string
  status?: string
  progress?: string
  id?: string
  error?: string
  errorDetail?: { message?: string; code?: number }
  aux?: unknown
}

/** jsonmessage.DisplayJSONMessagesStream for a non-terminal: one line per status message. */
export async function displayJSONMessages(
  res: Readable,
  write: (s: string) => void,
): Promise<void> {
  for await (const m of jsonMessages(res)) {
    if (m.errorDetail?.message || m.error)
      throw new JSONMessageError(m.errorDetail?.message ?? m.error ?? '')
    if (m.stream !== undefined) {
      write(m.stream)
      continue
    }
    if (m.status === undefined) continue
    // progress bars are only drawn on terminals; without one docker skips progress lines
    if (m.progress) continue
    let line = ''
    if (m.id) line += `${m.id}: `
    line += m.status
    write(line + '\n')
  }
}

export class JSONMessageError extends Error {}
