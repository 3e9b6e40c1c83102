import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { Conflict, NotFound } from '../engine/errors.ts'
import { fakeEngine, request, startTestServer, type TestServer } from './testing.ts'
import { systemRoutes } from './routes/system.ts'
import type { Router } from './router.ts'
import { Router as R } from './router.ts'
import { parseBool } from './query.ts'
import { parseFilters } from './filters.ts'
import { readBody, readJson, sendJson } from './http.ts'
import { JsonStream } from './stream.ts'
import { hijack, stdcopyFrame, StdDemuxer, demuxAll } from './hijack.ts'
import { compareVersions } from './version.ts'

function testRoutes(r: Router): void {
  r.get('/things/{name:.*}/json', (ctx) =>
    sendJson(ctx, 200, { name: ctx.params['name'], v: ctx.apiVersion }),
  )
  r.get('/things/{id}', (ctx) => sendJson(ctx, 200, { id: ctx.params['id'] }))
  r.get('/notfound', () => {
    throw new NotFound('No such thing: x')
  })
  r.get('/conflict', () => {
    throw new Conflict('busy')
  })
  r.get('/boom', () => {
    throw new Error('kaboom')
  })
  r.get('/query', (ctx) =>
    sendJson(ctx, 200, {
      all: ctx.query.bool('all'),
      quiet: ctx.query.boolOr('quiet', true),
      names: ctx.query.all('n'),
    }),
  )
  r.post('/json', async (ctx) =>
    sendJson(ctx, 200, { got: (await readJson<unknown>(ctx)) ?? null }),
  )
  r.get('/stream', (ctx) => {
    const out = new JsonStream(ctx)
    out.status('Pulling fs layer', 'abc')
    out.fail(new NotFound('gone midway'))
    out.end()
  })
  r.get('/stream-early', (ctx) => {
    const out = new JsonStream(ctx)
    out.fail(new NotFound('gone before start'))
  })
  r.post('/hijack', async (ctx) => {
    const body = await readBody(ctx)
    const tty = ctx.query.bool('tty')
    const { socket, multiplexed } = hijack(ctx, { tty })
    const frame = (s: 1 | 2, d: Buffer): Buffer => (multiplexed ? stdcopyFrame(s, d) : d)
    socket.write(frame(1, Buffer.from(`body=${body.toString()}\n`)))
    socket.on('data', (d: Buffer) => socket.write(frame(2, Buffer.from(`echo:${d.toString()}`))))
    // The client half-closes when its stdin ends; our output may still follow.
    socket.on('end', () => socket.end(frame(1, Buffer.from('bye\n'))))
    socket.resume()
  })
  // Stands for exec start: the process is made after the takeover, and only then read for.
  r.post('/hijack-late', async (ctx) => {
    late.entered()
    const body = await readBody(ctx)
    const { socket } = hijack(ctx, { tty: true })
    await late.ready
    const input: Buffer[] = []
    socket.on('data', (d: Buffer) => input.push(d))
    socket.on('end', () => socket.end(`body=${body.toString()} stdin=${Buffer.concat(input)}\n`))
    socket.resume()
  })
}

const late = gate()

/** A route's rendezvous with its test: `entered` when the route runs, `ready` to let it go on. */
function gate(): { entered(): void; running: Promise<void>; ready: Promise<void>; go(): void } {
  let entered!: () => void
  let go!: () => void
  const running = new Promise<void>((r) => (entered = r))
  const ready = new Promise<void>((r) => (go = r))
  return { entered, running, ready, go }
}

let srv: TestServer

before(async () => {
  srv = await startTestServer(fakeEngine(), [systemRoutes, testRoutes])
})
after(async () => {
  await srv.close()
})

describe('versions and headers', () => {
  test('paths with and without /vN.NN are the same routes', async () => {
    const a = await request(srv.socketPath, 'GET', '/things/x/json')
    const b = await request(srv.socketPath, 'GET', '/v1.41/things/x/json')
    assert.equal(a.status, 200)
    assert.deepEqual(a.json(), { name: 'x', v: '1.45' })
    assert.deepEqual(b.json(), { name: 'x', v: '1.41' })
  })
  test('common headers on every routed response', async () => {
    const r = await request(srv.socketPath, 'GET', '/notfound')
    assert.equal(r.headers['api-version'], '1.45')
    assert.equal(r.headers['docker-experimental'], 'false')
    assert.equal(r.headers['ostype'], 'linux')
    assert.match(String(r.headers['server']), /^Docker\/\S+ \(linux\)$/)
  })
  test('too new', async () => {
    const r = await request(srv.socketPath, 'GET', '/v1.99/version')
    assert.equal(r.status, 400)
    assert.deepEqual(r.json(), {
      message: 'client version 1.99 is too new. Maximum supported API version is 1.45',
    })
  })
  test('too old answers in plain text below 1.24', async () => {
    const r = await request(srv.socketPath, 'GET', '/v1.12/version')
    assert.equal(r.status, 400)
    assert.match(String(r.headers['content-type']), /^text\/plain/)
    assert.equal(
      r.text,
      'client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version\n',
    )
  })
  test('oldest and newest supported versions pass', async () => {
    assert.equal((await request(srv.socketPath, 'GET', '/v1.24/version')).status, 200)
    assert.equal((await request(srv.socketPath, 'GET', '/v1.45/version')).status, 200)
  })
  test('compareVersions is numeric', () => {
    assert.equal(compareVersions('1.9', '1.10'), -1)
    assert.equal(compareVersions('1.45', '1.45'), 0)
    assert.equal(compareVersions('2', '1.99'), 1)
  })
})

describe('routing', () => {
  test('the last parameter may hold slashes', async () => {
    const r = await request(srv.socketPath, 'GET', '/things/example.com/a/b:tag/json')
    assert.deepEqual(r.json(), { name: 'example.com/a/b:tag', v: '1.45' })
  })
  test('a plain parameter is one segment', async () => {
    assert.deepEqual((await request(srv.socketPath, 'GET', '/things/abc')).json(), { id: 'abc' })
    assert.equal((await request(srv.socketPath, 'GET', '/things/a/b')).status, 404)
  })
  test('unknown path: 404 page not found', async () => {
    for (const p of ['/nope', '/v1.45/nope', '/v1.99/nope']) {
      const r = await request(srv.socketPath, 'GET', p)
      assert.equal(r.status, 404)
      assert.deepEqual(r.json(), { message: 'page not found' })
    }
  })
  test('wrong method on a known path answers as moby does: 404 page not found', async () => {
    const r = await request(srv.socketPath, 'DELETE', '/version')
    assert.equal(r.status, 404)
    assert.deepEqual(r.json(), { message: 'page not found' })
  })
  test('router match kinds', () => {
    const r = new R().get('/a/{x}', () => {})
    assert.equal(r.match('GET', '/a/1').kind, 'found')
    assert.equal(r.match('POST', '/a/1').kind, 'method-not-allowed')
    assert.equal(r.match('GET', '/b').kind, 'not-found')
  })
})

describe('errors', () => {
  test('BerthError keeps its status and message', async () => {
    const r = await request(srv.socketPath, 'GET', '/notfound')
    assert.equal(r.status, 404)
    assert.equal(r.headers['content-type'], 'application/json')
    assert.equal(r.text, '{"message":"No such thing: x"}\n')
    assert.equal((await request(srv.socketPath, 'GET', '/conflict')).status, 409)
  })
  test('anything else is a logged 500', async () => {
    const before = srv.logs.length
    const r = await request(srv.socketPath, 'GET', '/boom')
    assert.equal(r.status, 500)
    assert.deepEqual(r.json(), { message: 'kaboom' })
    const logged = srv.logs.slice(before).join('')
    assert.match(logged, /level=error msg="Handler for GET \/boom returned error: kaboom"/)
  })
})

describe('query and body', () => {
  test('Docker boolean rules', () => {
    for (const v of ['1', 'true', 'True', 'yes', 'anything', ' on '])
      assert.equal(parseBool(v), true, v)
    for (const v of ['', '0', 'false', 'FALSE', 'no', 'none', ' None ', null, undefined]) {
      assert.equal(parseBool(v), false, String(v))
    }
  })
  test('query helpers over HTTP', async () => {
    const r = await request(srv.socketPath, 'GET', '/query?all=True&n=a&n=b')
    assert.deepEqual(r.json(), { all: true, quiet: true, names: ['a', 'b'] })
    const r2 = await request(srv.socketPath, 'GET', '/query?all=0&quiet=0')
    assert.deepEqual(r2.json(), { all: false, quiet: false, names: [] })
  })
  test('JSON bodies', async () => {
    const h = { 'Content-Type': 'application/json' }
    const ok = await request(srv.socketPath, 'POST', '/json', { body: '{"a":1}', headers: h })
    assert.deepEqual(ok.json(), { got: { a: 1 } })
    const empty = await request(srv.socketPath, 'POST', '/json', { headers: h })
    assert.deepEqual(empty.json(), { got: null })
    const bad = await request(srv.socketPath, 'POST', '/json', { body: '{bad', headers: h })
    assert.equal(bad.status, 400)
    assert.match(bad.json<{ message: string }>().message, /^invalid JSON: /)
    const ws = await request(srv.socketPath, 'POST', '/json', { body: '  ', headers: h })
    assert.deepEqual(ws.json(), { message: 'invalid JSON: got EOF while reading request body' })
    const ct = await request(srv.socketPath, 'POST', '/json', {
      body: '{}',
      headers: { 'Content-Type': 'text/plain' },
    })
    assert.equal(ct.status, 400)
    assert.deepEqual(ct.json(), {
      message: "unsupported Content-Type header (text/plain): must be 'application/json'",
    })
  })
})

describe('filters', () => {
  const cases: [string, Record<string, string[]>][] = [
    ['', {}],
    ['{"dangling":["true"]}', { dangling: ['true'] }],
    ['{"dangling":{"true":true}}', { dangling: ['true'] }],
    ['{"label":{"a=b":true,"c":true}}', { label: ['a=b', 'c'] }],
    ['{"reference":["a","b"],"label":[]}', { reference: ['a', 'b'], label: [] }],
    ['null', {}],
  ]
  for (const [raw, want] of cases) {
    test(`parses ${raw || '(empty)'}`, () => assert.deepEqual(parseFilters(raw).toRecord(), want))
  }
  for (const raw of ['xx', '[1]', '{"a":"b"}', '{"a":[1]}', '{"a":{"b":"c"}}', '"s"']) {
    test(`refuses ${raw}`, () =>
      assert.throws(() => parseFilters(raw), {
        message: 'invalid filter',
        name: 'InvalidArgument',
      }))
  }
  test('validate and boolOr use Docker words', () => {
    const f = parseFilters('{"dangling":["maybe"],"foo":["x"]}')
    assert.throws(() => f.validate(['dangling']), { message: "invalid filter 'foo'" })
    assert.throws(() => f.boolOr('dangling', false), {
      message: "invalid filter 'dangling=[maybe]'",
    })
    assert.equal(parseFilters('{"dangling":["1"]}').boolOr('dangling', false), true)
    assert.equal(parseFilters('{}').boolOr('dangling', true), true)
  })
  test('label matching', () => {
    const f = parseFilters('{"label":["a=1","b"]}')
    assert.equal(f.matchKV('label', { a: '1', b: 'x' }), true)
    assert.equal(f.matchKV('label', { a: '2', b: 'x' }), false)
    assert.equal(f.matchKV('label', { a: '1' }), false)
    assert.equal(f.matchKV('label', null), false)
  })
})

describe('JSON progress stream', () => {
  test('an error after the stream began goes in-band', async () => {
    const r = await request(srv.socketPath, 'GET', '/stream')
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'application/json')
    const lines = r.text
      .split('\r\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as unknown)
    assert.deepEqual(lines, [
      { status: 'Pulling fs layer', id: 'abc' },
      { errorDetail: { message: 'gone midway' }, error: 'gone midway' },
    ])
  })
  test('an error before it began keeps its status', async () => {
    const r = await request(srv.socketPath, 'GET', '/stream-early')
    assert.equal(r.status, 404)
    assert.deepEqual(r.json(), { message: 'gone before start' })
  })
})

/** Sends a raw request and collects everything the server writes until it ends the connection. */
function rawExchange(
  path: string,
  headers: string[],
  body: string,
  afterHead: (sock: net.Socket) => void,
): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.socketPath)
    sock.on('error', reject)
    const chunks: Buffer[] = []
    let gotHead = false
    sock.on('data', (d: Buffer) => {
      chunks.push(d)
      if (!gotHead && Buffer.concat(chunks).includes('\r\n\r\n')) {
        gotHead = true
        afterHead(sock)
      }
    })
    sock.on('end', () => {
      const all = Buffer.concat(chunks)
      const i = all.indexOf('\r\n\r\n')
      resolve({ head: all.subarray(0, i).toString(), rest: all.subarray(i + 4) })
    })
    sock.write(
      [
        `POST ${path} HTTP/1.1`,
        'Host: api',
        ...headers,
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n'),
    )
  })
}

describe('hijack', () => {
  const upgrade = ['Connection: Upgrade', 'Upgrade: tcp', 'Content-Type: application/json']
  test('upgrade without tty: 101, multiplexed frames, body read, half-close honoured', async () => {
    const { head, rest } = await rawExchange('/v1.45/hijack', upgrade, '{"Detach":false}', (s) => {
      s.write('hi')
      setTimeout(() => s.end(), 50)
    })
    assert.equal(
      head,
      'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp',
    )
    const { stdout, stderr } = demuxAll(rest)
    assert.equal(stdout.toString(), 'body={"Detach":false}\nbye\n')
    assert.equal(stderr.toString(), 'echo:hi')
  })
  test('upgrade with tty: raw stream', async () => {
    const { head, rest } = await rawExchange('/hijack?tty=1', upgrade, '', (s) => s.end())
    assert.match(
      head,
      /^HTTP\/1.1 101 UPGRADED\r\nContent-Type: application\/vnd.docker.raw-stream\r\n/,
    )
    assert.equal(rest.toString(), 'body=\nbye\n')
  })
  test('API below 1.42 gets the raw-stream content type even when multiplexed', async () => {
    const { head, rest } = await rawExchange('/v1.41/hijack', upgrade, '', (s) => s.end())
    assert.match(head, /Content-Type: application\/vnd.docker.raw-stream/)
    assert.equal(demuxAll(rest).stdout.toString(), 'body=\nbye\n')
  })
  test('no upgrade: 200 OK and the raw socket, stdin included', async () => {
    const { head, rest } = await rawExchange('/hijack?tty=1', [], '', (s) => {
      s.write('in')
      setTimeout(() => s.end(), 50)
    })
    assert.equal(head, 'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream')
    assert.equal(rest.toString(), 'body=\necho:inbye\n')
  })
  test(
    'input and its end sent while the route is still busy are kept for it',
    { timeout: 5000 },
    async () => {
      const sock = net.connect(srv.socketPath)
      const chunks: Buffer[] = []
      sock.on('data', (d: Buffer) => chunks.push(d))
      const ended = new Promise<void>((r) => sock.on('end', r))
      const body = '{"Detach":false}'
      // The headers alone first: the route then reads its body from the socket (as it does when
      // a client's body comes in a packet of its own), and the client's stdin and half-close
      // come right behind the body.
      sock.write(
        [
          'POST /hijack-late HTTP/1.1',
          'Host: api',
          ...upgrade,
          `Content-Length: ${body.length}`,
          '',
          '',
        ].join('\r\n'),
      )
      await late.running
      sock.end(`${body}cat me`)
      await new Promise<void>((r) => sock.once('data', () => r()))
      // The route has taken the socket over; let the server's loop run before it reads.
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r))
      late.go()
      await ended
      const all = Buffer.concat(chunks).toString()
      assert.equal(all.slice(all.indexOf('\r\n\r\n') + 4), `body=${body} stdin=cat me\n`)
    },
  )
  test('stdcopy frames and the demuxer', () => {
    const f = stdcopyFrame(2, Buffer.from('err'))
    assert.deepEqual([...f.subarray(0, 8)], [2, 0, 0, 0, 0, 0, 0, 3])
    const d = new StdDemuxer()
    const both = Buffer.concat([stdcopyFrame(1, Buffer.from('out')), f])
    assert.deepEqual(d.push(both.subarray(0, 5)), [])
    const frames = d.push(both.subarray(5))
    assert.deepEqual(
      frames.map((x) => [x.stream, x.data.toString()]),
      [
        [1, 'out'],
        [2, 'err'],
      ],
    )
    assert.throws(() => demuxAll(both.subarray(0, 10)), /truncated/)
  })
})
