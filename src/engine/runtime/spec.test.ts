import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DEFAULT_CAPABILITIES } from '../caps.ts'
import { ociSpec } from './spec.ts'
import type { SpecInput } from './types.ts'

function input(over: Partial<SpecInput> = {}): SpecInput {
  return {
    id: 'abc123',
    rootfs: '/var/lib/berth/rootfs/abc123',
    readonlyRootfs: false,
    hostname: 'abc123',
    process: {
      args: ['sh', '-c', 'true'],
      env: ['PATH=/usr/bin:/bin'],
      cwd: '/work',
      user: { uid: 1000, gid: 100, additionalGids: [100, 10] },
      terminal: false,
    },
    mounts: [],
    ...over,
  }
}

const dests = (s: ReturnType<typeof ociSpec>): string[] => s.mounts.map((m) => m.destination)

describe('ociSpec', () => {
  test('process: args, env, cwd, user, terminal, Docker capabilities, no rlimits', () => {
    const s = ociSpec(input())
    assert.equal(s.ociVersion, '1.0.2')
    assert.deepEqual(s.process.args, ['sh', '-c', 'true'])
    assert.deepEqual(s.process.env, ['PATH=/usr/bin:/bin'])
    assert.equal(s.process.cwd, '/work')
    assert.deepEqual(s.process.user, { uid: 1000, gid: 100, additionalGids: [100, 10] })
    assert.equal(s.process.terminal, false)
    assert.equal(s.process.oomScoreAdj, 0)
    assert.equal(s.process.rlimits, undefined)
    const caps = s.process.capabilities
    assert.deepEqual(caps.bounding, [...DEFAULT_CAPABILITIES])
    assert.deepEqual(caps.effective, [...DEFAULT_CAPABILITIES])
    assert.deepEqual(caps.permitted, [...DEFAULT_CAPABILITIES])
    assert.equal(caps.inheritable, undefined)
    assert.equal(caps.ambient, undefined)
    assert.equal(DEFAULT_CAPABILITIES.length, 14)
  })

  test('root, hostname, namespaces, cgroups path, masked and read-only paths', () => {
    const s = ociSpec(input())
    assert.deepEqual(s.root, { path: '/var/lib/berth/rootfs/abc123' })
    assert.equal(s.hostname, 'abc123')
    assert.deepEqual(
      s.linux.namespaces.map((n) => n.type),
      ['mount', 'network', 'uts', 'pid', 'ipc', 'cgroup'],
    )
    assert.equal(s.linux.cgroupsPath, '/berth/abc123')
    assert.ok(s.linux.maskedPaths.includes('/proc/kcore'))
    assert.ok(s.linux.maskedPaths.includes('/sys/firmware'))
    assert.deepEqual(s.linux.readonlyPaths, [
      '/proc/bus',
      '/proc/fs',
      '/proc/irq',
      '/proc/sys',
      '/proc/sysrq-trigger',
    ])
    // Docker's default seccomp profile applies unless the container asks otherwise.
    assert.equal(s.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO')
    assert.equal(s.linux.devices, undefined)
    assert.deepEqual(s.linux.sysctl, {
      'net.ipv4.ip_unprivileged_port_start': '0',
      'net.ipv4.ping_group_range': '0 2147483647',
    })
  })

  test('device cgroup: deny all, then the standard nodes; tun denied', () => {
    const rules = ociSpec(input()).linux.resources.devices
    assert.deepEqual(rules[0], { allow: false, access: 'rwm' })
    const allowed = rules.filter((r) => r.allow).map((r) => `${r.type} ${r.major}:${r.minor}`)
    assert.deepEqual(allowed, ['c 1:5', 'c 1:3', 'c 1:9', 'c 1:8', 'c 5:0', 'c 5:1'])
    assert.deepEqual(rules.at(-1), {
      allow: false,
      type: 'c',
      major: 10,
      minor: 229,
      access: 'rwm',
    })
  })

  const mountCases: {
    name: string
    over: Partial<SpecInput>
    expect: (s: ReturnType<typeof ociSpec>) => void
  }[] = [
    {
      name: 'default mounts in Docker order',
      over: {},
      expect: (s) => {
        assert.deepEqual(dests(s), [
          '/proc',
          '/dev',
          '/dev/pts',
          '/sys',
          '/sys/fs/cgroup',
          '/dev/mqueue',
          '/dev/shm',
        ])
        assert.deepEqual(s.mounts[1]!.options, ['nosuid', 'strictatime', 'mode=755', 'size=65536k'])
        assert.deepEqual(s.mounts[2]!.options, [
          'nosuid',
          'noexec',
          'newinstance',
          'ptmxmode=0666',
          'mode=0620',
          'gid=5',
        ])
        assert.deepEqual(s.mounts[6], {
          destination: '/dev/shm',
          type: 'tmpfs',
          source: 'shm',
          options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'],
        })
      },
    },
    {
      name: 'input mounts come last, in order',
      over: {
        mounts: [
          {
            destination: '/etc/hosts',
            type: 'bind',
            source: '/x/hosts',
            options: ['rbind', 'rprivate'],
          },
          { destination: '/data', type: 'bind', source: '/x/data', options: ['rbind'] },
        ],
      },
      expect: (s) => assert.deepEqual(dests(s).slice(-2), ['/etc/hosts', '/data']),
    },
    {
      name: 'a user mount replaces the default at the same place',
      over: {
        mounts: [{ destination: '/dev/shm', type: 'bind', source: '/x/shm', options: ['rbind'] }],
      },
      expect: (s) => {
        assert.equal(dests(s).filter((d) => d === '/dev/shm').length, 1)
        assert.equal(s.mounts.at(-1)!.source, '/x/shm')
      },
    },
    {
      name: 'a user /dev drops every default under /dev',
      over: { mounts: [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }] },
      expect: (s) => assert.deepEqual(dests(s), ['/proc', '/sys', '/sys/fs/cgroup', '/dev']),
    },
    {
      name: 'read-only root: root readonly, /proc and /dev mounts stay writable',
      over: { readonlyRootfs: true },
      expect: (s) => {
        assert.deepEqual(s.root, { path: '/var/lib/berth/rootfs/abc123', readonly: true })
        assert.ok(!s.mounts[0]!.options.includes('ro'))
        assert.ok(!s.mounts.find((m) => m.destination === '/dev/shm')!.options.includes('ro'))
        assert.equal(
          s.mounts.find((m) => m.destination === '/sys')!.options.filter((o) => o === 'ro').length,
          1,
        )
      },
    },
  ]
  for (const c of mountCases) test(`mounts: ${c.name}`, () => c.expect(ociSpec(input(c.over))))

  test('netnsPath joins a namespace; cgroupsPath and seccomp plug in', () => {
    const s = ociSpec(input({ netnsPath: '/run/netns/x', cgroupsPath: '/custom/abc' }), {
      seccomp: { defaultAction: 'SCMP_ACT_ERRNO' },
    })
    assert.deepEqual(s.linux.namespaces[1], { type: 'network', path: '/run/netns/x' })
    assert.equal(s.linux.cgroupsPath, '/custom/abc')
    assert.deepEqual(s.linux.seccomp, { defaultAction: 'SCMP_ACT_ERRNO' })
  })

  test('the host network: no network namespace and no network sysctls', () => {
    const own = ociSpec(input())
    assert.ok(own.linux.namespaces.some((n) => n.type === 'network'))
    assert.equal(own.linux.sysctl?.['net.ipv4.ip_unprivileged_port_start'], '0')
    const host = ociSpec(input({ hostNetwork: true }))
    assert.ok(!host.linux.namespaces.some((n) => n.type === 'network'))
    assert.deepEqual(host.linux.sysctl, {})
    assert.ok(host.linux.namespaces.some((n) => n.type === 'uts'))
  })

  test('empty cwd is /; empty hostname is left out; input is not shared', () => {
    const i = input({ hostname: '' })
    i.process.cwd = ''
    const s = ociSpec(i)
    assert.equal(s.process.cwd, '/')
    assert.equal(s.hostname, undefined)
    s.process.args.push('x')
    assert.deepEqual(i.process.args, ['sh', '-c', 'true'])
  })
})
