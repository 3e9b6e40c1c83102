import { describe, test, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { sha256 } from '../../engine/digest.ts'
import { InvalidArgument } from '../../engine/errors.ts'
import {
  fakeEngine,
  fakeImage,
  request,
  startTestServer,
  type FakeEngine,
  type TestServer,
} from '../testing.ts'
import { parseTimestamp } from './images.ts'

let srv: TestServer
let engine: FakeEngine
const base = fakeImage({
  name: 'base',
  tags: ['busybox:latest', 'example.com/a/b:1'],
  digests: ['busybox@sha256:' + 'a'.repeat(64)],
  created: '2024-05-01T10:00:00Z',
  labels: { tier: 'web' },
  layers: 2,
  history: [
    { created: '2024-05-01T09:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:x in /' },
    {
      created: '2024-05-01T09:30:00Z',
      created_by: '/bin/sh -c #(nop)  CMD ["sh"]',
      empty_layer: true,
    },
    { created: '2024-05-01T10:00:00Z', created_by: 'RUN touch /a', comment: 'last' },
  ],
})
const child = fakeImage({
  name: 'child',
  tags: ['app:1'],
  created: '2024-06-01T00:00:00Z',
  parent: base.id,
})
const intermediate = fakeImage({ name: 'mid', created: '2024-05-15T00:00:00Z', parent: base.id })
const leaf = fakeImage({
  name: 'leaf',
  tags: ['leaf:latest'],
  created: '2024-05-20T00:00:00Z',
  parent: intermediate.id,
})
const dangling = fakeImage({ name: 'dangling', created: '2024-04-01T00:00:00Z' })

beforeEach(async () => {
  engine = fakeEngine([base, child, intermediate, leaf, dangling].map((i) => structuredClone(i)))
  srv = await startTestServer(engine)
})
afterEach(async () => {
  await srv.close()
})

type Summary = { Id: string; RepoTags: string[]; RepoDigests: string[]; [k: string]: unknown }
async function list(query = '', version = '/v1.45'): Promise<Summary[]> {
  const r = await request(srv.socketPath, 'GET', `${version}/images/json${query}`)
  assert.equal(r.status, 200, r.text)
  return r.json<Summary[]>()
}
const q = (filters: unknown): string => `?filters=${encodeURIComponent(JSON.stringify(filters))}`

describe('GET /images/json', () => {
  test('summary shape, newest first, intermediate images hidden', async () => {
    const l = await list()
    assert.deepEqual(
      l.map((s) => s.Id),
      [child.id, leaf.id, base.id, dangling.id],
    )
    const b = l.find((s) => s.Id === base.id)!
    assert.deepEqual(Object.keys(b), [
      'Containers',
      'Created',
      'Id',
      'Labels',
      'ParentId',
      'RepoDigests',
      'RepoTags',
      'SharedSize',
      'Size',
    ])
    assert.equal(b['Created'], Date.parse('2024-05-01T10:00:00Z') / 1000)
    assert.deepEqual(b['Labels'], { tier: 'web' })
    assert.equal(b['SharedSize'], -1)
    assert.equal(b['Containers'], -1)
    assert.deepEqual(l.find((s) => s.Id === dangling.id)!.RepoTags, [])
    assert.equal(l.find((s) => s.Id === child.id)!['ParentId'], base.id)
  })
  test('all=1 shows intermediate images', async () => {
    assert.ok((await list('?all=1')).some((s) => s.Id === intermediate.id))
  })
  test('old API: <none> placeholders and VirtualSize', async () => {
    const l = await list('', '/v1.41')
    const d = l.find((s) => s.Id === dangling.id)!
    assert.deepEqual(d.RepoTags, ['<none>:<none>'])
    assert.deepEqual(d.RepoDigests, ['<none>@<none>'])
    assert.equal(d['VirtualSize'], d['Size'])
    assert.equal((await list())[0]!['VirtualSize'], undefined)
  })
  test('dangling filter, both formats', async () => {
    for (const f of [{ dangling: ['true'] }, { dangling: { true: true } }]) {
      assert.deepEqual(
        (await list(q(f))).map((s) => s.Id),
        [dangling.id],
      )
    }
    assert.ok(!(await list(q({ dangling: ['false'] }))).some((s) => s.Id === dangling.id))
  })
  test('reference filter matches familiar and qualified names, and trims tags', async () => {
    const l = await list(q({ reference: ['busybox'] }))
    assert.deepEqual(
      l.map((s) => [s.Id, s.RepoTags]),
      [[base.id, ['busybox:latest']]],
    )
    assert.equal((await list(q({ reference: ['docker.io/library/busybox:latest'] }))).length, 1)
    assert.equal((await list(q({ reference: ['example.com/*/b'] }))).length, 1)
    assert.equal((await list(q({ reference: ['bus*'] }))).length, 1)
    assert.equal((await list(q({ reference: ['nomatch'] }))).length, 0)
  })
  test('label, before, since, until', async () => {
    assert.deepEqual(
      (await list(q({ label: ['tier=web'] }))).map((s) => s.Id),
      [base.id],
    )
    assert.deepEqual(
      (await list(q({ label: ['tier=db'] }))).map((s) => s.Id),
      [],
    )
    assert.deepEqual(
      (await list(q({ before: ['busybox'] }))).map((s) => s.Id),
      [dangling.id],
    )
    assert.deepEqual(
      (await list(q({ since: ['leaf'] }))).map((s) => s.Id),
      [child.id],
    )
    assert.deepEqual(
      (await list(q({ until: ['2024-04-15T00:00:00Z'] }))).map((s) => s.Id),
      [dangling.id],
    )
  })
  test('bad filters are 400 with Docker words; unknown image in before is 404', async () => {
    const cases: [string, number, string][] = [
      ['?filters=xx', 400, 'invalid filter'],
      [q({ foo: ['x'] }), 400, "invalid filter 'foo'"],
      [q({ dangling: ['maybe'] }), 400, "invalid filter 'dangling=[maybe]'"],
      [q({ before: ['nope'] }), 404, 'No such image: nope'],
    ]
    for (const [query, status, message] of cases) {
      const r = await request(srv.socketPath, 'GET', `/images/json${query}`)
      assert.equal(r.status, status, query)
      assert.deepEqual(r.json(), { message })
    }
    const u = await request(srv.socketPath, 'GET', `/images/json${q({ until: ['soon'] })}`)
    assert.equal(u.status, 400)
    assert.match(u.json<{ message: string }>().message, /^invalid value for 'until' filter/)
  })
  test('timestamps: durations, unix seconds, RFC 3339', () => {
    const now = Date.parse('2024-01-02T00:00:00Z')
    assert.equal(parseTimestamp('24h', now), Date.parse('2024-01-01T00:00:00Z'))
    assert.equal(parseTimestamp('1h30m', now), now - 90 * 60_000)
    assert.equal(parseTimestamp('1700000000', now), 1_700_000_000_000)
    assert.equal(parseTimestamp('2023-01-01T00:00:00Z', now), Date.parse('2023-01-01T00:00:00Z'))
    assert.throws(() => parseTimestamp('x', now), InvalidArgument)
  })
})

describe('GET /images/{name}/json', () => {
  test('inspect shape for API 1.45', async () => {
    const r = await request(srv.socketPath, 'GET', '/v1.45/images/busybox/json')
    assert.equal(r.status, 200)
    const i = r.json<Record<string, unknown>>()
    assert.deepEqual(Object.keys(i), [
      'Id',
      'RepoTags',
      'RepoDigests',
      'Parent',
      'Comment',
      'Created',
      'DockerVersion',
      'Author',
      'Config',
      'Architecture',
      'Os',
      'Size',
      'GraphDriver',
      'RootFS',
      'Metadata',
    ])
    assert.equal(i['Id'], base.id)
    assert.equal(i['Comment'], 'last')
    assert.equal(i['Created'], '2024-05-01T10:00:00Z')
    assert.deepEqual(i['RootFS'], { Type: 'layers', Layers: base.config.rootfs.diff_ids })
    assert.deepEqual((i['GraphDriver'] as { Name: string }).Name, 'overlay2')
    const c = i['Config'] as Record<string, unknown>
    assert.deepEqual(c['Cmd'], ['sh'])
    assert.equal(c['AttachStdin'], false)
    assert.equal(c['Volumes'], null)
  })
  test('names with registry and path', async () => {
    const r = await request(srv.socketPath, 'GET', '/images/example.com/a/b:1/json')
    assert.equal(r.json<{ Id: string }>().Id, base.id)
  })
  test('old APIs get VirtualSize, Container and ContainerConfig', async () => {
    const i = (await request(srv.socketPath, 'GET', '/v1.43/images/busybox/json')).json<
      Record<string, unknown>
    >()
    assert.equal(i['VirtualSize'], i['Size'])
    assert.equal(i['Container'], '')
    assert.equal(typeof i['ContainerConfig'], 'object')
  })
  test('unknown image is 404', async () => {
    const r = await request(srv.socketPath, 'GET', '/images/nope/json')
    assert.equal(r.status, 404)
    assert.deepEqual(r.json(), { message: 'No such image: nope' })
  })
})

test('GET /images/{name}/history: newest first, ids where we hold the image', async () => {
  const r = await request(srv.socketPath, 'GET', '/images/app:1/history')
  assert.equal(r.status, 200)
  const h = r.json<{ Id: string; CreatedBy: string; Tags: string[] | null; Size: number }[]>()
  assert.equal(h.length, 1)
  assert.deepEqual(h[0]!.Tags, ['app:1'])
  const b = (await request(srv.socketPath, 'GET', '/images/busybox/history')).json<
    {
      Id: string
      CreatedBy: string
      Tags: string[] | null
      Size: number
      Created: number
      Comment: string
    }[]
  >()
  assert.deepEqual(
    b.map((x) => [x.Id, x.CreatedBy, x.Size]),
    [
      [base.id, 'RUN touch /a', 2000],
      ['<missing>', '/bin/sh -c #(nop)  CMD ["sh"]', 0],
      ['<missing>', '/bin/sh -c #(nop) ADD file:x in /', 1000],
    ],
  )
  assert.deepEqual(b[0]!.Tags, ['busybox:latest', 'example.com/a/b:1'])
  assert.equal(b[1]!.Tags, null)
  assert.equal(b[0]!.Created, Date.parse('2024-05-01T10:00:00Z') / 1000)
  assert.equal(b[0]!.Comment, 'last')
})

describe('tag, remove, prune', () => {
  test('POST /images/{name}/tag normalizes the repo and answers 201', async () => {
    const r = await request(
      srv.socketPath,
      'POST',
      '/images/busybox/tag?repo=docker.io/library/foo&tag=bar',
    )
    assert.equal(r.status, 201)
    assert.equal(r.body.length, 0)
    assert.deepEqual(engine.images.calls.at(-1), { method: 'tag', args: ['busybox', 'foo:bar'] })
    await request(srv.socketPath, 'POST', '/images/busybox/tag?repo=example.com/x')
    assert.deepEqual(engine.images.calls.at(-1)!.args, ['busybox', 'example.com/x:latest'])
    const nf = await request(srv.socketPath, 'POST', '/images/nope/tag?repo=x')
    assert.equal(nf.status, 404)
    const amb = await request(srv.socketPath, 'POST', '/images/busybox/tag?repo=sha256&tag=x')
    assert.deepEqual(amb.json(), {
      message: 'refusing to create an ambiguous tag using digest algorithm as name',
    })
  })
  test('DELETE /images/{name} returns the list and passes force/noprune', async () => {
    const r = await request(srv.socketPath, 'DELETE', '/images/app:1?force=1&noprune=true')
    assert.equal(r.status, 200)
    assert.deepEqual(r.json(), [{ Untagged: 'app:1' }, { Deleted: child.id }])
    assert.deepEqual(engine.images.calls.at(-1), {
      method: 'remove',
      args: ['app:1', { force: true, noPrune: true }],
    })
    const conflict = await request(srv.socketPath, 'DELETE', `/images/${base.id.slice(7, 19)}`)
    assert.equal(conflict.status, 409)
    assert.match(conflict.json<{ message: string }>().message, /must be forced/)
    const blank = await request(srv.socketPath, 'DELETE', '/images/%20')
    assert.deepEqual(blank.json(), { message: 'image name cannot be blank' })
  })
  test('POST /images/prune', async () => {
    const r = await request(srv.socketPath, 'POST', '/images/prune')
    assert.equal(r.status, 200)
    const body = r.json<{ ImagesDeleted: unknown[]; SpaceReclaimed: number }>()
    assert.ok(body.ImagesDeleted.length >= 1)
    assert.deepEqual(engine.images.calls.at(-1)!.args, [{ all: false, filters: {} }])
    await request(srv.socketPath, 'POST', `/images/prune${q({ dangling: ['false'] })}`)
    assert.deepEqual(engine.images.calls.at(-1)!.args, [
      { all: true, filters: { dangling: ['false'] } },
    ])
    const bad = await request(srv.socketPath, 'POST', `/images/prune${q({ reference: ['x'] })}`)
    assert.deepEqual(bad.json(), { message: "invalid filter 'reference'" })
    const none = await request(srv.socketPath, 'POST', '/images/prune')
    assert.deepEqual(none.json(), { ImagesDeleted: null, SpaceReclaimed: 0 })
  })
})

const lines = (text: string): unknown[] =>
  text
    .split('\r\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as unknown)

describe('load and save', () => {
  test('POST /images/load streams Loaded image lines', async () => {
    engine.images.loadResult = ['busybox:latest', sha256('x')]
    const r = await request(srv.socketPath, 'POST', '/images/load?quiet=1', {
      body: Buffer.alloc(3000),
    })
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'application/json')
    assert.deepEqual(lines(r.text), [
      { stream: 'Loaded image: busybox:latest\n' },
      { stream: `Loaded image ID: ${sha256('x')}\n` },
    ])
    assert.deepEqual(engine.images.calls.at(-1), { method: 'load', args: [3000] })
  })
  test('load progress when not quiet; failures in-band with status 200', async () => {
    engine.images.loadError = new InvalidArgument('unexpected EOF')
    const r = await request(srv.socketPath, 'POST', '/images/load?quiet=0', { body: 'abc' })
    assert.equal(r.status, 200)
    assert.deepEqual(lines(r.text), [
      { id: 'abc', status: 'Loading layer', progressDetail: { current: 3, total: 3 } },
      { errorDetail: { message: 'unexpected EOF' }, error: 'unexpected EOF' },
    ])
  })
  test('GET /images/get and /images/{name}/get stream a tar', async () => {
    const r = await request(srv.socketPath, 'GET', '/images/get?names=busybox&names=app:1')
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'application/x-tar')
    assert.equal(r.text, 'fake tar bytes')
    assert.deepEqual(engine.images.calls.at(-1), { method: 'save', args: [['busybox', 'app:1']] })
    const one = await request(srv.socketPath, 'GET', '/images/example.com/a/b:1/get')
    assert.equal(one.status, 200)
    assert.deepEqual(engine.images.calls.at(-1)!.args, [['example.com/a/b:1']])
    const nf = await request(srv.socketPath, 'GET', '/images/get?names=nope')
    assert.equal(nf.status, 404)
    assert.deepEqual(nf.json(), { message: 'No such image: nope' })
  })
})

describe('POST /images/create', () => {
  test('import from the request body', async () => {
    const r = await request(
      srv.socketPath,
      'POST',
      '/images/create?fromSrc=-&repo=imp&tag=v1&message=hello&changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3Db',
      { body: 'rootfs tar' },
    )
    assert.equal(r.status, 200)
    const out = lines(r.text) as { status: string }[]
    assert.equal(out.length, 1)
    assert.match(out[0]!.status, /^sha256:[0-9a-f]{64}$/)
    assert.equal(engine.images.imported!.data.toString(), 'rootfs tar')
    assert.deepEqual(engine.images.imported!.opts, {
      changes: ['CMD ["sh"]', 'ENV A=b'],
      message: 'hello',
      tag: 'imp:v1',
      platform: undefined,
      signal: (engine.images.imported!.opts as { signal: AbortSignal }).signal,
    })
  })
  test('import failure before any output keeps its status', async () => {
    const r = await request(srv.socketPath, 'POST', '/images/create?fromSrc=-')
    assert.equal(r.status, 500)
    assert.deepEqual(r.json(), { message: 'EOF' })
  })
  test('import from a URL streams progress, then the id', async () => {
    const payload = Buffer.alloc(100_000, 1)
    const web = http.createServer((req, res) => {
      if (req.url === '/missing') {
        res.writeHead(404)
        res.end('no')
        return
      }
      res.writeHead(200, { 'Content-Length': payload.length })
      res.end(payload)
    })
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
    const port = (web.address() as AddressInfo).port
    try {
      const r = await request(
        srv.socketPath,
        'POST',
        `/images/create?fromSrc=127.0.0.1:${port}/rootfs.tar`,
      )
      assert.equal(r.status, 200)
      const out = lines(r.text) as {
        status: string
        progressDetail?: { current: number; total: number }
      }[]
      assert.deepEqual(out[0], { status: `Downloading from http://127.0.0.1:${port}/rootfs.tar` })
      const last = out.at(-1)!
      assert.match(last.status, /^sha256:/)
      const prog = out.filter((m) => m.status === 'Importing')
      assert.deepEqual(prog.at(-1)!.progressDetail, { current: 100_000, total: 100_000 })
      assert.equal(engine.images.imported!.data.length, 100_000)
      assert.equal(
        (engine.images.imported!.opts as { message: string }).message,
        `Imported from 127.0.0.1:${port}/rootfs.tar`,
      )
      const nf = await request(
        srv.socketPath,
        'POST',
        `/images/create?fromSrc=http://127.0.0.1:${port}/missing`,
      )
      assert.equal(nf.status, 404)
    } finally {
      web.close()
    }
  })
  test('scratch is no image to pull (pulls are in registry.test.ts)', async () => {
    const s = await request(srv.socketPath, 'POST', '/images/create?fromImage=scratch')
    assert.equal(s.status, 403)
    assert.deepEqual(s.json(), { message: "'scratch' is a reserved name" })
  })
})
