// A GET whose whole answer a command wants (version, ps, images, inspect ...), over a connection
// of its own to berthd's unix socket, without node:http. Loading Node's HTTP client and running
// it for the first time is most of a short command's own start-up: measured with callgrind, one
// request through node:http costs about 58M instructions over `node -e 0`, the same request over
// node:net about 30M. Everything that streams (logs, events, attach, pull, a request body) still
// goes through node:http.
//
// The answer is read to the end of the connection (the request asks for `Connection: close`)
// and then taken apart: the status line, the headers, and the body as Content-Length or chunked
// transfer coding give it (RFC 9112, sections 6 and 7.1).
import net from 'node:net'

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
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = net.connect(socketPath)
    let head = `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n`
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
    // Written, not ended: a server may drop a connection whose client has finished sending
    // before it answers (berthd does, for an answer that takes a while); it closes it itself
    // after the answer, as the request asks.
    socket.on('connect', () => socket.write(head + '\r\n'))
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', (e: NodeJS.ErrnoException) => reject(new WholeGetError(e.message, e.code)))
    socket.on('end', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks)))
      } catch (e) {
        reject(e)
      }
    })
  })
}

/** An HTTP/1.1 response read whole; throws on anything that is not one. */
export function parseResponse(raw: Buffer): WholeResponse {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) throw malformed('no end of headers')
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n')
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
  const rest = raw.subarray(end + 4)
  let body: Buffer
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(rest)
  else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length'])
    if (!Number.isInteger(n) || n < 0) throw malformed('Content-Length')
    if (rest.length < n) throw malformed(`body cut short (${rest.length} of ${n} bytes)`)
    body = rest.subarray(0, n)
  } else body = rest
  return { statusCode: Number(status[1]), statusText: status[2] ?? '', headers, body }
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = data.indexOf('\r\n', at)
    if (eol < 0) throw malformed('chunk size line cut short')
    const sizeText = data.subarray(at, eol).toString('latin1').split(';')[0]!.trim()
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw malformed(`chunk size ${JSON.stringify(sizeText)}`)
    const size = parseInt(sizeText, 16)
    if (size === 0) return Buffer.concat(parts)
    const start = eol + 2
    if (data.length < start + size + 2) throw malformed('chunk cut short')
    parts.push(data.subarray(start, start + size))
    at = start + size + 2
  }
}

function malformed(what: string): WholeGetError {
  return new WholeGetError(`malformed HTTP response from the daemon: ${what}`, undefined)
}
