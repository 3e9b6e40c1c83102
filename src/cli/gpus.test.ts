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

  // What docker 28.2.2 prints for each (its flag parser quotes the value as Go's %q does).
  const refused: [string, string][] = [
    ['count=x', 'invalid count (x): value must be either "all" or an integer: invalid syntax'],
    ['count=1,count=2', "gpu request key 'count' can be specified only once"],
    ['foo=bar', "unexpected key 'foo' in 'foo=bar'"],
    ['a"b', 'parse error on line 1, column 2: bare " in non-quoted-field'],
    ['', 'EOF'],
    ['"a"b', 'parse error on line 1, column 3: extraneous or missing " in quoted-field'],
    ['"abc', 'parse error on line 1, column 5: extraneous or missing " in quoted-field'],
    ['x,"y"z', 'parse error on line 1, column 5: extraneous or missing " in quoted-field'],
    ['"all",  "count=2"', 'parse error on line 1, column 9: bare " in non-quoted-field'],
    [' all', 'invalid count ( all): value must be either "all" or an integer: invalid syntax'],
    ['all,', 'invalid count (): value must be either "all" or an integer: invalid syntax'],
    [
      'options=a=b,c',
      'invalid count (c): value must be either "all" or an integer: invalid syntax',
    ],
  ]
  for (const [value, why] of refused) {
    test(`refuses --gpus ${JSON.stringify(value)} in docker's words`, () => {
      assert.throws(() => parseFlags(createFlags, ['--gpus', value, 'busybox'], false), {
        message: `invalid argument ${JSON.stringify(value)} for "--gpus" flag: ${why}`,
      })
    })
  }

  test('accepted as docker accepts them', async () => {
    const one = async (v: string) =>
      ((await sent(['--gpus', v])).DeviceRequests as Record<string, unknown>[])[0]!
    assert.equal((await one('"all"')).Count, -1)
    assert.equal((await one('all,2')).Count, 2)
    assert.deepEqual((await one('"options=a=b,c=d"')).Options, { a: 'b', c: 'd' })
    assert.deepEqual((await one('capabilities=utility')).Capabilities, [['utility', 'gpu']])
    assert.deepEqual((await one('"device=0,""2"""')).DeviceIDs, ['0', '"2"'])
  })
})
