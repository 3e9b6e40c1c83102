// CDI specs read and validated with the spec's rules (tags.cncf.io/container-device-interface),
// gathered into a registry, and their devices resolved and merged.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import {
  buildRegistry,
  isQualifiedName,
  loadSpec,
  mergeEdits,
  minimumVersion,
  parseQualifiedName,
  resolveDevices,
  type CdiRegistry,
  type LoadedSpec,
} from './cdi.ts'

const VENDOR_YAML = `---
cdiVersion: 0.6.0
kind: vendor.com/device
annotations:
  owner: tests
devices:
- name: "0"
  annotations: { slot: "a" }
  containerEdits:
    deviceNodes:
    - path: /dev/vendor0
      type: c
      major: 240
      minor: 0
      fileMode: 0660
      permissions: rw
    env: [VENDOR_DEVICE=0]
- name: dev-1.x:y
  containerEdits:
    deviceNodes:
    - path: /dev/vendor1
      hostPath: /dev/vendor-host1
containerEdits:
  env:
  - VENDOR_COMMON=yes
  mounts:
  - hostPath: /opt/vendor/lib
    containerPath: /usr/local/vendor/lib
    options: [ro, rbind]
  hooks:
  - hookName: createContainer
    path: /opt/vendor/bin/hook
    args: [hook, setup]
    env: [A=b]
    timeout: 5
`

const VENDOR_JSON = JSON.stringify({
  cdiVersion: '0.3.0',
  kind: 'vendor.com/net',
  devices: [{ name: 'eth', containerEdits: { env: ['NET=1'] } }],
})

describe('loadSpec: valid specs', () => {
  test('YAML with every kind of edit, annotations, octal file mode', () => {
    const l = loadSpec(VENDOR_YAML, '/etc/cdi/vendor.yaml', 0)
    assert.equal(l.vendor, 'vendor.com')
    assert.equal(l.class, 'device')
    assert.deepEqual(l.spec.devices[0]?.containerEdits.deviceNodes, [
      { path: '/dev/vendor0', type: 'c', major: 240, minor: 0, fileMode: 0o660, permissions: 'rw' },
    ])
    assert.deepEqual(l.spec.containerEdits?.hooks, [
      {
        hookName: 'createContainer',
        path: '/opt/vendor/bin/hook',
        args: ['hook', 'setup'],
        env: ['A=b'],
        timeout: 5,
      },
    ])
    assert.deepEqual(l.spec.annotations, { owner: 'tests' })
  })

  test('JSON', () => {
    const l = loadSpec(VENDOR_JSON, '/var/run/cdi/net.json', 1)
    assert.equal(l.spec.devices[0]?.name, 'eth')
    assert.equal(l.priority, 1)
  })

  const versions: [string, string][] = [
    ['0.3.0', 'kind: a.com/b\ndevices: [{name: x, containerEdits: {env: [A=1]}}]'],
    [
      '0.4.0',
      'kind: a.com/b\ndevices: [{name: x, containerEdits: {mounts: [{hostPath: /a, containerPath: /b, type: bind}]}}]',
    ],
    ['0.5.0', 'kind: a.com/b\ndevices: [{name: "0", containerEdits: {env: [A=1]}}]'],
    ['0.6.0', 'kind: a.com/b.c\ndevices: [{name: x, containerEdits: {env: [A=1]}}]'],
    ['0.7.0', 'kind: a.com/b\ndevices: [{name: x, containerEdits: {additionalGids: [44]}}]'],
    [
      '1.1.0',
      'kind: a.com/b\ndevices: [{name: x, containerEdits: {netDevices: [{hostInterfaceName: e0, name: eth0}]}}]',
    ],
  ]
  for (const [min, body] of versions) {
    test(`a spec that needs ${min} loads at ${min}, and not a version below`, () => {
      const l = loadSpec(`cdiVersion: ${min}\n${body}`, 's.yaml', 0)
      assert.equal(minimumVersion(l.spec), min)
      assert.equal(loadSpec(`cdiVersion: "1.1.0"\n${body}`, 's.yaml', 0).spec.cdiVersion, '1.1.0')
      if (min !== '0.3.0') {
        assert.throws(
          () => loadSpec(`cdiVersion: 0.3.0\n${body}`, 's.yaml', 0),
          new RegExp(
            `invalid CDI Spec "s.yaml": the spec version must be at least v${min.replace(/\./g, '\\.')}`,
          ),
        )
      }
    })
  }
  test('a leading v in the version is accepted', () => {
    loadSpec(
      'cdiVersion: v0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {env: [A=1]}}]',
      's.yaml',
      0,
    )
  })
})

describe("loadSpec: invalid specs, in CDI's words", () => {
  const dev = 'devices: [{name: x, containerEdits: {env: [A=1]}}]'
  const cases: [string, string, string][] = [
    [
      'not YAML',
      'cdiVersion: [',
      'failed to parse CDI Spec "f.yaml": failed to unmarshal CDI Spec:',
    ],
    ['empty', '', 'failed to parse CDI Spec "f.yaml": no Spec data'],
    [
      'an unknown field',
      `cdiVersion: 0.5.0\nkind: a.com/b\nvendor: x\n${dev}`,
      'spec: unknown field "vendor"',
    ],
    [
      'an unknown field in a device node',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {deviceNodes: [{path: /dev/x, mode: 1}]}}]',
      'spec.devices[0].containerEdits.deviceNodes[0]: unknown field "mode"',
    ],
    [
      'a name that is a number',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: 0, containerEdits: {env: [A=1]}}]',
      'spec.devices[0].name: must be a string',
    ],
    [
      'a major that is a string',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {deviceNodes: [{path: /dev/x, major: "1"}]}}]',
      'major: must be an integer',
    ],
    [
      'a duplicate key',
      `cdiVersion: 0.5.0\nkind: a.com/b\nkind: c.com/d\n${dev}`,
      'failed to unmarshal CDI Spec',
    ],
    [
      'an unknown version',
      `cdiVersion: 0.9.0\nkind: a.com/b\n${dev}`,
      'invalid CDI Spec "f.yaml": invalid version "0.9.0"',
    ],
    ['no version', `kind: a.com/b\n${dev}`, 'invalid version ""'],
    ['an unqualified kind', `cdiVersion: 0.5.0\nkind: gpu\n${dev}`, 'invalid vendor. empty name'],
    [
      'a vendor starting with a digit',
      `cdiVersion: 0.5.0\nkind: 1a.com/b\n${dev}`,
      'invalid vendor. "1a.com", should start with letter',
    ],
    [
      'a class with a slash',
      `cdiVersion: 0.5.0\nkind: a.com/b/c\n${dev}`,
      `invalid class. invalid character '/' in name "b/c"`,
    ],
    [
      'a class ending in a dash',
      `cdiVersion: 0.5.0\nkind: a.com/b-\n${dev}`,
      'invalid class. "b-", should end with a letter or digit',
    ],
    ['no devices', 'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: []', 'invalid spec, no devices'],
    [
      'a device without edits',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x}]',
      'failed add device "x": invalid device, empty device edits',
    ],
    [
      'a device name with a slash',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: a/b, containerEdits: {env: [A=1]}}]',
      `failed add device "a/b": invalid character '/' in device name "a/b"`,
    ],
    [
      'two devices of one name',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {env: [A=1]}}, {name: x, containerEdits: {env: [A=2]}}]',
      'invalid spec, multiple device "x"',
    ],
    [
      'a variable without a name',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {env: [=1]}}]',
      'invalid container edits: invalid environment variable "=1"',
    ],
    [
      'a device node without a path',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {deviceNodes: [{type: c}]}}]',
      'invalid (empty) device path',
    ],
    [
      'a device node of an unknown type',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {deviceNodes: [{path: /dev/x, type: z}]}}]',
      'device "/dev/x": invalid type "z"',
    ],
    [
      'bad permissions',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {deviceNodes: [{path: /dev/x, permissions: rwx}]}}]',
      'device "/dev/x": invalid permissions "rwx"',
    ],
    [
      'an unknown hook',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {hooks: [{hookName: onBoot, path: /x}]}}]',
      'invalid hook name "onBoot"',
    ],
    [
      'a hook without a path',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {hooks: [{hookName: poststop}]}}]',
      'invalid hook "poststop" with empty path',
    ],
    [
      'a mount without a host path',
      'cdiVersion: 0.5.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {mounts: [{containerPath: /x}]}}]',
      'invalid mount, empty host path',
    ],
    [
      'a bad common edit',
      `cdiVersion: 0.5.0\nkind: a.com/b\n${dev}\ncontainerEdits: {mounts: [{hostPath: /x}]}`,
      'invalid mount, empty container path',
    ],
    [
      'a bad ClosID',
      'cdiVersion: 0.7.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {intelRdt: {closID: ".."}}}]',
      'invalid ClosID',
    ],
    [
      'two net devices for one host interface',
      'cdiVersion: 1.1.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {netDevices: [{hostInterfaceName: e0, name: a}, {hostInterfaceName: e0, name: b}]}}]',
      'duplicate HostInterfaceName "e0"',
    ],
  ]
  for (const [name, text, message] of cases) {
    test(name, () => {
      assert.throws(
        () => loadSpec(text, 'f.yaml', 0),
        (err: unknown) => err instanceof Error && err.message.includes(message),
        `wanted: ${message}`,
      )
    })
  }

  test('aliases cannot blow up the parser', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    ].join('\n')
    assert.throws(() => loadSpec(bomb, 'bomb.yaml', 0), /failed to parse CDI Spec/)
  })
})

describe('qualified names', () => {
  const ok: [string, string, string, string][] = [
    ['nvidia.com/gpu=0', 'nvidia.com', 'gpu', '0'],
    ['nvidia.com/gpu=all', 'nvidia.com', 'gpu', 'all'],
    ['nvidia.com/gpu=GPU-3b000000-1111', 'nvidia.com', 'gpu', 'GPU-3b000000-1111'],
    ['nvidia.com/gpu=0:1', 'nvidia.com', 'gpu', '0:1'],
    ['vendor.com/class.v2=dev_a', 'vendor.com', 'class.v2', 'dev_a'],
  ]
  for (const [name, vendor, cls, dev] of ok) {
    test(name, () => {
      assert.deepEqual(parseQualifiedName(name), { vendor, class: cls, name: dev })
      assert.equal(isQualifiedName(name), true)
    })
  }
  const bad: [string, string][] = [
    ['/dev/sda', 'unqualified device "/dev/sda", missing vendor'],
    ['gpu=0', 'unqualified device "gpu=0", missing vendor'],
    ['nvidia.com/gpu', 'unqualified device "nvidia.com/gpu", missing vendor'],
    ['nvidia.com/gpu=', 'unqualified device "nvidia.com/gpu=", missing vendor'],
    [
      'nvidia.com/gpu=a/b',
      `invalid device "nvidia.com/gpu=a/b": invalid character '/' in device name "a/b"`,
    ],
    [
      '-x.com/gpu=0',
      `invalid device "-x.com/gpu=0": invalid vendor. "-x.com", should start with letter`,
    ],
  ]
  for (const [name, message] of bad) {
    test(`refuses ${name}`, () => {
      assert.throws(
        () => parseQualifiedName(name),
        (err: unknown) => err instanceof InvalidArgument && err.message === message,
      )
      assert.equal(isQualifiedName(name), false)
    })
  }
})

function spec(
  kind: string,
  names: string[],
  path: string,
  priority: number,
  env = 'X=1',
): LoadedSpec {
  return loadSpec(
    `cdiVersion: 0.5.0\nkind: ${kind}\ndevices:\n${names.map((n) => `- name: "${n}"\n  containerEdits: {env: ["${env}"]}\n`).join('')}`,
    path,
    priority,
  )
}

describe('the registry', () => {
  test('a later directory overrides an earlier one; equal priorities conflict', () => {
    const reg = buildRegistry(
      ['/etc/cdi', '/var/run/cdi'],
      [
        spec('a.com/x', ['0', '1'], '/etc/cdi/a.yaml', 0, 'FROM=etc'),
        spec('a.com/x', ['1'], '/var/run/cdi/a.yaml', 1, 'FROM=run'),
        spec('b.com/y', ['k'], '/etc/cdi/b1.yaml', 0),
        spec('b.com/y', ['k'], '/etc/cdi/b2.yaml', 0),
        {
          path: '/etc/cdi/broken.yaml',
          error: 'invalid CDI Spec "/etc/cdi/broken.yaml": invalid version "9"',
        },
      ],
    )
    assert.deepEqual([...reg.devices.keys()].sort(), ['a.com/x=0', 'a.com/x=1'])
    assert.equal(reg.devices.get('a.com/x=1')?.spec.path, '/var/run/cdi/a.yaml')
    assert.equal(reg.devices.get('a.com/x=0')?.spec.path, '/etc/cdi/a.yaml')
    assert.deepEqual(
      reg.errors.map((e) => e.message),
      [
        'conflicting device "b.com/y=k" (specs "/etc/cdi/b2.yaml", "/etc/cdi/b1.yaml")',
        'invalid CDI Spec "/etc/cdi/broken.yaml": invalid version "9"',
      ],
    )
  })

  const reg: CdiRegistry = buildRegistry(
    ['/etc/cdi', '/var/run/cdi'],
    [
      loadSpec(VENDOR_YAML, '/etc/cdi/vendor.yaml', 0),
      spec('other.org/fpga', ['f0'], '/etc/cdi/o.yaml', 0),
    ],
  )

  const errors: [string, string][] = [
    [
      'acme.com/gpu=0',
      'CDI device injection failed: unresolvable CDI devices acme.com/gpu=0: no CDI spec for vendor "acme.com" in /etc/cdi, /var/run/cdi; vendors with specs: other.org, vendor.com',
    ],
    [
      'vendor.com/gpu=0',
      'CDI device injection failed: unresolvable CDI devices vendor.com/gpu=0: vendor "vendor.com" has no device class "gpu" (classes: device)',
    ],
    [
      'vendor.com/device=7',
      'CDI device injection failed: unresolvable CDI devices vendor.com/device=7: no device "7" of kind "vendor.com/device" (devices: 0, dev-1.x:y)',
    ],
    [
      'device7',
      'CDI device injection failed: unresolvable CDI devices device7: unqualified device "device7", missing vendor',
    ],
  ]
  for (const [name, message] of errors) {
    test(`resolving ${name}`, () => {
      assert.throws(
        () => resolveDevices(reg, [name]),
        (err: unknown) => err instanceof InvalidArgument && err.message === message,
      )
    })
  }

  test("merge: the spec's common edits once, before its first device's", () => {
    const resolved = resolveDevices(reg, [
      'vendor.com/device=dev-1.x:y',
      'vendor.com/device=0',
      'other.org/fpga=f0',
    ])
    const m = mergeEdits(resolved)
    assert.deepEqual(m.env, ['VENDOR_COMMON=yes', 'VENDOR_DEVICE=0', 'X=1'])
    assert.deepEqual(
      m.deviceNodes?.map((d) => d.path),
      ['/dev/vendor1', '/dev/vendor0'],
    )
    assert.equal(m.mounts?.length, 1)
    assert.equal(m.hooks?.length, 1)
  })
})
