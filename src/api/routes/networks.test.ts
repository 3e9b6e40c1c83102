// The /networks routes in process, over the real bridge implementation (network create,
// list, inspect, remove, prune and connecting a stopped container touch no kernel state).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { NotFound } from '../../engine/errors.ts'
import { nullLogger } from '../../engine/logger.ts'
import { BridgeNetworking } from '../../engine/network/bridge.ts'
import type { NetworkResource, NetworkedContainer } from '../../engine/network/types.ts'
import { fakeEngine, request, startTestServer, type TestServer } from '../testing.ts'

let srv: TestServer
let tmp: string
const stopped: NetworkedContainer = {
  id: 'c0ffee'.padEnd(64, '0'),
  name: 'idle',
  hostname: 'c0ffee000000',
  domainname: '',
  dir: '',
  exposedPorts: {},
  hostConfig: {},
  endpoints: {},
}

before(async () => {
  tmp = await mkdtemp('/tmp/bt-netapi-')
  stopped.dir = tmp
  const bridge = new BridgeNetworking({
    root: join(tmp, 'network'),
    logger: nullLogger,
    peers: {
      peer: (ref) => {
        throw new NotFound(`No such container: ${ref}`)
      },
    },
    // A subnet no host would route, so the test does not depend on the host's routes.
    defaultSubnet: '10.66.0.0/16',
    containers: {
      async get(ref) {
        if (ref === stopped.name || stopped.id.startsWith(ref))
          return { container: stopped, running: false }
        throw new NotFound(`No such container: ${ref}`)
      },
      locked: (_id, fn) => fn(),
    },
  })
  await bridge.init()
  srv = await startTestServer({ ...fakeEngine(), networks: bridge.api })
})

after(async () => {
  await srv.close()
  await rm(tmp, { recursive: true, force: true })
})

async function call(method: string, path: string, body?: unknown) {
  const r = await request(srv.socketPath, method, path, {
    ...(body !== undefined
      ? { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }
      : {}),
  })
  return { status: r.status, body: r.text === '' ? undefined : r.json<Record<string, unknown>>() }
}

const q = (filters: unknown) => encodeURIComponent(JSON.stringify(filters))

describe('/networks', () => {
  let id: string
  test('create answers 201 with the ID; the network has Docker shape', async () => {
    const r = await call('POST', '/v1.45/networks/create', {
      Name: 'front',
      IPAM: { Config: [{ Subnet: '10.50.0.0/24', IPRange: '10.50.0.128/25' }] },
      Labels: { app: 'shop' },
      Options: { 'com.docker.network.driver.mtu': '1400' },
    })
    assert.equal(r.status, 201)
    id = r.body?.Id as string
    assert.match(id, /^[0-9a-f]{64}$/)
    assert.equal(r.body?.Warning, '')
    const n = (await call('GET', `/networks/${id.slice(0, 5)}`)).body as unknown as NetworkResource
    assert.deepEqual(
      { ...n, Created: '' },
      {
        Name: 'front',
        Id: id,
        Created: '',
        Scope: 'local',
        Driver: 'bridge',
        EnableIPv6: false,
        IPAM: {
          Driver: 'default',
          Options: {},
          Config: [{ Subnet: '10.50.0.0/24', IPRange: '10.50.0.128/25' }],
        },
        Internal: false,
        Attachable: false,
        Ingress: false,
        ConfigFrom: { Network: '' },
        ConfigOnly: false,
        Containers: {},
        Options: { 'com.docker.network.driver.mtu': '1400' },
        Labels: { app: 'shop' },
      },
    )
  })

  test('errors have Docker words and statuses', async () => {
    const cases: [string, string, unknown, number, string][] = [
      [
        'POST',
        '/networks/create',
        { Name: 'front' },
        409,
        'network with name front already exists',
      ],
      [
        'POST',
        '/networks/create',
        { Name: 'x', IPAM: { Config: [{ Subnet: '10.50.0.0/16' }] } },
        403,
        'Pool overlaps with other one on this address space',
      ],
      [
        'POST',
        '/networks/create',
        { Name: 'x', IPAM: { Config: [{ Subnet: '10.5.0.0/33' }] } },
        400,
        'invalid subnet 10.5.0.0/33: invalid CIDR address: 10.5.0.0/33',
      ],
      [
        'POST',
        '/networks/create',
        { Name: 'none' },
        403,
        'operation is not permitted on predefined none network ',
      ],
      [
        'POST',
        '/networks/create',
        { Name: 'x', Driver: 'nosuch' },
        404,
        'plugin "nosuch" not found',
      ],
      [
        'POST',
        '/networks/create',
        { Name: 'x', Labels: { a: 1 } },
        400,
        'invalid JSON: json: cannot unmarshal number into Go struct field CreateRequest.Labels of type string',
      ],
      ['GET', '/networks/nosuch', undefined, 404, 'network nosuch not found'],
      ['DELETE', '/networks/nosuch', undefined, 404, 'network nosuch not found'],
      [
        'DELETE',
        '/networks/host',
        undefined,
        403,
        'host is a pre-defined network and cannot be removed',
      ],
      [
        'GET',
        `/networks?filters=${q({ nope: { x: true } })}`,
        undefined,
        400,
        "Invalid filter 'nope'",
      ],
      ['POST', '/networks/front/connect', { Container: 'ghost' }, 404, 'No such container: ghost'],
      [
        'POST',
        '/networks/host/connect',
        { Container: 'idle' },
        400,
        'container cannot be disconnected from host network or connected to host network',
      ],
      [
        'POST',
        '/networks/bridge/connect',
        { Container: 'idle', EndpointConfig: { Aliases: ['a'] } },
        400,
        'network-scoped alias is supported only for containers in user defined networks',
      ],
      [
        'POST',
        '/networks/front/disconnect',
        { Container: 'idle' },
        400,
        `container ${stopped.id} is not connected to network front`,
      ],
    ]
    for (const [method, path, body, status, message] of cases) {
      const r = await call(method, path, body)
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`)
      assert.deepEqual(r.body, { message }, `${method} ${path}`)
    }
  })

  test('list: every network, filtered as Docker filters', async () => {
    const all = (await call('GET', '/networks')).body as unknown as NetworkResource[]
    assert.deepEqual(
      all.map((n) => n.Name),
      ['bridge', 'front', 'host', 'none'],
    )
    const custom = (await call('GET', `/networks?filters=${q({ type: { custom: true } })}`))
      .body as unknown as NetworkResource[]
    assert.deepEqual(
      custom.map((n) => n.Name),
      ['front'],
    )
    const labelled = (await call('GET', `/networks?filters=${q({ label: ['app=shop'] })}`))
      .body as unknown as NetworkResource[]
    assert.deepEqual(
      labelled.map((n) => n.Id),
      [id],
    )
  })

  test('connect and disconnect a stopped container', async () => {
    let r = await call('POST', `/networks/front/connect`, {
      Container: 'idle',
      EndpointConfig: { IPAMConfig: { IPv4Address: '10.50.0.9' }, Aliases: ['shopfront'] },
    })
    assert.equal(r.status, 200)
    r = await call('POST', `/networks/front/connect`, { Container: 'idle' })
    assert.deepEqual(r, {
      status: 403,
      body: { message: 'endpoint with name idle already exists in network front' },
    })
    r = await call('POST', `/networks/front/disconnect`, { Container: 'idle', Force: false })
    assert.equal(r.status, 200)
  })

  test('remove and prune', async () => {
    await call('POST', '/networks/create', { Name: 'spare', Labels: { keep: 'no' } })
    await call('POST', '/networks/create', { Name: 'other' })
    assert.equal((await call('DELETE', '/networks/other')).status, 204)
    const r = await call('POST', `/networks/prune?filters=${q({ label: { 'keep=no': true } })}`)
    assert.deepEqual(r, { status: 200, body: { NetworksDeleted: ['spare'] } })
    assert.deepEqual((await call('POST', '/networks/prune')).body, { NetworksDeleted: ['front'] })
  })
})
