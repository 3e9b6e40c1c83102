// A GET whose whole answer a command wants (version, ps, images, inspect ...), over a connection
// of its own to berthd's unix socket, without node:http. Loading Node's HTTP client and running
// it for the first time is most of a short command's own start-up: measured with callgrind, one
// request through node:http costs about 58M instructions over `node -e 0`, the same request over
// node:net about 30M, and on libuv's pipe handle directly (rawGet below) close to nothing.
// Everything that streams (logs, events, attach, pull, a request body) still goes through
// node:http.
//
// The answer is read to the end of the connection (the request asks for `Connection: close`)
// and then taken apart: the status line, the headers, and the body as Content-Length or chunked
// transfer coding give it (RFC 9112, sections 6 and 7.1).
import util from 'node:util'

export interface WholeResponse {
  statusCode: number
  /** the status line's reason phrase */
  statusText: string
  /** header names in lower case; a repeated header's values joined with ", " */
  headers: Record<string, string>
  body: Buffer
}

/** The connection failed: errno is Node's code (ENOENT, ECONNREFUSED, EACCES ...). */
export class WholeGetError extends Error {
  constructor(
    message: string,
    readonly errno: string | undefined,
  ) {
    super(message)
  }
}

export function getWhole(
  socketPath: string,
  path: string,
  headers: Readonly<Record<string, string>> = {},
): Promise<WholeResponse> {
  let head = `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n`
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
  head += '\r\n'
  return new Promise((resolve, reject) => {
    const done = (e: WholeGetError | undefined, raw: Buffer) => {
      if (e) return reject(e)
      try {
        resolve(parseResponse(raw))
      } catch (err) {
        reject(err)
      }
    }
    // node:net is loaded only where the pipe handle cannot be used
    if (!rawGet(socketPath, head, done))
      import('./netget.ts').then((m) => m.netGet(socketPath, head, done), reject)
  })
}

/** Called once, with the error or with the whole answer as read */
export type Done = (e: WholeGetError | undefined, raw: Buffer) => void

/**
 * The same request on libuv's pipe handle itself (process.binding('pipe_wrap'), which
 * node:net wraps): loading node:net and its streams, and running them the first time, is half
 * of what a short command costs above `node -e 0` (callgrind: about 24M instructions of 50M).
 * false, having done nothing, where this Node's handles are not the ones expected (then
 * node:net does it).
 */
function rawGet(socketPath: string, head: string, done: Done): boolean {
  const chunks: Buffer[] = []
  return rawExchange(socketPath, Buffer.from(head, 'latin1'), (e, chunk) => {
    if (e) done(e, Buffer.alloc(0))
    else if (chunk) chunks.push(chunk)
    else done(undefined, Buffer.concat(chunks))
  })
}

/**
 * Sends `request` (head and body) on the pipe handle and calls `on` with each piece of the
 * answer as it comes, then with neither at its end (or with the error, once). false, having
 * done nothing, where this Node's handles are not the ones expected.
 */
function rawExchange(
  socketPath: string,
  request: Buffer,
  on: (e: WholeGetError | undefined, chunk: Buffer | undefined) => void,
): boolean {
  const b = bindings()
  if (b === undefined) return false
  const { pipe, stream, errname } = b
  const handle = new pipe.Pipe(pipe.constants.SOCKET)
  const fail = (syscall: string, status: number) => {
    handle.close()
    const code = errname(status)
    const where = syscall === 'connect' ? ` ${socketPath}` : ''
    on(new WholeGetError(`${syscall} ${code}${where}`, code), undefined)
  }
  const state = stream.streamBaseState
  handle.onread = (ab: ArrayBuffer | undefined) => {
    const n = state[stream.kReadBytesOrError]!
    // a copy: the next read may reuse the buffer
    if (n > 0 && ab)
      on(undefined, Buffer.from(Buffer.from(ab, state[stream.kArrayBufferOffset]!, n)))
    else if (n === UV_EOF) {
      handle.close()
      on(undefined, undefined)
    } else if (n < 0) fail('read', n)
  }
  const req = new pipe.PipeConnectWrap()
  req.oncomplete = (status: number) => {
    if (status < 0) return fail('connect', status)
    const w = new stream.WriteWrap()
    w.handle = handle
    w.oncomplete = (st: number) => {
      if (st < 0) fail('write', st)
    }
    const err = handle.writeBuffer(w, request)
    if (err < 0) return fail('write', err)
    const rerr = handle.readStart()
    if (rerr < 0) fail('read', rerr)
  }
  const err = handle.connect(req, socketPath)
  if (err < 0) fail('connect', err)
  return true
}

/** libuv's end of file, as a read reports it */
const UV_EOF = -4095

interface PipeHandle {
  onread: (ab: ArrayBuffer | undefined) => void
  connect(req: unknown, path: string): number
  readStart(): number
  writeBuffer(req: unknown, b: Buffer): number
  close(): void
}

interface Bindings {
  pipe: {
    Pipe: new (type: number) => PipeHandle
    PipeConnectWrap: new () => { oncomplete: (status: number) => void }
    constants: { SOCKET: number }
  }
  stream: {
    WriteWrap: new () => { handle: PipeHandle; oncomplete: (status: number) => void }
    streamBaseState: Int32Array
    kReadBytesOrError: number
    kArrayBufferOffset: number
  }
  errname: (status: number) => string
}

let checked: Bindings | null | undefined

/** The two bindings, when they have the shape this file was written against (Node 20). */
function bindings(): Bindings | undefined {
  if (checked === undefined) {
    checked = null
    // written against Node 20's handles; another Node takes node:net
    if (process.versions.node.split('.')[0] !== '20') return undefined
    try {
      // process.binding is deprecated for new code (DEP0111) but kept, and prints nothing
      const binding = (process as unknown as { binding(name: string): unknown }).binding
      const pipe = binding('pipe_wrap') as Bindings['pipe']
      const stream = binding('stream_wrap') as Bindings['stream']
      const p = pipe.Pipe.prototype as unknown as Record<string, unknown>
      if (
        typeof pipe.PipeConnectWrap === 'function' &&
        typeof pipe.constants?.SOCKET === 'number' &&
        typeof stream.WriteWrap === 'function' &&
        stream.streamBaseState instanceof Int32Array &&
        typeof stream.kReadBytesOrError === 'number' &&
        typeof stream.kArrayBufferOffset === 'number' &&
        ['connect', 'readStart', 'writeBuffer', 'close'].every((m) => typeof p[m] === 'function')
      ) {
        checked = { pipe, stream, errname: (s) => util.getSystemErrorName(s) }
      }
    } catch {
      // no such bindings here: node:net
    }
  }
  return checked ?? undefined
}

/** An HTTP/1.1 response read whole; throws on anything that is not one. */
export function parseResponse(raw: Buffer): WholeResponse {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) throw malformed('no end of headers')
  const { statusCode, statusText, headers } = parseHead(raw.subarray(0, end))
  const rest = raw.subarray(end + 4)
  let body: Buffer
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(rest)
  else if (headers['content-length'] !== undefined) {
    const n = contentLength(headers)
    if (rest.length < n) throw malformed(`body cut short (${rest.length} of ${n} bytes)`)
    body = rest.subarray(0, n)
  } else body = rest
  return { statusCode, statusText, headers, body }
}

function contentLength(headers: Record<string, string>): number {
  const n = Number(headers['content-length'])
  if (!Number.isInteger(n) || n < 0) throw malformed('Content-Length')
  return n
}

/** The status line and the headers (without the blank line after them). */
function parseHead(raw: Buffer): Omit<WholeResponse, 'body'> {
  const lines = raw.toString('latin1').split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '')
  if (!status) throw malformed(`status line ${JSON.stringify(lines[0])}`)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) throw malformed(`header line ${JSON.stringify(line)}`)
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value
  }
  return { statusCode: Number(status[1]), statusText: status[2] ?? '', headers }
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = []
  chunkedDecoder(
    (b) => parts.push(b),
    () => undefined,
  )(data, true)
  return Buffer.concat(parts)
}

function malformed(what: string): WholeGetError {
  return new WholeGetError(`malformed HTTP response from the daemon: ${what}`, undefined)
}

/** An answer whose body is read as it comes (streamRequest). */
export interface StreamResponse extends Omit<WholeResponse, 'body'> {
  body: AsyncIterable<Buffer>
}

/**
 * A request with a small body whose answer streams (berth build's rebuild of an unchanged
 * context: its progress), on the pipe handle as getWhole is: node:http, node:net and their
 * streams are never loaded. The promise settles with the status and headers; the body is then
 * read piece by piece (Content-Length, chunked, or to the end of the connection). undefined
 * where the pipe handle cannot be used (the caller sends it with node:http).
 */
export function streamRequest(
  socketPath: string,
  method: string,
  path: string,
  headers: Readonly<Record<string, string>>,
  body: Buffer,
): Promise<StreamResponse> | undefined {
  let head = `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n`
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
  head += `Content-Length: ${body.length}\r\n\r\n`
  const queue = new BodyQueue()
  let pending: Buffer = Buffer.alloc(0)
  let decode: ((data: Buffer, eof: boolean) => void) | undefined
  let settle!: { resolve: (r: StreamResponse) => void; reject: (e: unknown) => void }
  const answer = new Promise<StreamResponse>((resolve, reject) => (settle = { resolve, reject }))
  const fail = (e: unknown) => {
    settle.reject(e)
    queue.fail(e)
  }
  const started = rawExchange(
    socketPath,
    Buffer.concat([Buffer.from(head, 'latin1'), body]),
    (e, chunk) => {
      if (e) return fail(e)
      try {
        if (decode) return decode(chunk ?? Buffer.alloc(0), chunk === undefined)
        pending = chunk ? Buffer.concat([pending, chunk]) : pending
        const end = pending.indexOf('\r\n\r\n')
        if (end < 0) {
          if (!chunk) throw malformed('no end of headers')
          return
        }
        const h = parseHead(pending.subarray(0, end))
        decode = bodyDecoder(h.headers, queue)
        settle.resolve({ ...h, body: queue })
        decode(pending.subarray(end + 4), chunk === undefined)
      } catch (err) {
        fail(err)
      }
    },
  )
  return started ? answer : undefined
}

/** Takes a body's bytes as they come and gives its content to `queue`. */
function bodyDecoder(
  headers: Record<string, string>,
  queue: BodyQueue,
): (data: Buffer, eof: boolean) => void {
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? ''))
    return chunkedDecoder(
      (b) => queue.push(b),
      () => queue.end(),
    )
  let left = headers['content-length'] === undefined ? Infinity : contentLength(headers)
  return (data, eof) => {
    if (left <= 0) return
    const take = data.subarray(0, Math.min(data.length, left))
    if (take.length) queue.push(take)
    left -= take.length
    if (left <= 0 || (eof && left === Infinity)) return queue.end()
    if (eof) throw malformed(`body cut short (${left} bytes missing)`)
  }
}

/**
 * Decodes a chunked body as its bytes come (all at once too): each chunk's content to `push`,
 * `end` after the last (zero-size) chunk; what is cut short at `eof` or malformed throws.
 */
function chunkedDecoder(
  push: (b: Buffer) => void,
  end: () => void,
): (data: Buffer, eof: boolean) => void {
  let buf: Buffer = Buffer.alloc(0)
  let ended = false
  return (data, eof) => {
    if (ended) return
    buf = buf.length ? Buffer.concat([buf, data]) : data
    for (;;) {
      const eol = buf.indexOf('\r\n')
      if (eol < 0) {
        if (eof) throw malformed('chunk size line cut short')
        return
      }
      const sizeText = buf.subarray(0, eol).toString('latin1').split(';')[0]!.trim()
      if (!/^[0-9a-fA-F]+$/.test(sizeText))
        throw malformed(`chunk size ${JSON.stringify(sizeText)}`)
      const size = parseInt(sizeText, 16)
      if (size === 0) {
        ended = true
        return end()
      }
      if (buf.length < eol + 2 + size + 2) {
        if (eof) throw malformed('chunk cut short')
        return
      }
      push(buf.subarray(eol + 2, eol + 2 + size))
      buf = buf.subarray(eol + 2 + size + 2)
    }
  }
}

/** The pieces of a body, read with for await as they come. */
class BodyQueue implements AsyncIterable<Buffer> {
  private readonly pieces: Buffer[] = []
  private done = false
  private error: unknown
  private wake: (() => void) | undefined

  push(b: Buffer): void {
    this.pieces.push(b)
    this.wake?.()
  }

  end(): void {
    this.done = true
    this.wake?.()
  }

  fail(e: unknown): void {
    if (this.done) return
    this.error = e
    this.done = true
    this.wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      const b = this.pieces.shift()
      if (b) {
        yield b
        continue
      }
      if (this.error !== undefined) throw this.error
      if (this.done) return
      await new Promise<void>((r) => (this.wake = r))
      this.wake = undefined
    }
  }
}
