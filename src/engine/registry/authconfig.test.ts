import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import {
  authConfigFromJson,
  authForRegistry,
  decodeAuthHeader,
  decodeRegistryConfig,
} from './authconfig.ts'

/** What the docker CLI sends: base64.URLEncoding (padded) of the JSON. */
function cliHeader(json: string): string {
  return Buffer.from(json).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
}

describe('X-Registry-Auth', () => {
  test('decodes what the docker CLI sends, padded or not', () => {
    const json = JSON.stringify({
      username: 'alice',
      password: 'p?>~',
      serveraddress: 'localhost:5000',
    })
    const want = { username: 'alice', password: 'p?>~', serveraddress: 'localhost:5000' }
    assert.deepEqual(decodeAuthHeader(cliHeader(json)), { auth: want })
    assert.deepEqual(decodeAuthHeader(cliHeader(json).replace(/=+$/, '')), { auth: want })
  })

  test('field names match in any case; unknown ones are ignored; empty is anonymous', () => {
    assert.deepEqual(
      decodeAuthHeader(cliHeader('{"Username":"u","IdentityToken":"t","other":1}')),
      { auth: { username: 'u', identitytoken: 't' } },
    )
    assert.deepEqual(decodeAuthHeader(undefined), { auth: {} })
    assert.deepEqual(decodeAuthHeader(''), { auth: {} })
    assert.deepEqual(decodeAuthHeader(cliHeader('{}')), { auth: {} })
  })

  test('a header that does not decode is an empty AuthConfig and an error beside it', () => {
    for (const bad of [
      '!!!',
      cliHeader('not json'),
      cliHeader('[1]'),
      cliHeader('{"username":3}'),
    ]) {
      const r = decodeAuthHeader(bad)
      assert.deepEqual(r.auth, {}, bad)
      assert.ok(r.error instanceof InvalidArgument, bad)
      assert.match(r.error.message, /^invalid X-Registry-Auth header: /)
    }
  })

  test('POST /auth bodies', () => {
    assert.deepEqual(authConfigFromJson({ username: 'a', password: 'b', email: '' }), {
      username: 'a',
      password: 'b',
      email: '',
    })
    assert.throws(() => authConfigFromJson('x'), InvalidArgument)
  })
})

describe('X-Registry-Config (POST /build)', () => {
  test("each registry's credentials, keyed as config.json keys them", () => {
    const header = cliHeader(
      JSON.stringify({
        'https://index.docker.io/v1/': { username: 'hub', password: 'h' },
        'localhost:5000': { Username: 'alice', Password: 's' },
        'http://reg.example:8080/v2/': { username: 'bob', password: 'b' },
      }),
    )
    const configs = decodeRegistryConfig(header)
    assert.deepEqual(authForRegistry(configs, 'docker.io'), { username: 'hub', password: 'h' })
    assert.deepEqual(authForRegistry(configs, 'localhost:5000'), {
      username: 'alice',
      password: 's',
    })
    assert.deepEqual(authForRegistry(configs, 'reg.example:8080'), {
      username: 'bob',
      password: 'b',
    })
    assert.equal(authForRegistry(configs, 'other:5000'), undefined)
  })

  test('a header that does not decode gives no credentials', () => {
    assert.equal(decodeRegistryConfig(undefined).size, 0)
    assert.equal(decodeRegistryConfig('%%%').size, 0)
    assert.equal(decodeRegistryConfig(cliHeader('[1]')).size, 0)
    assert.equal(decodeRegistryConfig(cliHeader('{"x:1":7}')).size, 0)
  })
})
