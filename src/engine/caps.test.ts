import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  DEFAULT_CAPABILITIES,
  capsFromMask,
  maskOfCaps,
  normalizeCaps,
  tweakCapabilities,
} from './caps.ts'
import { parseCapBnd } from './runtime/host.ts'

// This machine's bounding set: everything but CAP_SYS_RESOURCE.
const host = capsFromMask('000001fffeffffff')

describe('capabilities', () => {
  test("Docker's default set is CapEff 00000000a80425fb", () => {
    assert.equal(maskOfCaps(DEFAULT_CAPABILITIES), '00000000a80425fb')
    assert.deepEqual(capsFromMask('a80425fb').sort(), [...DEFAULT_CAPABILITIES].sort())
  })

  test('a CapBnd mask names what the host holds', () => {
    assert.equal(host.length, 40)
    assert.ok(!host.includes('CAP_SYS_RESOURCE'))
    assert.ok(host.includes('CAP_CHECKPOINT_RESTORE'))
    assert.equal(maskOfCaps(host), '000001fffeffffff')
    assert.equal(
      parseCapBnd('Name:\tx\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n'),
      '000001fffeffffff',
    )
  })

  const cases: {
    name: string
    add?: string[]
    drop?: string[]
    privileged?: boolean
    want: string[] | RegExp
  }[] = [
    { name: 'defaults', want: [...DEFAULT_CAPABILITIES] },
    { name: 'privileged is all the host holds', privileged: true, want: host },
    { name: 'drop ALL', drop: ['ALL'], want: [] },
    { name: 'drop ALL, add one back', drop: ['all'], add: ['net_raw'], want: ['CAP_NET_RAW'] },
    {
      name: 'add ALL less a drop',
      add: ['ALL'],
      drop: ['CAP_SYS_ADMIN'],
      want: host.filter((c) => c !== 'CAP_SYS_ADMIN'),
    },
    {
      name: 'add without CAP_, drop with it',
      add: ['sys_admin'],
      drop: ['CAP_CHOWN'],
      want: [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN'), 'CAP_SYS_ADMIN'],
    },
    { name: 'unknown', add: ['FOO'], want: /unknown capability: "CAP_FOO"$/ },
    {
      name: 'one the host lacks',
      add: ['SYS_RESOURCE'],
      want: /not available in the current environment: "CAP_SYS_RESOURCE"/,
    },
  ]
  for (const c of cases) {
    test(`tweak: ${c.name}`, () => {
      const run = (): string[] =>
        tweakCapabilities(DEFAULT_CAPABILITIES, c.add ?? [], c.drop ?? [], !!c.privileged, host)
      if (c.want instanceof RegExp) assert.throws(run, c.want)
      else assert.deepEqual(run(), c.want)
    })
  }

  test('normalize keeps ALL and upper-cases', () => {
    assert.deepEqual(normalizeCaps(['all', 'kill'], host), ['ALL', 'CAP_KILL'])
  })
})
