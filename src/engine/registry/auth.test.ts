// Registry authentication: the parsers as tables, then the reference registry with htpasswd
// Basic auth and with token auth fed by the test's token issuer.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { Forbidden, InvalidArgument, NotFound, Unauthorized } from '../errors.ts'
import { makeSigningKey } from '../../../test/registry/pki.ts'
import {
  ACCEPT,
  blob,
  manifestFor,
  OCI_MANIFEST,
  opener,
  randomBlob,
} from '../../../test/registry/seed.ts'
import { startRegistry, type RegistryServer } from '../../../test/registry/server.ts'
import { startTokenIssuer, type TokenIssuer } from '../../../test/registry/tokens.ts'
import {
  credentialsOf,
  normalizeScopes,
  parseChallenges,
  parseTokenResponse,
  TokenCache,
} from './auth.ts'
import { DistributionClient } from './client.ts'
import { registryResponseOf } from './errors.ts'

describe('registry auth parsers', () => {
  test('WWW-Authenticate challenges', () => {
    const table: [string | string[], ReturnType<typeof parseChallenges>][] = [
      [
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
        [
          {
            scheme: 'bearer',
            params: {
              realm: 'https://auth.docker.io/token',
              service: 'registry.docker.io',
              scope: 'repository:library/busybox:pull',
            },
          },
        ],
      ],
      ['Basic realm="berth-test"', [{ scheme: 'basic', params: { realm: 'berth-test' } }]],
      [
        'Basic realm="a", Bearer realm="https://x/t", error="insufficient_scope"',
        [
          { scheme: 'basic', params: { realm: 'a' } },
          { scheme: 'bearer', params: { realm: 'https://x/t', error: 'insufficient_scope' } },
        ],
      ],
      [
        ['BEARER Realm=x', 'basic realm="quoted \\"q\\""'],
        [
          { scheme: 'bearer', params: { realm: 'x' } },
          { scheme: 'basic', params: { realm: 'quoted "q"' } },
        ],
      ],
      ['', []],
    ]
    for (const [input, want] of table) assert.deepEqual(parseChallenges(input), want, String(input))
    assert.deepEqual(parseChallenges(undefined), [])
  })

  test('token responses: token or access_token, a minute at least, issued_at honoured', () => {
    const now = Date.parse('2024-01-01T00:00:00Z')
    assert.deepEqual(parseTokenResponse({ token: 't', expires_in: 300 }, now), {
      token: 't',
      expiresAt: now + 300_000,
    })
    assert.deepEqual(parseTokenResponse({ access_token: 'a', expires_in: 5 }, now), {
      token: 'a',
      expiresAt: now + 60_000,
    })
    assert.deepEqual(
      parseTokenResponse(
        { token: 't', issued_at: '2024-01-01T00:10:00Z', refresh_token: 'r' },
        now,
      ),
      { token: 't', expiresAt: now + 600_000 + 60_000, refreshToken: 'r' },
    )
    assert.throws(() => parseTokenResponse({}, now), {
      message: 'authorization server did not include a token in the response',
    })
  })

  test('scopes naming one repository merge', () => {
    assert.deepEqual(
      normalizeScopes(['repository:a:push', 'repository:b:pull', 'repository:a:pull']),
      ['repository:a:pull,push', 'repository:b:pull'],
    )
  })

  test('a cached token is gone a little before it expires', () => {
    let now = 0
    const cache = new TokenCache(() => now)
    cache.set('k', { token: 't', expiresAt: 60_000 })
    assert.equal(cache.get('k')?.token, 't')
    now = 54_000
    assert.equal(cache.get('k')?.token, 't')
    now = 56_000
    assert.equal(cache.get('k'), undefined)
  })

  test('credentials from an AuthConfig; auth stands in for username and password', () => {
    assert.deepEqual(credentialsOf({ auth: Buffer.from('u:p:w').toString('base64') }), {
      username: 'u',
      password: 'p:w',
      identityToken: '',
      registryToken: '',
    })
    assert.equal(credentialsOf({ username: 'a', password: 'b', auth: 'eDp5' }).username, 'a')
    assert.throws(
      () => credentialsOf({ auth: Buffer.from('nocolon').toString('base64') }),
      InvalidArgument,
    )
  })
})

async function seed(
  c: DistributionClient,
  name: string,
  path: string,
  auth: object,
): Promise<void> {
  const r = c.repository({ domain: name, path }, { auth, actions: ['pull', 'push'] })
  const config = blob(
    `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":"${path}"}`,
  )
  await r.pushBlob(config.digest, config.size, opener(config))
  await r.putManifest('latest', OCI_MANIFEST, manifestFor(config, []).data)
}

describe('htpasswd Basic auth on the reference registry', () => {
  let reg: RegistryServer
  let client: DistributionClient
  const alice = { username: 'alice', password: 's3cret' }
  before(async () => {
    reg = await startRegistry({ htpasswd: { alice: alice.password } })
    client = new DistributionClient()
    await seed(client, reg.name, 'basic/img', alice)
  })
  after(async () => {
    await client.close()
    await reg.stop()
  })

  test('anonymous: no basic auth credentials, before anything is sent', async () => {
    const r = client.repository({ domain: reg.name, path: 'basic/img' }, { actions: ['pull'] })
    await assert.rejects(r.headManifest('latest', ACCEPT), (err: Error) => {
      assert.ok(err instanceof Unauthorized)
      assert.equal(
        err.message,
        `Head "http://${reg.name}/v2/basic/img/manifests/latest": no basic auth credentials`,
      )
      return true
    })
  })

  test('the right password reads; a wrong one is refused in the registry’s words', async () => {
    const ok = client.repository(
      { domain: reg.name, path: 'basic/img' },
      { auth: alice, actions: ['pull'] },
    )
    assert.ok(await ok.headManifest('latest', ACCEPT))
    const bad = client.repository(
      { domain: reg.name, path: 'basic/img' },
      { auth: { username: 'alice', password: 'wrong' }, actions: ['pull'] },
    )
    await assert.rejects(bad.getManifest('latest', ACCEPT), (err: Error) => {
      assert.ok(err instanceof Unauthorized)
      assert.equal(err.message, 'unauthorized: authentication required')
      assert.ok(registryResponseOf(err)?.has('UNAUTHORIZED'))
      return true
    })
  })

  test('login: Login Succeeded, or Docker’s words for a refusal', async () => {
    assert.deepEqual(await client.login({ ...alice, serveraddress: reg.name }), {
      status: 'Login Succeeded',
    })
    // The config.json form: auth holds user:password.
    assert.equal(
      (
        await client.login({
          auth: Buffer.from('alice:s3cret').toString('base64'),
          serveraddress: `http://${reg.name}/`,
        })
      ).status,
      'Login Succeeded',
    )
    await assert.rejects(
      client.login({ username: 'alice', password: 'nope', serveraddress: reg.name }),
      (err: Error) => {
        assert.ok(err instanceof Unauthorized)
        assert.equal(
          err.message,
          `login attempt to http://${reg.name}/v2/ failed with status: 401 Unauthorized`,
        )
        return true
      },
    )
  })
})

describe('token auth on the reference registry', () => {
  let dir: string
  let issuer: TokenIssuer
  let reg: RegistryServer
  let now = Date.now()
  let client: DistributionClient
  const alice = { username: 'alice', password: 'wonderland' }
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-token-'))
    const key = await makeSigningKey(dir)
    issuer = await startTokenIssuer(key, { users: { alice: alice.password } })
    reg = await startRegistry({ token: { realm: issuer.realm, rootCert: key.cert } })
    client = new DistributionClient({ now: () => now })
    await seed(client, reg.name, 'public/img', alice)
    await seed(client, reg.name, 'private/img', alice)
  })
  beforeEach(() => {
    issuer.requests.length = 0
  })
  after(async () => {
    await client.close()
    await reg.stop()
    await issuer.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const open = (path: string, auth?: object, actions: ('pull' | 'push')[] = ['pull']) =>
    client.repository({ domain: reg.name, path }, auth ? { auth, actions } : { actions })

  test('anonymous pulls what the issuer lets anyone pull, and is denied the rest', async () => {
    assert.ok(await open('public/img').headManifest('latest', ACCEPT))
    await assert.rejects(open('private/img').getManifest('latest', ACCEPT), (err: Error) => {
      assert.ok(err instanceof Unauthorized)
      const resp = registryResponseOf(err)!
      assert.equal(resp.errors[0]!.code, 'DENIED')
      assert.match(err.message, /^errors:\ndenied: requested access to the resource is denied\n/)
      return true
    })
    assert.deepEqual(
      issuer.requests.map((q) => [q.account, q.scopes]),
      [
        [undefined, ['repository:public/img:pull']],
        // Refused as too narrow for the scope it asked: no second token.
        [undefined, ['repository:private/img:pull']],
      ],
    )
  })

  test('one token per scope, cached across calls and repositories of one client', async () => {
    const fresh = new DistributionClient()
    const openFresh = (path: string, auth?: object) =>
      fresh.repository(
        { domain: reg.name, path },
        auth ? { auth, actions: ['pull'] } : { actions: ['pull'] },
      )
    const r = openFresh('private/img', alice)
    await r.getManifest('latest', ACCEPT)
    await r.headManifest('latest', ACCEPT)
    await openFresh('private/img', alice).headManifest('latest', ACCEPT)
    assert.equal(issuer.requests.length, 1)
    assert.deepEqual(issuer.requests[0], {
      method: 'GET',
      account: 'alice',
      scopes: ['repository:private/img:pull'],
      offline: false,
    })
    // Other credentials never share it.
    await openFresh('public/img').headManifest('latest', ACCEPT)
    await openFresh('public/img', alice).headManifest('latest', ACCEPT)
    assert.equal(issuer.requests.length, 3)
    await fresh.close()
  })

  test('a token is renewed once it expires', async () => {
    const r = open('private/img', alice)
    await r.headManifest('latest', ACCEPT)
    const before = issuer.requests.length
    now += 10 * 60_000
    await r.headManifest('latest', ACCEPT)
    assert.equal(issuer.requests.length, before + 1)
  })

  test('a token the registry refuses is replaced once', async () => {
    now += 60 * 60_000
    issuer.expireNext(1)
    const r = open('private/img', alice)
    assert.ok(await r.headManifest('latest', ACCEPT))
    assert.equal(issuer.requests.length, 2)
  })

  test('push needs push: a pull-only grant is denied', async () => {
    const b = randomBlob(100)
    const r = open('public/other', undefined, ['pull', 'push'])
    await assert.rejects(r.pushBlob(b.digest, b.size, opener(b)), (err: Error) => {
      assert.ok(err instanceof Unauthorized || err instanceof Forbidden)
      assert.ok(registryResponseOf(err)?.has('DENIED'))
      return true
    })
  })

  test('a cross-repository mount asks for pull on the source in the same token', async () => {
    const b = randomBlob(5000)
    await open('private/img', alice, ['pull', 'push']).pushBlob(b.digest, b.size, opener(b))
    issuer.requests.length = 0
    const how = await open('private/copy', alice, ['pull', 'push']).pushBlob(
      b.digest,
      b.size,
      opener(b),
      {
        mountFrom: ['private/img'],
      },
    )
    assert.equal(how, 'mounted')
    assert.deepEqual(
      issuer.requests.map((q) => q.scopes),
      [['repository:private/copy:pull,push', 'repository:private/img:pull']],
    )
  })

  test('login with a password gets an identity token, which then works in its place', async () => {
    const res = await client.login({ ...alice, serveraddress: reg.name })
    assert.equal(res.status, 'Login Succeeded')
    assert.ok(res.identityToken)
    assert.deepEqual(issuer.requests.at(-1), {
      method: 'GET',
      account: 'alice',
      scopes: [],
      offline: true,
    })
    const r = open('private/img', { username: 'alice', identitytoken: res.identityToken })
    assert.ok(await r.headManifest('latest', ACCEPT))
    assert.equal(issuer.requests.at(-1)!.grant, 'refresh_token')
    assert.equal(issuer.requests.at(-1)!.account, 'alice')
  })

  test('login with a wrong password reads as Docker’s unauthorized', async () => {
    await assert.rejects(
      client.login({ username: 'alice', password: 'x', serveraddress: reg.name }),
      (err: Error) => {
        assert.ok(err instanceof Unauthorized)
        assert.equal(
          err.message,
          `Get "http://${reg.name}/v2/": unauthorized: incorrect username or password`,
        )
        return true
      },
    )
  })

  test('a repository that does not exist, with rights to it, is NotFound', async () => {
    await assert.rejects(open('private/none', alice).getManifest('latest', ACCEPT), NotFound)
  })
})
