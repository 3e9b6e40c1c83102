import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import { authConfigFromJson, decodeAuthHeader } from './authconfig.ts'

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
