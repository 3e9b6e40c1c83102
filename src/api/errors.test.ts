// The error catalogue: every error class berth has, with the HTTP status and code it carries,
// and what a client receives for it. A class added without a line here fails the first test.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import * as engineErrors from '../engine/errors.ts'
import {
  BerthError,
  Conflict,
  Forbidden,
  Internal,
  InvalidArgument,
  NotFound,
  NotImplemented,
  NotModified,
  Unauthorized,
  Unavailable,
} from '../engine/errors.ts'
import { ParseError } from '../lib/errors.ts'
import type { Router } from './router.ts'
import { request, fakeEngine, startTestServer } from './testing.ts'
import { statusOf } from './errors.ts'

type ErrorClass = new (message: string, options?: { cause?: unknown }) => Error

/** class, its code (BerthErrors), its HTTP status: Docker's errdefs mapping. */
const CATALOGUE: [ErrorClass, string | undefined, number][] = [
  [InvalidArgument, 'invalid_argument', 400],
  [Unauthorized, 'unauthorized', 401],
  [Forbidden, 'forbidden', 403],
  [NotFound, 'not_found', 404],
  [Conflict, 'conflict', 409],
  [NotModified, 'not_modified', 304],
  // a driver that cannot do what is asked (logs of a container whose log driver is none)
  [NotImplemented, 'not_implemented', 501],
  [Unavailable, 'unavailable', 503],
  [Internal, 'internal', 500],
  // src/lib's grammar errors (a reference, duration, signal or time that does not parse).
  [ParseError, undefined, 400],
  // Anything else is a bug or an unexpected failure.
  [Error, undefined, 500],
  [TypeError, undefined, 500],
]

describe('error catalogue', () => {
  test('every error class the engine exports is in the catalogue', () => {
    const exported = (Object.values(engineErrors) as unknown[]).filter(
      (v): v is ErrorClass =>
        typeof v === 'function' && v.prototype instanceof BerthError && v !== BerthError,
    )
    const listed = CATALOGUE.map(([cls]) => cls)
    for (const cls of exported) assert.ok(listed.includes(cls), `${cls.name} is not catalogued`)
    assert.equal(exported.length, 9)
  })

  for (const [cls, code, status] of CATALOGUE) {
    test(`${cls.name}: ${status}${code ? ` (${code})` : ''}`, () => {
      const err = new cls('m', { cause: new Error('c') })
      assert.equal(statusOf(err), status)
      assert.equal(err.name, cls.name)
      assert.equal(err.message, 'm')
      assert.equal((err as Error & { cause?: unknown }).cause instanceof Error, true)
      if (code !== undefined) {
        assert.ok(err instanceof BerthError)
        assert.equal(err.code, code)
        assert.equal(err.status, status)
      } else {
        assert.equal(err instanceof BerthError, false)
      }
    })
  }

  test('a client receives the status and {"message"} for each class', async () => {
    let next: Error = new Error('unset')
    const routes = (r: Router): void => {
      r.get('/boom', () => {
        throw next
      })
    }
    const srv = await startTestServer(fakeEngine(), [routes])
    try {
      for (const [cls, , status] of CATALOGUE) {
        next = new cls(`words for ${cls.name}`)
        const r = await request(srv.socketPath, 'GET', '/boom')
        assert.equal(r.status, status, cls.name)
        if (status === 304) {
          // A 304 carries no body (RFC 9110); the status says it all.
          assert.equal(r.text, '')
          continue
        }
        assert.equal(r.headers['content-type'], 'application/json')
        assert.deepEqual(r.json(), { message: `words for ${cls.name}` })
      }
      // 5xx are logged with the route, as dockerd logs them; 4xx are the client's business.
      const logged = srv.logs.filter((l) => l.includes('Handler for GET /boom returned error'))
      assert.equal(logged.length, CATALOGUE.filter(([, , s]) => s >= 500).length)
      // Clients older than API 1.24 read errors as plain text (here, the refusal of their version).
      const old = await request(srv.socketPath, 'GET', '/v1.23/boom')
      assert.equal(old.status, 400)
      assert.equal(old.headers['content-type'], 'text/plain; charset=utf-8')
      assert.match(old.text, /^client version 1.23 is too old/)
    } finally {
      await srv.close()
    }
  })
})
