// One test per spec edit: the spec each produces from a base, and the order specEdits applies.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  applyEdits,
  consoleSizeEdit,
  devicesEdit,
  idMappingsEdit,
  mountsEdit,
  networkEdit,
  OWN_NETWORK_SYSCTLS,
  rootfsPropagationEdit,
  specEdits,
} from './edits.ts'
import { baseSpec } from './spec.ts'
import type { DeviceNode, Spec, SpecInput } from './types.ts'

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
    })
    const s = applyEdits(base(i), specEdits(i))
    assert.equal(s.mounts.at(-1)?.destination, '/a')
    assert.equal(s.linux.devices?.[0]?.path, '/dev/net/tun')
    assert.ok(!s.linux.namespaces.some((n) => n.type === 'network'))
    assert.equal(s.linux.rootfsPropagation, 'rslave')
    assert.deepEqual(s.process.consoleSize, { height: 1, width: 2 })
    assert.equal(specEdits(i).length, 6)
  })
})
