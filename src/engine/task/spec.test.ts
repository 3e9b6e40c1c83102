// A task's spec input: its parts, what was resolved in its root filesystem, and the host.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import { taskSpecInput, type TaskSpecParts } from './spec.ts'

const parts: TaskSpecParts = {
  id: 'f'.repeat(64),
  hostname: 'h',
  process: { args: ['sh'], env: ['A=1'], user: 'app', cwd: '/w' },
  network: {},
}
const user = { uid: 10, gid: 20, additionalGids: [20] }
const bind = (d: string) => ({ type: 'bind', source: '/s', destination: d, options: ['rbind'] })

describe('taskSpecInput', () => {
  test("Docker's defaults when nothing more is asked: no confinement fields, no cgroup", () => {
    const i = taskSpecInput(parts, { rootfs: '/r', user })
    assert.equal(i.rootfs, '/r')
    assert.deepEqual(i.process, {
      args: ['sh'],
      env: ['A=1'],
      cwd: '/w',
      user,
      terminal: false,
    })
    assert.equal(i.readonlyRootfs, false)
    for (const k of [
      'security',
      'resources',
      'devices',
      'deviceEdits',
      'cgroupsPath',
      'idMappings',
    ] as const) {
      assert.equal(i[k], undefined, k)
    }
  })

  test('mounts: found in the root filesystem first, then its own; /etc files give way', () => {
    const i = taskSpecInput(
      { ...parts, mounts: [bind('/init')], network: { etcDir: '/c' } },
      { rootfs: '/r', user, adds: { mounts: [bind('/etc/hosts'), bind('/data')] } },
    )
    assert.deepEqual(
      i.mounts.map((m) => [m.destination, m.source]),
      [
        ['/etc/hosts', '/s'],
        ['/data', '/s'],
        ['/init', '/s'],
        ['/etc/hostname', '/c/hostname'],
        ['/etc/resolv.conf', '/c/resolv.conf'],
      ],
    )
  })

  test('groups and devices join those of the user and the confinement', () => {
    const tun = { path: '/dev/net/tun', type: 'c' as const, major: 10, minor: 200, access: 'rw' }
    const null_ = { ...tun, path: '/dev/x', minor: 1 }
    const i = taskSpecInput(
      { ...parts, confinement: { devices: [tun] } },
      { rootfs: '/r', user, adds: { additionalGids: [20, 27], devices: [null_] } },
    )
    assert.deepEqual(i.process.user.additionalGids, [20, 27])
    assert.deepEqual(i.devices, [tun, null_])
  })

  test('injected devices (GPUs) found with the root filesystem reach the spec input', () => {
    const deviceEdits = {
      devices: [{ path: '/dev/nvidia0', type: 'c' as const, major: 195, minor: 0, access: 'rw' }],
      mounts: [bind('/usr/bin/nvidia-smi')],
      env: ['NVIDIA_VISIBLE_DEVICES=0'],
      hooks: [],
      additionalGids: [],
    }
    const i = taskSpecInput(parts, { rootfs: '/r', user, adds: { deviceEdits } })
    assert.deepEqual(i.deviceEdits, deviceEdits)
    assert.equal(i.devices, undefined)
  })

  test('network, console, propagation; the host gives the cgroup and ID mappings', () => {
    const idMappings = { uid: [{ containerID: 0, hostID: 1000, size: 1 }], gid: [] }
    const i = taskSpecInput(
      {
        ...parts,
        process: { ...parts.process, terminal: true, consoleSize: { height: 2, width: 3 } },
        network: { netnsPath: '/proc/1/ns/net' },
        rootfsPropagation: 'rslave',
      },
      { rootfs: '/r', user },
      { cgroupParent: '/lab', idMappings },
    )
    assert.equal(i.netnsPath, '/proc/1/ns/net')
    assert.equal(i.hostNetwork, undefined)
    assert.deepEqual(i.process.consoleSize, { height: 2, width: 3 })
    assert.equal(i.rootfsPropagation, 'rslave')
    assert.equal(i.cgroupsPath, `/lab/${'f'.repeat(64)}`)
    assert.deepEqual(i.idMappings, idMappings)
  })
  test('limits whose cgroup controller is not delegated are refused, the others pass', () => {
    const rootless = {
      cgroupParent: '/user.slice/u/containers',
      limitControllers: ['memory', 'pids'],
      noResourceLimits: "berthd's cgroup /user.slice/u offers memory, pids",
    }
    const withRes = (resources: object) =>
      taskSpecInput(
        { ...parts, network: {}, confinement: { resources } },
        { rootfs: '/r', user },
        rootless,
      )
    const i = withRes({ memory: { limit: 64 << 20 }, pids: { limit: 10 } })
    assert.deepEqual(i.resources, { memory: { limit: 64 << 20 }, pids: { limit: 10 } })
    assert.equal(i.cgroupsPath, `/user.slice/u/containers/${'f'.repeat(64)}`)
    assert.throws(
      () => withRes({ cpu: { quota: 50000, period: 100000 } }),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        e.message ===
          "resource limits are not available: the cpu controller is not delegated to berthd without root: berthd's cgroup /user.slice/u offers memory, pids",
    )
    const none = { cgroupParent: '', limitControllers: [], noResourceLimits: 'no v2 here' }
    assert.throws(
      () =>
        taskSpecInput(
          { ...parts, network: {}, confinement: { resources: { pids: { limit: 5 } } } },
          { rootfs: '/r', user },
          none,
        ),
      (e: unknown) =>
        e instanceof InvalidArgument &&
        e.message === 'resource limits are not available: no v2 here',
    )
    assert.equal(
      taskSpecInput({ ...parts, network: {} }, { rootfs: '/r', user }, none).cgroupsPath,
      '',
    )
  })
})
