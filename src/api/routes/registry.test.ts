// The registry routes in process, over a fake registry: what moby's routers make of the query,
// the X-Registry-Auth header and the body, and how progress and errors go out. The real client
// against a real registry is in src/engine/registry/*.test.ts and test/e2e/registry*.test.ts.
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, test } from 'node:test'
import { InvalidArgument, NotFound, Unauthorized } from '../../engine/errors.ts'
import type {
  AuthConfig,
  PulledImage,
  PullOptions,
  PushedTag,
  PushOptions,
  RegistryApi,
} from '../../engine/registry/types.ts'
import { fakeEngine, request, startTestServer, type TestServer } from '../testing.ts'
import { formatProgress } from './registry.ts'

interface Call {
  op: 'pull' | 'push' | 'login' | 'distribution'
  ref?: string
  opts?: PullOptions | PushOptions
  auth?: AuthConfig
}

class FakeRegistry implements RegistryApi {
  calls: Call[] = []
  fail: { before?: Error; after?: Error } = {}

  async pull(ref: string, opts: PullOptions = {}): Promise<PulledImage[]> {
    this.calls.push({ op: 'pull', ref, opts })
    if (this.fail.before) throw this.fail.before
    opts.progress?.({ status: 'Pulling from library/busybox', id: 'latest' })
    opts.progress?.({ status: 'Pulling fs layer', progressDetail: {}, id: 'abc' })
    opts.progress?.({
      status: 'Downloading',
      progressDetail: { current: 32768, total: 1065982 },
      id: 'abc',
    })
    if (this.fail.after) throw this.fail.after
    opts.progress?.({ status: 'Status: Downloaded newer image for busybox:latest' })
    return []
  }

  async push(ref: string, opts: PushOptions = {}): Promise<PushedTag[]> {
    this.calls.push({ op: 'push', ref, opts })
    opts.progress?.({ status: `The push refers to repository [docker.io/library/busybox]` })
    if (this.fail.after) throw this.fail.after
    opts.progress?.({ progressDetail: {}, aux: { Tag: 'latest', Digest: 'sha256:x', Size: 527 } })
    return []
  }

  async login(auth: AuthConfig) {
    this.calls.push({ op: 'login', auth })
    if (this.fail.before) throw this.fail.before
    return { status: 'Login Succeeded' }
  }

  async distribution(ref: string, opts: { auth?: AuthConfig } = {}) {
    this.calls.push({ op: 'distribution', ref, ...(opts.auth ? { auth: opts.auth } : {}) })
    if (this.fail.before) throw this.fail.before
    return {
      Descriptor: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: 'sha256:d',
        size: 9,
      },
      Platforms: [{ architecture: 'amd64', os: 'linux' }],
    }
  }
}

let srv: TestServer
let reg: FakeRegistry

beforeEach(async () => {
  reg = new FakeRegistry()
  srv = await startTestServer({ ...fakeEngine(), registry: reg })
})
afterEach(async () => {
  await srv.close()
})

const lines = (text: string) =>
  text
    .split('\r\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

describe('POST /images/create?fromImage', () => {
  test("streams Docker's progress messages, with the daemon's bar text", async () => {
    const r = await request(
      srv.socketPath,
      'POST',
      '/v1.45/images/create?fromImage=busybox&tag=latest',
    )
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'application/json')
    assert.deepEqual(lines(r.text), [
      { status: 'Pulling from library/busybox', id: 'latest' },
      { status: 'Pulling fs layer', progressDetail: {}, id: 'abc' },
      {
        status: 'Downloading',
        progressDetail: { current: 32768, total: 1065982 },
        // What dockerd sends for the same numbers.
        progress: '[=>                                                 ]  32.77kB/1.066MB',
        id: 'abc',
      },
      { status: 'Status: Downloaded newer image for busybox:latest' },
    ])
    // Docker's key order: status, progressDetail, progress, id.
    assert.ok(r.text.includes('{"status":"Downloading","progressDetail":{"current":32768'))
  })

  test('the tag parameter (a tag or a digest), every tag when none, the platform, the credentials', async () => {
    const auth = { username: 'u', password: 'p', serveraddress: 'localhost:5000' }
    await request(
      srv.socketPath,
      'POST',
      '/v1.45/images/create?fromImage=localhost:5000/a&tag=1&platform=linux/arm64',
      {
        headers: { 'X-Registry-Auth': b64(auth) },
      },
    )
    const digest = 'sha256:' + 'b'.repeat(64)
    await request(
      srv.socketPath,
      'POST',
      `/v1.45/images/create?fromImage=localhost:5000/a&tag=${digest}`,
    )
    await request(srv.socketPath, 'POST', '/v1.45/images/create?fromImage=localhost:5000/a')
    await request(srv.socketPath, 'POST', '/v1.45/images/create?fromImage=busybox:1.36')
    // Before 1.32 the platform parameter does not exist; bad credentials are ignored.
    await request(
      srv.socketPath,
      'POST',
      '/v1.31/images/create?fromImage=busybox&tag=1&platform=linux/arm64',
      {
        headers: { 'X-Registry-Auth': '!!!' },
      },
    )
    assert.deepEqual(
      reg.calls.map((c) => [
        c.ref,
        (c.opts as PullOptions).allTags,
        (c.opts as PullOptions).platform,
      ]),
      [
        ['localhost:5000/a:1', false, 'linux/arm64'],
        [`localhost:5000/a@${digest}`, false, undefined],
        ['localhost:5000/a', true, undefined],
        ['busybox:1.36', false, undefined],
        ['busybox:1', false, undefined],
      ],
    )
    assert.deepEqual(reg.calls[0]!.opts!.auth, auth)
    assert.deepEqual(reg.calls[4]!.opts!.auth, {})
  })

  test('an error before the first message is a status; after it, a line in the stream', async () => {
    reg.fail.before = new NotFound(
      'manifest for busybox:nope not found: manifest unknown: manifest unknown',
    )
    const r = await request(srv.socketPath, 'POST', '/images/create?fromImage=busybox&tag=nope')
    assert.equal(r.status, 404)
    assert.deepEqual(r.json(), { message: reg.fail.before.message })
    reg.fail = {
      after: new InvalidArgument(
        'no matching manifest for linux/amd64 in the manifest list entries',
      ),
    }
    const s = await request(srv.socketPath, 'POST', '/images/create?fromImage=busybox&tag=x')
    assert.equal(s.status, 200)
    assert.deepEqual(lines(s.text).at(-1), {
      errorDetail: { message: reg.fail.after!.message },
      error: reg.fail.after!.message,
    })
  })
})

describe('POST /images/{name}/push', () => {
  test('one tag, or all; credentials from the header', async () => {
    const auth = { username: 'u', password: 'p' }
    const r = await request(srv.socketPath, 'POST', '/images/localhost:5000/a/push?tag=1', {
      headers: { 'X-Registry-Auth': b64(auth) },
    })
    assert.equal(r.status, 200)
    assert.deepEqual(lines(r.text), [
      { status: 'The push refers to repository [docker.io/library/busybox]' },
      { progressDetail: {}, aux: { Tag: 'latest', Digest: 'sha256:x', Size: 527 } },
    ])
    await request(srv.socketPath, 'POST', '/images/localhost:5000/a/push', {
      headers: { 'X-Registry-Auth': b64({}) },
    })
    assert.deepEqual(
      reg.calls.map((c) => [c.ref, (c.opts as PushOptions).allTags]),
      [
        ['localhost:5000/a:1', false],
        ['localhost:5000/a', true],
      ],
    )
    assert.deepEqual(reg.calls[0]!.opts!.auth, auth)
  })

  test('without the header the body must hold the credentials (Docker 400)', async () => {
    const r = await request(srv.socketPath, 'POST', '/images/busybox/push?tag=1')
    assert.equal(r.status, 400)
    assert.deepEqual(r.json(), { message: 'Bad parameters and missing X-Registry-Auth: EOF' })
    const ok = await request(srv.socketPath, 'POST', '/images/busybox/push?tag=1', {
      body: JSON.stringify({ username: 'old', password: 'way' }),
    })
    assert.equal(ok.status, 200)
    assert.deepEqual(reg.calls.at(-1)!.opts!.auth, { username: 'old', password: 'way' })
  })

  test('a failure after the first message travels in the stream', async () => {
    reg.fail.after = new Unauthorized('unauthorized: authentication required')
    const r = await request(srv.socketPath, 'POST', '/images/busybox/push?tag=1', {
      headers: { 'X-Registry-Auth': b64({}) },
    })
    assert.equal(r.status, 200)
    assert.deepEqual(lines(r.text).at(-1), {
      errorDetail: { message: 'unauthorized: authentication required' },
      error: 'unauthorized: authentication required',
    })
  })
})

describe('POST /auth', () => {
  test("Docker's answer, and a refusal's status", async () => {
    const body = JSON.stringify({ username: 'u', password: 'p', serveraddress: 'localhost:5000' })
    const r = await request(srv.socketPath, 'POST', '/auth', {
      body,
      headers: { 'Content-Type': 'application/json' },
    })
    assert.equal(r.status, 200)
    assert.equal(r.text, '{"IdentityToken":"","Status":"Login Succeeded"}\n')
    assert.deepEqual(reg.calls[0]!.auth, {
      username: 'u',
      password: 'p',
      serveraddress: 'localhost:5000',
    })
    reg.fail.before = new Unauthorized(
      'login attempt to http://localhost:5000/v2/ failed with status: 401 Unauthorized',
    )
    const no = await request(srv.socketPath, 'POST', '/auth', {
      body,
      headers: { 'Content-Type': 'application/json' },
    })
    assert.equal(no.status, 401)
    assert.deepEqual(no.json(), { message: reg.fail.before.message })
  })
})

describe('GET /distribution/{name}/json', () => {
  test('the descriptor and platforms, for a name with slashes; a miss is a 404', async () => {
    const r = await request(srv.socketPath, 'GET', '/v1.41/distribution/localhost:5000/a/b:1/json')
    assert.equal(r.status, 200)
    assert.deepEqual(r.json(), {
      Descriptor: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: 'sha256:d',
        size: 9,
      },
      Platforms: [{ architecture: 'amd64', os: 'linux' }],
    })
    assert.equal(reg.calls[0]!.ref, 'localhost:5000/a/b:1')
    reg.fail.before = new NotFound('manifest unknown')
    const no = await request(srv.socketPath, 'GET', '/distribution/nope/json')
    assert.equal(no.status, 404)
  })
})

describe('formatProgress', () => {
  test('the bar text as dockerd writes it', () => {
    assert.equal(
      formatProgress({
        status: 'Extracting',
        progressDetail: { current: 1065982, total: 1065982 },
        id: 'x',
      }).progress,
      '[==================================================>]  1.066MB/1.066MB',
    )
    // More than the total: the count alone (push counts the tar against the files' size).
    assert.equal(
      formatProgress({ status: 'Pushing', progressDetail: { current: 3001856, total: 3000000 } })
        .progress,
      '[==================================================>]  3.002MB',
    )
    assert.equal(formatProgress({ status: 'Waiting', progressDetail: {} }).progress, undefined)
  })
})
