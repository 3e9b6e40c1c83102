// Request bodies at the API boundary: decoded with Go's rules against Docker's definitions,
// wrong types refused with dockerd's words before any engine call.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Ajv } from 'ajv'
import cliBodies from './testdata/docker-cli-bodies.json' with { type: 'json' }
import {
  bodyOperations,
  bodySchema,
  decodeBody,
  DEFINITIONS_VERSION,
  JSON_BODY_OPERATIONS,
  type BodySchema,
} from './body.ts'
import { InvalidArgument } from '../engine/errors.ts'
import { Router } from './router.ts'
import { defaultRouteSets } from './server.ts'
import { fakeEngine, request, startTestServer, type TestServer } from './testing.ts'

const CREATE = 'POST /containers/create'

function refusal(op: string, body: unknown): string {
  try {
    decodeBody(op, body)
  } catch (err) {
    assert.ok(err instanceof InvalidArgument, String(err))
    return err.message
  }
  assert.fail(`${op} took ${JSON.stringify(body)}`)
}

describe('decodeBody', () => {
  test('the definitions are those of the API version berthd serves, and valid JSON Schema', () => {
    assert.equal(DEFINITIONS_VERSION, '1.45')
    const ajv = new Ajv({
      allowUnionTypes: true,
      keywords: ['x-go-type', 'x-go-struct', 'x-go-strslice'],
    })
    for (const op of bodyOperations()) assert.ok(ajv.validateSchema(bodySchema(op)!), op)
  })

  test('bodies the stock docker CLI sends pass, as they are', () => {
    for (const [op, body] of Object.entries(cliBodies.bodies)) {
      const decoded = decodeBody(op, body) as Record<string, unknown>
      // Only nulls go (Go's zero values): every value sent is kept.
      const withoutNulls = JSON.parse(JSON.stringify(body, (_k, v: unknown) => v ?? undefined))
      assert.deepEqual(decoded, withoutNulls, op)
    }
  })

  test("wrong types are refused in dockerd's words", () => {
    // What dockerd says (its wrapper struct is CreateRequest since Docker 25).
    const cases: [unknown, string][] = [
      [{ Image: 'x', Cmd: {} }, 'object into Go struct field CreateRequest.Cmd of type string'],
      [{ Image: 'x', Cmd: [1] }, 'array into Go struct field CreateRequest.Cmd of type string'],
      [{ Image: {} }, 'object into Go struct field CreateRequest.Image of type string'],
      [{ Image: 'x', Env: -1 }, 'number into Go struct field CreateRequest.Env of type []string'],
      [
        { Image: 'x', HostConfig: { Memory: true } },
        'bool into Go struct field HostConfig.HostConfig.Memory of type int64',
      ],
      [
        { Image: 'x', HostConfig: { Memory: 1.5 } },
        'number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64',
      ],
      [
        { Image: 'x', HostConfig: { RestartPolicy: { Name: 5 } } },
        'number into Go struct field RestartPolicy.HostConfig.RestartPolicy.Name of type string',
      ],
      [
        { Image: 'x', HostConfig: { PortBindings: { '80/tcp': [{ HostPort: 80 }] } } },
        'number into Go struct field PortBinding.HostConfig.PortBindings.HostPort of type string',
      ],
      [
        { Image: 'x', Labels: { a: 1 } },
        'number into Go struct field CreateRequest.Labels of type string',
      ],
      [
        { Image: 'x', ExposedPorts: { '80/tcp': 1 } },
        'number into Go struct field CreateRequest.ExposedPorts of type struct {}',
      ],
      [{ Image: 'x', Tty: 'yes' }, 'string into Go struct field CreateRequest.Tty of type bool'],
      [
        { Image: 'x', NetworkingConfig: { EndpointsConfig: { n: { Aliases: 'a' } } } },
        'string into Go struct field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string',
      ],
      [[], 'array into Go value of type container.CreateRequest'],
      ['x', 'string into Go value of type container.CreateRequest'],
      [
        { Image: 'x', HostConfig: { Mounts: [{ Type: 3 }] } },
        'number into Go struct field Mount.HostConfig.Mounts.Type of type mount.Type',
      ],
      [
        { Image: 'x', Healthcheck: { Interval: '1s' } },
        'string into Go struct field HealthConfig.Healthcheck.Interval of type time.Duration',
      ],
      [
        { Image: 'x', StopTimeout: '5' },
        'string into Go struct field CreateRequest.StopTimeout of type int',
      ],
      [
        { Image: 'x', HostConfig: { Binds: 'a:/b' } },
        'string into Go struct field HostConfig.HostConfig.Binds of type []string',
      ],
      [
        { Image: 'x', HostConfig: { Ulimits: [{ Name: 'nofile', Soft: '1' }] } },
        'string into Go struct field Ulimit.HostConfig.Ulimits.Soft of type int64',
      ],
      [
        { Image: 'x', HostConfig: { Memory: -1e30 } },
        'number -1e30 into Go struct field HostConfig.HostConfig.Memory of type int64',
      ],
      [
        { Image: 'x', HostConfig: 5 },
        'number into Go struct field CreateRequest.HostConfig of type container.HostConfig',
      ],
    ]
    for (const [body, words] of cases) {
      assert.equal(refusal(CREATE, body), `invalid JSON: json: cannot unmarshal ${words}`)
    }
  })

  test('the first mismatch in the document is the one named, as Go stops at it', () => {
    const m = refusal(CREATE, { Tty: 'x', Image: 5, HostConfig: { Memory: 'y' } })
    assert.match(m, /CreateRequest\.Tty of type bool$/)
  })

  test("Go's decoding: keys in any case, nulls as zero values, a string as a strslice", () => {
    const d = decodeBody(CREATE, {
      image: 'busybox',
      cmd: 'echo hi',
      ENTRYPOINT: null,
      hostconfig: { memory: 5, binds: null, Init: null },
      Env: [null, 'A=1'],
      Labels: { a: null },
      Unknown: { kept: true },
    })
    assert.deepEqual(d, {
      Image: 'busybox',
      Cmd: ['echo hi'],
      HostConfig: { Memory: 5 },
      Env: ['', 'A=1'],
      Labels: { a: '' },
      Unknown: { kept: true },
    })
    // An exact key wins over one that matches only in another case.
    assert.deepEqual(decodeBody(CREATE, { image: 'a', Image: 'b' }), { Image: 'b' })
    // Values are the engine's to judge, not the decoder's.
    assert.deepEqual(
      decodeBody(CREATE, { Image: 'x', HostConfig: { RestartPolicy: { Name: 'bogus' } } }),
      {
        Image: 'x',
        HostConfig: { RestartPolicy: { Name: 'bogus' } },
      },
    )
    assert.equal(decodeBody(CREATE, null), null)
    assert.deepEqual(decodeBody('POST /no/such/operation', { a: 1 }), { a: 1 })
  })
})

/** A value of the wrong JSON kind for a schema node, or undefined when any kind would do. */
function wrongValue(s: BodySchema): unknown {
  if (s['x-go-strslice']) return {}
  const types = Array.isArray(s.type) ? s.type : []
  if (types.includes('string')) return 7
  if (types.includes('integer') || types.includes('number')) return 'x'
  if (types.includes('boolean')) return 'x'
  if (types.includes('array')) return 5
  if (types.includes('object')) return 5
  return undefined
}

/** For each field (and each field of a struct field), a body whose only fault is that field. */
function wrongBodies(root: BodySchema): { body: Record<string, unknown>; field: string }[] {
  const out: { body: Record<string, unknown>; field: string }[] = []
  for (const [k, s] of Object.entries(root.properties ?? {})) {
    const w = wrongValue(s)
    if (w !== undefined) out.push({ body: { [k]: w }, field: `${root['x-go-struct']}.${k}` })
    for (const [k2, s2] of Object.entries(s.properties ?? {})) {
      const w2 = wrongValue(s2)
      if (w2 !== undefined) {
        out.push({ body: { [k]: { [k2]: w2 } }, field: `${s['x-go-struct']}.${k}.${k2}` })
      }
    }
  }
  return out
}

describe('every body berthd takes is checked before the engine sees it', () => {
  let srv: TestServer
  const served = new Router()
  for (const add of defaultRouteSets) add(served)
  const operations = served.operations()

  before(async () => {
    // The fake engine records nothing and has no create, exec or update: a request that
    // reached it would be a 500, so a 400 here is the boundary's.
    srv = await startTestServer(fakeEngine())
  })
  after(() => srv.close())

  test('every operation with a JSON body that berthd serves has its definition', () => {
    for (const op of operations) {
      if (JSON_BODY_OPERATIONS.includes(op)) {
        assert.ok(bodyOperations().includes(op), `${op} has no definition in engine-api.json`)
      }
    }
  })

  for (const op of bodyOperations().filter((o) => operations.includes(o))) {
    test(`${op}: wrong types are 400s naming the field`, async () => {
      const [method, pattern] = op.split(' ') as [string, string]
      let path = pattern.replace(/\{[^}]+\}/g, 'x')
      if (op === 'POST /commit') path += '?container=x'
      const schema = bodySchema(op)!
      const bodies = [
        ...wrongBodies(schema),
        { body: [] as unknown as Record<string, unknown>, field: '' },
        { body: 'x' as unknown as Record<string, unknown>, field: '' },
      ]
      assert.ok(bodies.length > 2, 'the definition has fields')
      for (const { body, field } of bodies) {
        const r = await request(srv.socketPath, method, path, {
          body: JSON.stringify(body),
          headers: { 'Content-Type': 'application/json' },
        })
        const what = `${op} ${JSON.stringify(body)}`
        assert.equal(r.status, 400, `${what}: ${r.text}`)
        const { message } = r.json<{ message: string }>()
        assert.match(message, /^invalid JSON: json: cannot unmarshal /, what)
        if (field)
          assert.ok(message.includes(`Go struct field ${field} of type `), `${what}: ${message}`)
        else assert.match(message, /into Go value of type /, what)
      }
    })
  }
})
