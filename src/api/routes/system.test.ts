import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import os from 'node:os'
import { fakeEngine, request, startTestServer, type TestServer } from '../testing.ts'

let srv: TestServer
before(async () => {
  srv = await startTestServer(fakeEngine([], '/tmp/berth-root'))
})
after(async () => {
  await srv.close()
})

describe('/_ping', () => {
  for (const path of ['/_ping', '/v1.45/_ping', '/v1.24/_ping']) {
    test(`GET ${path}`, async () => {
      const r = await request(srv.socketPath, 'GET', path)
      assert.equal(r.status, 200)
      assert.equal(r.text, 'OK')
      assert.equal(r.headers['api-version'], '1.45')
      assert.equal(r.headers['builder-version'], '1')
      assert.equal(r.headers['docker-experimental'], 'false')
      assert.equal(r.headers['ostype'], 'linux')
      assert.equal(r.headers['swarm'], 'inactive')
      assert.equal(r.headers['cache-control'], 'no-cache, no-store, must-revalidate')
      assert.equal(r.headers['pragma'], 'no-cache')
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8')
    })
  }
  test('HEAD has the headers and no body', async () => {
    const r = await request(srv.socketPath, 'HEAD', '/_ping')
    assert.equal(r.status, 200)
    assert.equal(r.body.length, 0)
    assert.equal(r.headers['api-version'], '1.45')
    assert.equal(r.headers['swarm'], 'inactive')
  })
})

test('/version has Docker shape', async () => {
  const r = await request(srv.socketPath, 'GET', '/version')
  assert.equal(r.status, 200)
  const v = r.json<Record<string, unknown>>()
  assert.equal(v['ApiVersion'], '1.45')
  assert.equal(v['MinAPIVersion'], '1.24')
  assert.equal(v['Os'], 'linux')
  assert.equal(v['Arch'], process.arch === 'x64' ? 'amd64' : v['Arch'])
  assert.equal(v['GoVersion'], `node ${process.version}`)
  assert.equal(v['KernelVersion'], os.release())
  const comps = v['Components'] as {
    Name: string
    Version: string
    Details: Record<string, string>
  }[]
  assert.equal(comps[0]!.Name, 'Engine')
  assert.equal(comps[0]!.Version, v['Version'])
  assert.deepEqual(Object.keys(comps[0]!.Details).sort(), [
    'ApiVersion',
    'Arch',
    'BuildTime',
    'Experimental',
    'GitCommit',
    'GoVersion',
    'KernelVersion',
    'MinAPIVersion',
    'Os',
  ])
  assert.equal(comps[0]!.Details['Experimental'], 'false')
  assert.equal(typeof (v['Platform'] as { Name: string }).Name, 'string')
})

test('/info counts from the engine and describes the host', async () => {
  const r = await request(srv.socketPath, 'GET', '/info')
  assert.equal(r.status, 200)
  const i = r.json<Record<string, unknown>>()
  assert.equal(i['Containers'], 3)
  assert.equal(i['ContainersRunning'], 1)
  assert.equal(i['ContainersStopped'], 2)
  assert.equal(i['Images'], 0)
  assert.equal(i['Driver'], 'overlay2')
  assert.equal(i['DockerRootDir'], '/tmp/berth-root')
  assert.equal(i['NCPU'], os.cpus().length)
  assert.equal(i['MemTotal'], os.totalmem())
  assert.equal(i['Name'], os.hostname())
  assert.equal(i['Architecture'], os.machine())
  assert.equal(i['OSType'], 'linux')
  assert.equal(i['CgroupDriver'], 'cgroupfs')
  assert.equal(i['CgroupVersion'], '1')
  assert.equal(i['DefaultRuntime'], 'runc')
  assert.deepEqual(i['Warnings'], [])
  assert.match(String(i['ID']), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  assert.equal((i['Swarm'] as { LocalNodeState: string }).LocalNodeState, 'inactive')
  assert.notEqual(i['OperatingSystem'], '')
})

test("/info reports the engine's host and drivers, not constants", async () => {
  const engine = fakeEngine([], '/tmp/berth-root')
  engine.system.facts = {
    cgroupVersion: '2',
    cgroupDriver: 'cgroupfs',
    storageDriver: 'overlay2',
    driverStatus: [
      ['Backing Filesystem', 'xfs'],
      ['Supports d_type', 'true'],
    ],
    plugins: { volume: ['local'], network: ['host', 'null'], log: ['json-file'] },
  }
  const s = await startTestServer(engine)
  try {
    const i = (await request(s.socketPath, 'GET', '/info')).json<Record<string, unknown>>()
    assert.equal(i['CgroupVersion'], '2')
    assert.deepEqual(i['DriverStatus'], [
      ['Backing Filesystem', 'xfs'],
      ['Supports d_type', 'true'],
    ])
    const plugins = i['Plugins'] as Record<string, unknown>
    // No bridge until one is wired: a network driver listed must be one `docker run` can use.
    assert.deepEqual(plugins['Network'], ['host', 'null'])
    assert.deepEqual(plugins['Volume'], ['local'])
    assert.deepEqual(plugins['Log'], ['json-file'])
  } finally {
    await s.close()
  }
})

test('/plugins lists none, as a dockerd without plugins', async () => {
  const r = await request(srv.socketPath, 'GET', '/v1.41/plugins')
  assert.equal(r.status, 200)
  assert.equal(r.text, '[]\n')
})
