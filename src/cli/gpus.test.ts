// berth run/create's --gpus and CDI --device names give the DeviceRequests the stock docker CLI
// sends (captured from docker 28.2.2), and refuse what it refuses, in its words.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { CLI_REQUESTS } from '../engine/gpu/testkit.ts'
import { CliError } from './command.ts'
import { createFlags, parseContainerConfig } from './containeropts.ts'
import { parseFlags } from './flags.ts'
import { csvRecord, isCdiName, parseGpuRequest } from './gpus.ts'

async function sent(argv: string[]): Promise<Record<string, unknown>> {
  const f = parseFlags(createFlags, [...argv, 'busybox'], false)
  const cfg = await parseContainerConfig(f, true)
  return (cfg.body as { HostConfig: Record<string, unknown> }).HostConfig
}

describe('--gpus and CDI device names', () => {
  for (const [flags, want] of Object.entries(CLI_REQUESTS)) {
    test(`${flags}: what docker sends`, async () => {
      const hc = await sent(flags.split(' '))
      assert.deepEqual(hc.DeviceRequests, want)
    })
  }

  test('none: DeviceRequests is null; device paths stay device mappings', async () => {
    const hc = await sent(['--device', '/dev/null:/dev/x', '--device', 'nvidia.com/gpu=0'])
    assert.deepEqual(hc.Devices, [
      { PathOnHost: '/dev/null', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' },
    ])
    assert.equal((await sent([])).DeviceRequests, null)
  })

  const refused: [string, string][] = [
    ['count=x', 'invalid count (x): value must be either "all" or an integer: invalid syntax'],
    ['count=1,count=2', "gpu request key 'count' can be specified only once"],
    ['foo=bar', "unexpected key 'foo' in 'foo=bar'"],
    ['a"b', 'parse error on line 1, column 2: bare " in non-quoted-field'],
    ['', 'EOF'],
    ['"a"b', 'parse error on line 1, column 3: extraneous or missing " in quoted-field'],
    ['"abc', 'parse error on line 1, column 5: extraneous or missing " in quoted-field'],
    ['x,"y"z', 'parse error on line 1, column 5: extraneous or missing " in quoted-field'],
    [' all', 'invalid count ( all): value must be either "all" or an integer: invalid syntax'],
    ['all,', 'invalid count (): value must be either "all" or an integer: invalid syntax'],
    [
      'options=a=b,c',
      'invalid count (c): value must be either "all" or an integer: invalid syntax',
    ],
  ]
  for (const [value, why] of refused) {
    test(`refuses --gpus ${JSON.stringify(value)} in docker's words, exit 125`, () => {
      assert.throws(
        () => parseGpuRequest(value),
        (err: unknown) =>
          err instanceof CliError &&
          err.message === `invalid argument ${JSON.stringify(value)} for "--gpus" flag: ${why}` &&
          err.code === 125,
      )
    })
  }

  test('accepted as docker accepts them', () => {
    assert.deepEqual(parseGpuRequest('"all"').Count, -1)
    assert.deepEqual(parseGpuRequest('all,2').Count, 2)
    assert.deepEqual(parseGpuRequest('"options=a=b,c=d"').Options, { a: 'b', c: 'd' })
    assert.deepEqual(parseGpuRequest('capabilities=utility').Capabilities, [['utility', 'gpu']])
    assert.deepEqual(csvRecord('"a""b",c'), ['a"b', 'c'])
  })

  test("CDI's qualified names", () => {
    for (const n of ['nvidia.com/gpu=all', 'nvidia.com/gpu=0', 'vendor.io/class-x=GPU-1:2']) {
      assert.ok(isCdiName(n), n)
    }
    for (const n of [
      '/dev/sda',
      'nvidia.com/gpu',
      'gpu=0',
      '/gpu=0',
      'nvidia.com/gpu=',
      'a/b/c=d',
    ]) {
      assert.ok(!isCdiName(n), n)
    }
  })
})
