// The whole-GET path of the CLI's client: answers read from a real node:http server on a unix
// socket (fixed length, chunked, no length, errors), and the client's version negotiation and
// daemon-less errors through it.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { Client, ConnectError, DaemonError } from './client.ts'
import { netGet } from './netget.ts'
import { getWhole, parseResponse, WholeGetError, type WholeResponse } from './wholeget.ts'

let dir: string
let socket: string
let server: http.Server
const seen: { url: string; headers: http.IncomingHttpHeaders }[] = []
/** Ends the /stream answer (set once its first line is written). */
let streamGate: (() => void) | undefined

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-wholeget-'))
  socket = join(dir, 'd.sock')
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers })
    const path = (req.url ?? '').replace(/^\/v[0-9.]+/, '')
    if (req.url?.startsWith('/v1.99/')) {
      // an older daemon refuses a newer version, naming its own
      res.writeHead(400, { 'Api-Version': '1.41', 'Content-Type': 'application/json' })
      res.end(
        JSON.stringify({
          message: 'client version 1.99 is too new. Maximum supported API version is 1.41',
        }),
      )
      return
    }
    res.setHeader('Api-Version', '1.47')
    if (path.split('?')[0] === '/stream') {
      // a build's progress: the first line must reach the client before the last is written
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString('latin1')))
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.write(`{"body":${JSON.stringify(body)}}\n`)
        streamGate = () => res.end('{"last":true}\n')
      })
      return
    }
    if (path === '/chunked') {
      res.write('{"a":')
      res.write('[1,2,')
      res.end('3]}')
    } else if (path === '/fixed') {
      const body = JSON.stringify({ fixed: 'é' })
      res.writeHead(200, { 'Content-Length': Buffer.byteLength(body) })
      res.end(body)
    } else if (path === '/empty-error') {
      res.writeHead(503, 'Busy Right Now', { 'Content-Length': 0 })
      res.end()
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ message: 'page not found' }))
    }
  })
  await new Promise<void>((resolve) => server.listen(socket, resolve))
})

after(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await rm(dir, { recursive: true, force: true })
})

test('a chunked answer and a fixed-length one arrive whole, and the connection is closed', async () => {
  const chunked = await getWhole(socket, '/v1.47/chunked', { 'X-Test': 'yes' })
  assert.equal(chunked.statusCode, 200)
  assert.deepEqual(JSON.parse(chunked.body.toString()), { a: [1, 2, 3] })
  assert.equal(chunked.headers['api-version'], '1.47')
  const fixed = await getWhole(socket, '/v1.47/fixed')
  assert.deepEqual(JSON.parse(fixed.body.toString()), { fixed: 'é' })
  const last = seen.at(-2)!
  assert.equal(last.headers['x-test'], 'yes')
  assert.equal(last.headers.connection, 'close')
})

test('the client reads whole answers, settles the version, and words errors as docker does', async () => {
  const c = new Client(socket)
  c.version = '1.99'
  // refused for its version: sent again at the daemon's
  assert.deepEqual(await c.json('GET', '/fixed'), { fixed: 'é' })
  assert.equal(c.version, '1.41')
  assert.deepEqual(
    seen.slice(-2).map((s) => s.url),
    ['/v1.99/fixed', '/v1.41/fixed'],
  )
  await assert.rejects(
    c.json('GET', '/nothing', { query: { all: true } }),
    (e: unknown) =>
      e instanceof DaemonError &&
      e.status === 404 &&
      e.message === 'Error response from daemon: page not found',
  )
  assert.equal(seen.at(-1)!.url, '/v1.41/nothing?all=1')
  await assert.rejects(
    c.bytes('GET', '/empty-error'),
    (e: unknown) =>
      e instanceof DaemonError && e.message === 'Error response from daemon: 503 Busy Right Now',
  )
})

test('no daemon: the connect error, or the daemon started once and the request sent again', async () => {
  const missing = join(dir, 'none.sock')
  await assert.rejects(
    new Client(missing).json('GET', '/version'),
    (e: unknown) => e instanceof ConnectError && e.errno === 'ENOENT',
  )
  let starts = 0
  const c = new Client(missing, {
    onNoDaemon: async (client) => {
      starts++
      // "start" the daemon: the client is pointed at the one that answers
      ;(client as unknown as { socketPath: string }).socketPath = socket
    },
  })
  assert.deepEqual(await c.json('GET', '/fixed'), { fixed: 'é' })
  assert.equal(starts, 1)
})

/** getWhole's request over node:net, the transport where libuv's pipe handle cannot be used */
function overNet(socketPath: string, path: string): Promise<WholeResponse> {
  return new Promise((resolve, reject) =>
    netGet(
      socketPath,
      `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      (e, raw) => (e ? reject(e) : resolve(parseResponse(raw))),
    ),
  )
}

test('over the pipe handle and over node:net: the same answer, the same connect errors', async () => {
  const [direct, viaNet] = await Promise.all([
    getWhole(socket, '/v1.47/chunked'),
    overNet(socket, '/v1.47/chunked'),
  ])
  assert.equal(direct.statusCode, viaNet.statusCode)
  assert.deepEqual(direct.body, viaNet.body)
  const notSocket = join(dir, 'plain-file')
  await writeFile(notSocket, '')
  for (const [path, errno] of [
    [join(dir, 'none.sock'), 'ENOENT'],
    [notSocket, 'ECONNREFUSED'],
  ] as const) {
    for (const get of [getWhole, overNet]) {
      await assert.rejects(
        get(path, '/version'),
        (e: unknown) =>
          e instanceof WholeGetError &&
          e.errno === errno &&
          e.message === `connect ${errno} ${path}`,
        `${get.name} ${path}`,
      )
    }
  }
})

test('what is not an HTTP answer is refused, not guessed at', () => {
  const bad = (s: string) => () => parseResponse(Buffer.from(s, 'latin1'))
  assert.throws(bad('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n'), /no end of headers/)
  assert.throws(bad('SSH-2.0-OpenSSH\r\n\r\n'), /status line "SSH-2.0-OpenSSH"/)
  assert.throws(bad('HTTP/1.1 200 OK\r\nno colon\r\n\r\n'), /header line "no colon"/)
  assert.throws(bad('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc'), /cut short \(3 of 9/)
  assert.throws(
    bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n'),
    /chunk size "zz"/,
  )
  assert.throws(
    bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'),
    /chunk cut short/,
  )
  const ok = parseResponse(
    Buffer.from(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
    ),
  )
  assert.equal(ok.body.toString(), 'abcde')
  assert.equal(ok.headers['x-a'], '1, 2')
  assert.equal(ok.statusText, 'OK')
  // no length: the body is what came before the close
  assert.equal(parseResponse(Buffer.from('HTTP/1.0 200 OK\r\n\r\nrest')).body.toString(), 'rest')
})

test('requestStream: a POST on the pipe handle whose answer is read as it comes', async () => {
  const c = new Client(socket)
  const body = await c.requestStream('POST', '/stream', {
    query: { q: 'a b' },
    headers: { 'Content-Type': 'application/x-tar' },
    body: Buffer.from([0, 1, 0xff]),
  })
  const it = body[Symbol.asyncIterator]()
  const first = await it.next()
  assert.equal(first.done, false)
  assert.deepEqual(JSON.parse((first.value as Buffer).toString()), { body: '\u0000\u0001\u00ff' })
  assert.ok(streamGate, 'the answer is still open when its first line is read')
  streamGate()
  let rest = ''
  for (let r = await it.next(); !r.done; r = await it.next()) rest += (r.value as Buffer).toString()
  assert.equal(rest, '{"last":true}\n')
  assert.match(seen.at(-1)!.url, /^\/v[0-9.]+\/stream\?q=a(\+|%20)b$/)
  await assert.rejects(
    c.requestStream('POST', '/nowhere'),
    (e: unknown) =>
      e instanceof DaemonError && e.status === 404 && /page not found/.test(e.message),
  )
  await assert.rejects(
    new Client(join(dir, 'none.sock')).requestStream('POST', '/stream'),
    (e: unknown) => e instanceof ConnectError,
  )
})
