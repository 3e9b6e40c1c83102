// /info's GPU fields in process, with an engine whose GPU module is given: Docker 28's
// DiscoveredDevices and CDISpecDirs, berth's own GPUs (who provides them, and each one), and
// what discovery could not use among the warnings.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { GpuInventory } from '../../engine/gpu/types.ts'
import { fakeEngine, request, startTestServer, type TestServer } from '../testing.ts'

const inventory: GpuInventory = {
  provider: 'discovery',
  driverVersion: '550.54.14',
  gpus: [
    { index: 0, minor: 1, uuid: 'GPU-aa', busId: '0000:3b:00.0', model: 'A100' },
    { index: 1, minor: 0 },
  ],
  devices: [
    { id: 'vendor.com/fpga=x', source: 'cdi' },
    { id: 'nvidia.com/gpu=all', source: 'discovery' },
    { id: 'nvidia.com/gpu=0', source: 'discovery' },
  ],
  cdiSpecDirs: ['/etc/cdi', '/var/run/cdi'],
  warnings: ['GPU GPU-bb: /dev/nvidia2 is missing'],
}

async function info(srv: TestServer): Promise<Record<string, unknown>> {
  const r = await request(srv.socketPath, 'GET', '/info')
  assert.equal(r.status, 200)
  return r.json<Record<string, unknown>>()
}

describe('/info and GPUs', () => {
  let withGpus: TestServer
  let without: TestServer
  before(async () => {
    const engine = fakeEngine()
    engine.system.facts.gpus = inventory
    withGpus = await startTestServer(engine)
    without = await startTestServer(fakeEngine())
  })
  after(async () => {
    await withGpus.close()
    await without.close()
  })

  test('the GPUs found, who provides them, and the devices CDI names reach', async () => {
    const i = await info(withGpus)
    assert.deepEqual(i['DiscoveredDevices'], [
      { Source: 'cdi', ID: 'vendor.com/fpga=x' },
      { Source: 'discovery', ID: 'nvidia.com/gpu=all' },
      { Source: 'discovery', ID: 'nvidia.com/gpu=0' },
    ])
    assert.deepEqual(i['CDISpecDirs'], ['/etc/cdi', '/var/run/cdi'])
    assert.deepEqual(i['GPUs'], {
      Provider: 'discovery',
      DriverVersion: '550.54.14',
      Devices: [
        { Index: 0, Minor: 1, UUID: 'GPU-aa', BusID: '0000:3b:00.0', Model: 'A100' },
        { Index: 1, Minor: 0, UUID: '', BusID: '', Model: '' },
      ],
    })
    assert.deepEqual(i['Warnings'], ['WARNING: GPU: GPU GPU-bb: /dev/nvidia2 is missing'])
    assert.deepEqual(i['Runtimes'], { runc: { path: 'runc' }, nvidia: { path: 'runc' } })
  })

  test('an engine without a GPU module: none, and no warning', async () => {
    const i = await info(without)
    assert.deepEqual(i['DiscoveredDevices'], [])
    assert.deepEqual(i['GPUs'], { Provider: 'none', DriverVersion: '', Devices: [] })
    assert.deepEqual(i['Warnings'], [])
    assert.deepEqual(i['Runtimes'], { runc: { path: 'runc' } })
  })
})
