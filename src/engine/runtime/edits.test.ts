// One test per spec edit: the spec each produces from a base, and the order specEdits applies.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  bindHostSysEdit,
  applyEdits,
  consoleSizeEdit,
  deviceEditsEdit,
  devicesEdit,
  idMappingsEdit,
  mountsEdit,
  networkEdit,
  OWN_NETWORK_SYSCTLS,
  rootfsPropagationEdit,
  specEdits,
} from './edits.ts'
import { baseSpec } from './spec.ts'
import type { DeviceEdits, DeviceNode, Spec, SpecInput } from './types.ts'

function input(over: Partial<SpecInput> = {}): SpecInput {
  return {
    id: 'abc',
    rootfs: '/r',
    readonlyRootfs: false,
    hostname: 'h',
    process: {
      args: ['true'],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [] },
      terminal: false,
    },
    mounts: [],
    ...over,
  }
}

const base = (over: Partial<SpecInput> = {}): Spec =>
  baseSpec(input(over), { arch: 'amd64', kernel: '6.1.0' })

const tun: DeviceNode = { path: '/dev/net/tun', type: 'c', major: 10, minor: 200, access: 'rwm' }

describe('spec edits', () => {
  test('mountsEdit: mounts follow the defaults, replacing those at their destination', () => {
    const s0 = base()
    const shm = { type: 'tmpfs', source: 'tmpfs', destination: '/dev/shm', options: ['size=1k'] }
    const data = { type: 'bind', source: '/h', destination: '/data', options: ['rbind'] }
    const s = mountsEdit([shm, data])(s0)
    const dests = s.mounts.map((m) => m.destination)
    assert.deepEqual(dests.slice(-2), ['/dev/shm', '/data'])
    assert.equal(dests.filter((d) => d === '/dev/shm').length, 1)
    assert.equal(s.mounts.length, s0.mounts.length + 1)
    // A new spec: the base and the mounts given are left as they were.
    assert.ok(s0.mounts.some((m) => m.destination === '/dev/shm' && m.source === 'shm'))
    s.mounts.at(-1)!.options.push('ro')
    assert.deepEqual(data.options, ['rbind'])
  })

  test('mountsEdit: mounting /dev drops every default mount under it', () => {
    const dev = { type: 'bind', source: '/dev', destination: '/dev', options: ['rbind'] }
    const dests = mountsEdit([dev])(base()).mounts.map((m) => m.destination)
    assert.deepEqual(
      dests.filter((d) => d.startsWith('/dev')),
      ['/dev'],
    )
  })

  test('devicesEdit: nodes made and allowed; under --privileged only made', () => {
    const s = devicesEdit([tun])(base())
    assert.deepEqual(s.linux.devices, [{ path: '/dev/net/tun', type: 'c', major: 10, minor: 200 }])
    assert.deepEqual(s.linux.resources.devices.at(-1), {
      allow: true,
      type: 'c',
      major: 10,
      minor: 200,
      access: 'rwm',
    })
    const p = devicesEdit([tun])(base({ security: { privileged: true } }))
    assert.deepEqual(p.linux.resources.devices, [{ allow: true, access: 'rwm' }])
    assert.equal(p.linux.devices?.length, 1)
    assert.equal(devicesEdit([])(base()).linux.devices, undefined)
  })

  test('devicesEdit: an empty access makes the node but adds no rule; a node replaces one at its path', () => {
    const fifo: DeviceNode = { path: '/dev/fifo', type: 'p', major: 0, minor: 0, access: '' }
    const s0 = base()
    const s = devicesEdit([tun, fifo])(s0)
    assert.deepEqual(
      s.linux.devices?.map((d) => d.path),
      ['/dev/net/tun', '/dev/fifo'],
    )
    assert.equal(s.linux.resources.devices.length, s0.linux.resources.devices.length + 1)
    assert.ok(s.linux.resources.devices.every((r) => r.access !== ''))
    const again = devicesEdit([{ ...tun, minor: 201, access: 'r' }])(s)
    assert.deepEqual(
      again.linux.devices?.map((d) => `${d.path} ${d.minor}`),
      ['/dev/fifo 0', '/dev/net/tun 201'],
    )
  })

  test('deviceEditsEdit: nodes owned by the user, mounts after, variables replaced, hooks, groups', () => {
    const gpu: DeviceNode = { path: '/dev/nvidia0', type: 'c', major: 195, minor: 0, access: 'rw' }
    const owned: DeviceNode = { ...gpu, path: '/dev/nvidiactl', minor: 255, uid: 0, gid: 0 }
    const e: DeviceEdits = {
      devices: [gpu, owned],
      mounts: [
        {
          type: 'bind',
          source: '/h/libcuda.so.1',
          destination: '/usr/lib64/libcuda.so.1',
          options: ['bind', 'ro'],
        },
        {
          type: 'bind',
          source: '/h/smi',
          destination: '/usr/bin/nvidia-smi',
          options: ['bind', 'ro'],
        },
      ],
      env: ['NVIDIA_VISIBLE_DEVICES=0', 'CUDA_CACHE=/x'],
      hooks: [
        { stage: 'createRuntime', path: '/usr/bin/hook', args: ['hook', 'a'] },
        { stage: 'createRuntime', path: '/usr/bin/hook', args: ['hook', 'b'] },
        { stage: 'poststop', path: '/usr/bin/after' },
      ],
      additionalGids: [44, 10],
    }
    const i = input({
      process: {
        ...input().process,
        env: ['PATH=/bin', 'NVIDIA_VISIBLE_DEVICES=all'],
        user: { uid: 1000, gid: 1001, additionalGids: [10] },
      },
      mounts: [{ type: 'bind', source: '/mine', destination: '/usr/bin/nvidia-smi', options: [] }],
    })
    const s0 = mountsEdit(i.mounts)(base(i))
    const s = deviceEditsEdit(e)(s0)
    assert.deepEqual(s.linux.devices, [
      { path: '/dev/nvidia0', type: 'c', major: 195, minor: 0, uid: 1000, gid: 1001 },
      { path: '/dev/nvidiactl', type: 'c', major: 195, minor: 255, uid: 0, gid: 0 },
    ])
    assert.deepEqual(
      s.linux.resources.devices.slice(-2).map((r) => `${r.type} ${r.major}:${r.minor} ${r.access}`),
      ['c 195:0 rw', 'c 195:255 rw'],
    )
    assert.deepEqual(
      s.mounts.slice(-2).map((m) => `${m.source} ${m.destination}`),
      ['/h/libcuda.so.1 /usr/lib64/libcuda.so.1', '/h/smi /usr/bin/nvidia-smi'],
    )
    assert.equal(s.mounts.length, s0.mounts.length + 1)
    assert.deepEqual(s.process.env, ['PATH=/bin', 'NVIDIA_VISIBLE_DEVICES=0', 'CUDA_CACHE=/x'])
    assert.deepEqual(s.process.user.additionalGids, [10, 44])
    assert.deepEqual(s.hooks, {
      createRuntime: [
        { path: '/usr/bin/hook', args: ['hook', 'a'] },
        { path: '/usr/bin/hook', args: ['hook', 'b'] },
      ],
      poststop: [{ path: '/usr/bin/after' }],
    })
    // Root's nodes keep no owner (they are root's already); nothing asked, nothing changed.
    const root = deviceEditsEdit(e)(base())
    assert.equal(root.linux.devices?.[0]?.uid, undefined)
    assert.equal(deviceEditsEdit(undefined)(s0), s0)
    // The input is left as it was.
    assert.deepEqual(s0.process.env, ['PATH=/bin', 'NVIDIA_VISIBLE_DEVICES=all'])
    assert.equal(s0.hooks, undefined)
  })

  test("networkEdit: own namespace with Docker's sysctls, a path to join, or the host's", () => {
    const own = networkEdit({})(base({ sysctls: { 'net.ipv4.ping_group_range': '1 1' } }))
    assert.deepEqual(own.linux.namespaces[1], { type: 'network' })
    assert.deepEqual(own.linux.sysctl, {
      ...OWN_NETWORK_SYSCTLS,
      'net.ipv4.ping_group_range': '1 1',
    })
    const joined = networkEdit({ netnsPath: '/proc/7/ns/net' })(base())
    assert.deepEqual(joined.linux.namespaces[1], { type: 'network', path: '/proc/7/ns/net' })
    const host = networkEdit({ hostNetwork: true })(base())
    assert.ok(!host.linux.namespaces.some((n) => n.type === 'network'))
    assert.deepEqual(host.linux.sysctl, {})
  })

  test('rootfsPropagationEdit: set when asked, absent otherwise', () => {
    assert.equal(rootfsPropagationEdit('shared')(base()).linux.rootfsPropagation, 'shared')
    assert.equal(rootfsPropagationEdit(undefined)(base()).linux.rootfsPropagation, undefined)
  })

  test('consoleSizeEdit: the pty size, with a terminal only', () => {
    const size = { height: 40, width: 120 }
    const tty = base({ process: { ...input().process, terminal: true } })
    assert.deepEqual(consoleSizeEdit(size)(tty).process.consoleSize, size)
    assert.equal(consoleSizeEdit(size)(base()).process.consoleSize, undefined)
  })

  test('idMappingsEdit: a user namespace and its mappings', () => {
    const m = {
      uid: [{ containerID: 0, hostID: 1000, size: 1 }],
      gid: [{ containerID: 0, hostID: 1000, size: 1 }],
    }
    const s = idMappingsEdit(m)(base())
    assert.equal(s.linux.namespaces.filter((n) => n.type === 'user').length, 1)
    assert.deepEqual(s.linux.uidMappings, m.uid)
    assert.deepEqual(s.linux.gidMappings, m.gid)
    assert.equal(idMappingsEdit(m)(s).linux.namespaces.length, s.linux.namespaces.length)
    assert.equal(idMappingsEdit(undefined)(base()).linux.uidMappings, undefined)
  })

  test('specEdits: every edit the input asks for, in a fixed order', () => {
    const i = input({
      devices: [tun],
      hostNetwork: true,
      rootfsPropagation: 'rslave',
      process: { ...input().process, terminal: true, consoleSize: { height: 1, width: 2 } },
      mounts: [{ type: 'bind', source: '/a', destination: '/a', options: [] }],
      deviceEdits: {
        devices: [{ ...tun, path: '/dev/gpu' }],
        mounts: [{ type: 'bind', source: '/b', destination: '/b', options: [] }],
        env: ['GPU=1'],
        hooks: [],
        additionalGids: [],
      },
    })
    const s = applyEdits(base(i), specEdits(i))
    // The injected devices' mounts and nodes come after the container's own.
    assert.deepEqual(
      s.mounts.slice(-2).map((m) => m.destination),
      ['/a', '/b'],
    )
    assert.deepEqual(
      s.linux.devices?.map((d) => d.path),
      ['/dev/net/tun', '/dev/gpu'],
    )
    assert.deepEqual(s.process.env, ['GPU=1'])
    assert.ok(!s.linux.namespaces.some((n) => n.type === 'network'))
    assert.equal(s.linux.rootfsPropagation, 'rslave')
    assert.deepEqual(s.process.consoleSize, { height: 1, width: 2 })
    assert.equal(specEdits(i).length, 8)
  })
})

test('bindHostSysEdit binds the host /sys in place of sysfs and its cgroup mount (rootless, host network)', () => {
  const base = {
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: [] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro'] },
    ],
  } as unknown as Spec
  assert.equal(bindHostSysEdit(false)(base), base)
  assert.deepEqual(bindHostSysEdit(true)(base).mounts, [
    { destination: '/proc', type: 'proc', source: 'proc', options: [] },
    {
      destination: '/sys',
      type: 'bind',
      source: '/sys',
      options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
    },
  ])
})
