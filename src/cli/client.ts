// The Engine API client: HTTP/1.1 over a unix socket with keep-alive, docker's API version
// negotiation (min of ours and the daemon's) and docker's error words.
import type { Agent, IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { API_VERSION } from './defaults.ts'
import {
  getWhole,
  streamRequest,
  WholeGetError,
  type StreamResponse,
  type WholeResponse,
} from './wholeget.ts'

export { API_VERSION, DEFAULT_SOCKET } from './defaults.ts'

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
  /** the body for the API version the request goes out at (docker shapes some by version) */
  bodyFor?: (apiVersion: string) => unknown
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

export function compareVersions(a: string, b: string): number {
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

/** statusText: the reason phrase of the answer's status line, for an error with no body */
export function errorFromBody(status: number, body: Buffer, statusText = ''): DaemonError {
  const text = body.toString('utf8')
  let msg = text.trim()
  try {
    const j = JSON.parse(text) as { message?: string }
    if (typeof j.message === 'string') msg = j.message
  } catch {
    // not JSON: docker prints the raw body
  }
  if (!msg) msg = `${status} ${statusText}`.trim()
  return new DaemonError(`Error response from daemon: ${msg}`, status)
}

export interface ClientOptions {
  /**
   * Called once when nothing answers on the socket (it may start the daemon); the request that
   * found no daemon is then sent again. Nothing of a request reaches a socket nobody listens on.
   */
  onNoDaemon?: (c: Client) => Promise<void>
}

/** True for a request body that is a stream: it can be sent only once. */
function isStream(b: unknown): b is Readable {
  return typeof b === 'object' && b !== null && typeof (b as Readable).pipe === 'function'
}

export class Client {
  /** node:http's agent, made with the first request that needs it (httpsend.ts) */
  private agent: Agent | undefined
  version = API_VERSION
  serverVersion: string | undefined
  osType: string | undefined
  /** the daemon has experimental features on (its ping says so) */
  experimental = false
  /** the ping's Swarm header: "inactive", or "active/manager" etc. */
  swarm: string | undefined
  /** the daemon has accepted `version` (or named its own in a ping) */
  private settled = false
  /**
   * The one start of the daemon (onNoDaemon) this client makes: requests sent at once (ps asks
   * two things) that all find no daemon wait for the same start, and none starts a second.
   */
  private daemonStart: Promise<void> | undefined

  constructor(
    readonly socketPath: string,
    private readonly opts: ClientOptions = {},
  ) {}

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
  async ping(signal?: AbortSignal): Promise<void> {
    const res = await this.raw('GET', '/_ping', { signal })
    await readBody(res)
    this.swarm = header(res, 'swarm')
    this.serverVersion = header(res, 'api-version')
    this.osType = header(res, 'ostype')
    this.experimental = header(res, 'docker-experimental') === 'true'
    this.version = negotiate(this.serverVersion)
    this.settled = true
  }

  /**
   * Settles the API version before a request that cannot be sent twice (a streamed body, a
   * hijacked connection); other requests settle it on their first answer.
   */
  async ensureNegotiated(): Promise<void> {
    if (this.settled) return
    try {
      await this.ping()
    } catch (e) {
      if (!this.mayStartDaemon(e)) throw e
      await this.startDaemonOnce()
      await this.ping()
    }
  }

  /**
   * A request with the version prefix; rejects with DaemonError on status >= 400.
   *
   * The first request goes out at our own API version, with no ping before it (docker pings
   * first, which costs a round trip on every command). A daemon older than us answers 400
   * naming its version in the Api-Version header, before doing anything; the request is then
   * sent again at the version docker would have negotiated.
   */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    if (isStream(opts.body)) await this.ensureNegotiated()
    const sentAt = this.version
    let res = await this.send(method, path, opts)
    if (this.resendAfter(res.statusCode ?? 500, header(res, 'api-version'), sentAt)) {
      res.resume()
      res = await this.send(method, path, opts)
    }
    if (opts.onSent) opts.onSent = undefined
    if ((res.statusCode ?? 500) >= 400)
      throw errorFromBody(res.statusCode ?? 500, await readBody(res), res.statusMessage)
    return res
  }

  /**
   * Settles the API version from an answer that names the daemon's (a 404 for a path the daemon
   * does not have, such as berth's own /berth/v1/ against dockerd, names none); true when the
   * request, sent at sentAt, was refused for its version, by this answer or (for requests sent
   * side by side before the first answer came) by another, and must go again at the one settled.
   */
  private resendAfter(status: number, server: string | undefined, sentAt: string): boolean {
    if (!this.settled && server !== undefined) {
      this.settled = true
      this.serverVersion = server
      const v = negotiate(server)
      if (status === 400 && compareVersions(v, this.version) < 0) this.version = v
    }
    return status === 400 && compareVersions(this.version, sentAt) < 0
  }

  /** A GET whose whole answer is wanted: see wholeget.ts for why it does not use node:http. */
  private async getWhole(path: string, opts: RequestOptions): Promise<Buffer> {
    const sentAt = this.version
    let res = await this.sendWhole(path, opts)
    if (this.resendAfter(res.statusCode, res.headers['api-version'], sentAt)) {
      res = await this.sendWhole(path, opts)
    }
    if (res.statusCode >= 400) throw errorFromBody(res.statusCode, res.body, res.statusText)
    return res.body
  }

  private async sendWhole(path: string, opts: RequestOptions): Promise<WholeResponse> {
    const get = (): Promise<WholeResponse> =>
      getWhole(
        this.socketPath,
        `/v${this.version}${path}${buildQuery(opts.query)}`,
        opts.headers,
      ).catch((e: unknown) => {
        const errno = e instanceof WholeGetError ? e.errno : undefined
        if (errno === 'ENOENT' || errno === 'ECONNREFUSED' || errno === 'EACCES')
          throw this.connectError(errno)
        throw e
      })
    try {
      return await get()
    } catch (e) {
      if (!this.mayStartDaemon(e)) throw e
      await this.startDaemonOnce()
      return get()
    }
  }

  /**
   * A request with a small body (or none) whose answer streams, on libuv's pipe handle as
   * getWhole's are (wholeget.ts's streamRequest: no node:http), else through request(); rejects
   * with DaemonError on status >= 400. The body is the answer's, read as it comes.
   */
  async requestStream(
    method: string,
    path: string,
    opts: RequestOptions & { body?: Buffer } = {},
  ): Promise<AsyncIterable<Buffer>> {
    const payload = opts.body ?? Buffer.alloc(0)
    const once = (): Promise<StreamResponse> | undefined =>
      streamRequest(
        this.socketPath,
        method,
        `/v${this.version}${path}${buildQuery(opts.query)}`,
        opts.headers ?? {},
        payload,
      )?.catch((e: unknown) => {
        const errno = e instanceof WholeGetError ? e.errno : undefined
        if (errno === 'ENOENT' || errno === 'ECONNREFUSED' || errno === 'EACCES')
          throw this.connectError(errno)
        throw e
      })
    const send = async (): Promise<StreamResponse | undefined> => {
      try {
        return await once()
      } catch (e) {
        if (!this.mayStartDaemon(e)) throw e
        await this.startDaemonOnce()
        return once()
      }
    }
    const sentAt = this.version
    let res = await send()
    if (res === undefined) return this.request(method, path, opts)
    if (this.resendAfter(res.statusCode, res.headers['api-version'], sentAt)) {
      for await (const _ of res.body) void _
      res = (await send())!
    }
    if (res.statusCode >= 400) {
      const parts: Buffer[] = []
      for await (const c of res.body) parts.push(c)
      throw errorFromBody(res.statusCode, Buffer.concat(parts), res.statusText)
    }
    return res.body
  }

  private mayStartDaemon(e: unknown): boolean {
    return e instanceof ConnectError && e.errno !== 'EACCES' && this.opts.onNoDaemon !== undefined
  }

  private startDaemonOnce(): Promise<void> {
    this.daemonStart ??= this.opts.onNoDaemon!(this)
    return this.daemonStart
  }

  private async send(method: string, path: string, opts: RequestOptions): Promise<IncomingMessage> {
    const at = (): RequestOptions =>
      opts.bodyFor ? { ...opts, body: opts.bodyFor(this.version) } : opts
    try {
      return await this.raw(method, `/v${this.version}${path}`, at())
    } catch (e) {
      if (!this.mayStartDaemon(e) || isStream(opts.body)) throw e
      await this.startDaemonOnce()
      return this.raw(method, `/v${this.version}${path}`, at())
    }
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const body = await this.bytes(method, path, opts)
    return (body.length ? JSON.parse(body.toString('utf8')) : undefined) as T
  }

  /** Like json() but returns the raw bytes (for inspect, which prints the daemon's JSON). */
  async bytes(method: string, path: string, opts: RequestOptions = {}): Promise<Buffer> {
    const plainGet =
      method === 'GET' &&
      opts.body === undefined &&
      opts.bodyFor === undefined &&
      opts.signal === undefined &&
      opts.onSent === undefined
    if (plainGet) return this.getWhole(path, opts)
    return readBody(await this.request(method, path, opts))
  }

  async raw(method: string, path: string, opts: RequestOptions): Promise<IncomingMessage> {
    const headers: Record<string, string> = { ...opts.headers }
    let payload: Buffer | undefined
    let stream: Readable | undefined
    const b = opts.body
    if (b !== undefined) {
      if (Buffer.isBuffer(b)) payload = b
      else if (isStream(b)) stream = b
      else {
        payload = Buffer.from(JSON.stringify(b))
        headers['Content-Type'] ??= 'application/json'
      }
    }
    if (payload) headers['Content-Length'] = String(payload.length)
    const h = await import('./httpsend.ts')
    this.agent ??= h.newAgent()
    try {
      return await h.send({
        socketPath: this.socketPath,
        agent: this.agent,
        method,
        path: path + buildQuery(opts.query),
        headers,
        ...(payload ? { payload } : {}),
        ...(stream ? { stream } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onSent ? { onSent: opts.onSent } : {}),
      })
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES')
        throw this.connectError(code)
      throw e
    }
  }
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Reads a stream of JSON values, one a line (progress messages, stats samples, events). */
export async function* jsonLines<T>(res: AsyncIterable<unknown>): AsyncGenerator<T> {
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
