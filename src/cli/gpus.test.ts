// berth run/create's --gpus and CDI --device names give exactly the DeviceRequests the stock
// docker CLI sends (captured from docker 28.2.2 in the GPU module's testkit).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { CLI_REQUESTS } from '../engine/gpu/testkit.ts'
import { createFlags, parseContainerConfig } from './containeropts.ts'
import { parseFlags } from './flags.ts'

async function sent(argv: string[]): Promise<Record<string, unknown>> {
  const f = parseFlags(createFlags, [...argv, 'busybox'], false)
  const cfg = await parseContainerConfig(f, true)
  return cfg.body.HostConfig as Record<string, unknown>
}

describe('--gpus and CDI device names', () => {
  for (const [flags, want] of Object.entries(CLI_REQUESTS)) {
    test(`${flags}: what docker sends`, async () => {
      assert.deepEqual((await sent(flags.split(' '))).DeviceRequests, want)
    })
  }

  test('none: DeviceRequests is null; device paths stay device mappings', async () => {
    const hc = await sent(['--device', '/dev/null:/dev/x', '--device', 'nvidia.com/gpu=0'])
    assert.deepEqual(hc.Devices, [
      { PathOnHost: '/dev/null', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' },
    ])
    assert.equal((await sent([])).DeviceRequests, null)
  })
})
