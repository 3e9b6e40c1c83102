// A container's GPU request from its HostConfig, and the record of its GPU mount points, which
// keeps every start's targets (their stubs stay in the container's layer until it is removed).
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import type { GpuEdits } from '../gpu/types.ts'
import { gpuRequest, readGpuRecord, recordGpus } from './gpu.ts'

const edits = (targets: string[], gpus: string[]): GpuEdits => ({
  devices: [],
  mounts: targets.map((t) => ({ type: 'bind', source: `/h${t}`, destination: t, options: [] })),
  env: [],
  hooks: [],
  additionalGids: [],
  providers: ['discovery'],
  gpus,
})

describe("a container's GPUs", () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-ctrgpu-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('the request: DeviceRequests checked, the environment, --privileged and --runtime', () => {
    assert.deepEqual(
      gpuRequest({ DeviceRequests: [{ Count: -1, Capabilities: [['gpu']] }], Privileged: true }, [
        'A=1',
      ]),
      {
        deviceRequests: [
          { Driver: '', Count: -1, DeviceIDs: [], Capabilities: [['gpu']], Options: {} },
        ],
        env: ['A=1'],
        privileged: true,
        nvidiaRuntime: false,
      },
    )
    assert.deepEqual(gpuRequest({}, []).deviceRequests, [])
    assert.equal(gpuRequest({ Runtime: 'nvidia' }, []).nvidiaRuntime, true)
    assert.equal(gpuRequest({ Runtime: 'runc' }, []).nvidiaRuntime, false)
    assert.throws(() => gpuRequest({ DeviceRequests: [{ Count: 'x' }] }, []), InvalidArgument)
  })

  test('no GPUs and no record: nothing written', async () => {
    await recordGpus(dir, undefined)
    assert.equal(await readGpuRecord(dir), undefined)
  })

  test("each start's mount points are kept, the GPUs are the last start's", async () => {
    await recordGpus(dir, edits(['/usr/bin/nvidia-smi', '/usr/lib64/libcuda.so.1'], ['0']))
    await recordGpus(dir, edits(['/usr/lib/x86_64-linux-gnu/libcuda.so.1'], ['1']))
    assert.deepEqual(await readGpuRecord(dir), {
      providers: ['discovery'],
      gpus: ['1'],
      mountTargets: [
        '/usr/bin/nvidia-smi',
        '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
        '/usr/lib64/libcuda.so.1',
      ],
    })
    // A start without GPUs (the daemon setting turned off) still remembers the stubs.
    await recordGpus(dir, undefined)
    const r = await readGpuRecord(dir)
    assert.deepEqual(r?.gpus, [])
    assert.equal(r?.mountTargets.length, 3)
  })
})
