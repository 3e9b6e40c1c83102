import { parseSignal } from './signals.ts'
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { capsFromMask } from '../caps.ts'
import type { HostFacts } from '../host/types.ts'
import { DEFAULT_CAPABILITIES } from '../caps.ts'
import { ociSpec } from '../runtime/spec.ts'
import type { Mount } from '../layer/types.ts'
import type { DeviceNode, SpecInput, User } from '../runtime/types.ts'
import { taskSpecInput } from '../task/spec.ts'
import { consoleSizeOf } from './console.ts'
import { rootfsPropagation } from './mounts.ts'
import {
  INIT_PATH,
  containerConfinement,
  hostnameOf,
  parseSecurityOpts,
  processArgs,
  resolveGroupAdd,
  tmpfsOptions,
  verifyHostConfig,
} from './oci.ts'
import type { Container, HostConfig } from './types.ts'

/** What specInputFor needs besides the container: resolved by the caller (I/O). */
interface SpecContext {
  rootfs: string
  user: User
  cwd: string
  env: string[]
  /** Mounts made before HostConfig's (the /etc files, volumes), in order. */
  mounts: Mount[]
  host: HostFacts
  /** --device nodes, plus every host device when privileged. */
  devices: DeviceNode[]
  /** --group-add, resolved to gids. */
  groups?: number[]
}

/**
 * The runtime's input for one container, as the task runner makes it: the container's
 * process, its confinement and mounts, what was resolved in its root filesystem (user,
 * groups, devices, mount points) and its network.
 */
function specInputFor(c: Container, ctx: SpecContext): SpecInput {
  const { confinement, mounts } = containerConfinement(c, ctx.host)
  return taskSpecInput(
    {
      id: c.id,
      hostname: hostnameOf(c),
      process: {
        args: processArgs(c),
        env: ctx.env,
        cwd: ctx.cwd,
        user: c.config.User ?? '',
        terminal: c.config.Tty === true,
        consoleSize: consoleSizeOf(c),
      },
      mounts: [...ctx.mounts, ...mounts],
      network: {},
      confinement: { ...confinement, devices: ctx.devices },
      rootfsPropagation: rootfsPropagation(c.mountPoints ?? []),
    },
    { rootfs: ctx.rootfs, user: ctx.user, adds: { additionalGids: ctx.groups ?? [] } },
  )
}

const host: HostFacts = {
  capabilities: capsFromMask('000001fffeffffff'),
  hardLimits: { nofile: 20000, nproc: 96365 },
  cpus: 2,
  initPath: '/usr/bin/tini-static',
  arch: 'amd64',
  kernel: '6.1.0',
}

function container(hostConfig: HostConfig = {}, config: Partial<Container['config']> = {}) {
  return {
    id: 'a'.repeat(64),
    name: 'c',
    created: '',
    path: 'sh',
    args: ['-c', 'true'],
    config: { Image: 'busybox', Hostname: 'box', ...config },
    hostConfig,
    image: 'sha256:x',
    imageRef: 'busybox',
    state: {} as Container['state'],
    logPath: '/x.log',
    restartCount: 0,
  } as Container
}

const ctx: SpecContext = {
  rootfs: '/r',
  user: { uid: 0, gid: 0, additionalGids: [10] },
  cwd: '/',
  env: ['PATH=/bin'],
  mounts: [],
  host,
  devices: [],
}

const specOf = (hc: HostConfig, over: Partial<SpecContext> = {}) =>
  ociSpec(specInputFor(container(hc), { ...ctx, ...over }), { arch: 'amd64', kernel: '6.1.0' })

describe('specInputFor → ociSpec', () => {
  test("defaults: Docker's capabilities, seccomp, masked and read-only paths", () => {
    const s = specOf({})
    assert.deepEqual(s.process.capabilities.effective, [...DEFAULT_CAPABILITIES])
    assert.equal(s.linux.seccomp?.defaultErrnoRet, 1)
    assert.ok(s.linux.maskedPaths.includes('/proc/kcore'))
    assert.ok(s.linux.readonlyPaths.includes('/proc/sys'))
    assert.equal(s.process.noNewPrivileges, undefined)
    assert.deepEqual(s.process.args, ['sh', '-c', 'true'])
    assert.equal(s.hostname, 'box')
    assert.equal(s.linux.resources.memory, undefined)
  })

  test("privileged: the host's capabilities, every device, no seccomp, writable /sys", () => {
    const dev = { path: '/dev/loop0', type: 'b' as const, major: 7, minor: 0, access: 'rwm' }
    const s = specOf({ Privileged: true }, { devices: [dev] })
    assert.deepEqual(s.process.capabilities.bounding, host.capabilities)
    assert.equal(s.linux.seccomp, undefined)
    assert.deepEqual(s.linux.maskedPaths, [])
    assert.deepEqual(s.linux.readonlyPaths, [])
    assert.deepEqual(s.linux.resources.devices, [{ allow: true, access: 'rwm' }])
    assert.deepEqual(s.linux.devices, [{ path: '/dev/loop0', type: 'b', major: 7, minor: 0 }])
    const sys = s.mounts.find((m) => m.destination === '/sys')
    assert.ok(sys && !sys.options.includes('ro'))
    const cg = s.mounts.find((m) => m.destination === '/sys/fs/cgroup')
    assert.ok(cg && !cg.options.includes('ro'))
  })

  test('privileged with a named profile keeps it', () => {
    const s = specOf({
      Privileged: true,
      SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_LOG"}'],
    })
    assert.deepEqual(s.linux.seccomp, { defaultAction: 'SCMP_ACT_LOG' })
  })

  test('cap-add SYS_ADMIN opens mount in seccomp; cap-drop ALL leaves none', () => {
    const s = specOf({ CapAdd: ['SYS_ADMIN'] })
    assert.ok(s.process.capabilities.effective.includes('CAP_SYS_ADMIN'))
    assert.ok(s.linux.seccomp?.syscalls?.some((r) => r.names.includes('mount')))
    assert.deepEqual(specOf({ CapDrop: ['ALL'] }).process.capabilities.effective, [])
  })

  test('security options: no-new-privileges, seccomp unconfined', () => {
    assert.equal(specOf({ SecurityOpt: ['no-new-privileges'] }).process.noNewPrivileges, true)
    assert.equal(
      specOf({ SecurityOpt: ['no-new-privileges=false'] }).process.noNewPrivileges,
      undefined,
    )
    assert.equal(specOf({ SecurityOpt: ['seccomp=unconfined'] }).linux.seccomp, undefined)
  })

  test('resources: memory, swap, cpus, shares, cpuset, pids', () => {
    const s = specOf({
      Memory: 32 << 20,
      MemorySwap: 64 << 20,
      NanoCpus: 1.5e9,
      CpuShares: 512,
      CpusetCpus: '0',
      PidsLimit: 10,
    })
    assert.deepEqual(s.linux.resources.memory, { limit: 32 << 20, swap: 64 << 20 })
    assert.deepEqual(s.linux.resources.cpu, {
      period: 100000,
      quota: 150000,
      shares: 512,
      cpus: '0',
    })
    assert.deepEqual(s.linux.resources.pids, { limit: 10 })
    assert.equal(specOf({ PidsLimit: -1 }).linux.resources.pids, undefined)
  })

  test('init: docker-init bind-mounted read-only and run first', () => {
    const s = specOf({ Init: true })
    assert.deepEqual(s.process.args, [INIT_PATH, '--', 'sh', '-c', 'true'])
    assert.deepEqual(
      s.mounts.find((m) => m.destination === INIT_PATH),
      {
        type: 'bind',
        source: '/usr/bin/tini-static',
        destination: INIT_PATH,
        options: ['bind', 'ro'],
      },
    )
  })

  test('tmpfs, shm size, read-only root, sysctls, ulimits, oom score, groups, devices', () => {
    const dev = { path: '/dev/mynull', type: 'c' as const, major: 1, minor: 3, access: 'rw' }
    const s = specOf(
      {
        Tmpfs: { '/tmp': '', '/run': 'exec,size=1m' },
        ShmSize: 1 << 20,
        ReadonlyRootfs: true,
        Sysctls: { 'net.ipv4.ip_forward': '1' },
        Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
        OomScoreAdj: 100,
      },
      { devices: [dev], groups: [123, 10] },
    )
    assert.deepEqual(s.mounts.find((m) => m.destination === '/tmp')?.options, [
      'noexec',
      'nosuid',
      'nodev',
      'rprivate',
    ])
    assert.deepEqual(s.mounts.find((m) => m.destination === '/run')?.options, [
      'nosuid',
      'nodev',
      'rprivate',
      'exec',
      'size=1m',
    ])
    assert.ok(s.mounts.find((m) => m.destination === '/dev/shm')?.options.includes('size=1048576'))
    assert.equal(s.root.readonly, true)
    assert.equal(s.linux.sysctl?.['net.ipv4.ip_forward'], '1')
    assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }])
    assert.equal(s.process.oomScoreAdj, 100)
    assert.deepEqual(s.process.user.additionalGids, [10, 123])
    assert.deepEqual(s.linux.devices, [{ path: '/dev/mynull', type: 'c', major: 1, minor: 3 }])
    assert.deepEqual(s.linux.resources.devices.at(-1), {
      allow: true,
      type: 'c',
      major: 1,
      minor: 3,
      access: 'rw',
    })
  })
})

describe('verifyHostConfig', () => {
  const errors: [string, HostConfig, RegExp][] = [
    ['memory below 6MB', { Memory: 1 << 20 }, /^Minimum memory limit allowed is 6MB$/],
    [
      'swap below memory',
      { Memory: 64 << 20, MemorySwap: 32 << 20 },
      /^Minimum memoryswap limit should be larger than memory limit, see usage$/,
    ],
    [
      'swap without memory',
      { MemorySwap: 64 << 20 },
      /^You should always set the Memory limit when using Memoryswap limit, see usage$/,
    ],
    [
      'too many cpus',
      { NanoCpus: 3e9 },
      /^range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available$/,
    ],
    [
      'negative shares',
      { CpuShares: -1 },
      /^invalid CPU shares \(-1\): value must be a positive integer$/,
    ],
    [
      'cpuset out of range',
      { CpusetCpus: '0-3' },
      /^Requested CPUs are not available - requested 0-3, available: 0-1$/,
    ],
    ['cpuset malformed', { CpusetCpus: 'x' }, /^Invalid value x for cpuset cpus/],
    ['oom score', { OomScoreAdj: 1001 }, /range for oom score adj is \[-1000, 1000\]/],
    ['shm', { ShmSize: -1 }, /^SHM size can not be less than 0$/],
    ['unknown cap', { CapAdd: ['NOPE'] }, /^unknown capability: "CAP_NOPE"$/],
    ['bad security opt', { SecurityOpt: ['foo'] }, /^invalid --security-opt 1: "foo"$/],
    ['bad security opt key', { SecurityOpt: ['foo=bar'] }, /^invalid --security-opt 2: "foo=bar"$/],
    ['bad seccomp JSON', { SecurityOpt: ['seccomp={'] }, /^Decoding seccomp profile failed/],
    [
      'ulimit above the host',
      { Ulimits: [{ Name: 'nofile', Soft: 30000, Hard: 30000 }] },
      /^invalid ulimit nofile=30000:30000: the hard limit is above the host's hard limit of 20000/,
    ],
    [
      'ulimit type',
      { Ulimits: [{ Name: 'bogus', Soft: 1, Hard: 1 }] },
      /^invalid ulimit type: bogus$/,
    ],
    ['relative tmpfs', { Tmpfs: { tmp: '' } }, /mount path must be absolute/],
  ]
  for (const [name, hc, re] of errors) {
    test(`refuses ${name} with Docker's words (400)`, () => {
      assert.throws(
        () => verifyHostConfig({ ...hc }, { Image: 'x' }, host),
        (e: Error & { status?: number }) => re.test(e.message) && e.status === 400,
      )
    })
  }

  test('fills in MemorySwap and ShmSize as Docker does; the host hard limit itself is fine', () => {
    const hc: HostConfig = {
      Memory: 32 << 20,
      Ulimits: [{ Name: 'nofile', Soft: 20000, Hard: 20000 }],
    }
    verifyHostConfig(hc, { Image: 'x' }, host)
    assert.equal(hc.MemorySwap, 64 << 20)
    assert.equal(hc.ShmSize, 64 << 20)
  })

  test('a stop signal must be one', () => {
    assert.throws(
      () => verifyHostConfig({}, { Image: 'x', StopSignal: 'SIGNOPE' }, host),
      /Invalid signal: SIGNOPE/,
    )
    assert.equal(parseSignal('SIGUSR1'), 10)
    assert.equal(parseSignal('term'), 15)
    assert.equal(parseSignal('9'), 9)
    assert.equal(parseSignal('RTMIN+2'), 36)
  })

  test('--init needs an init on the host', () => {
    const { initPath: _p, ...none } = host
    assert.throws(() => verifyHostConfig({ Init: true }, { Image: 'x' }, none), /no init binary/)
  })
})

describe('helpers', () => {
  test('tmpfs options: the later of two opposites wins', () => {
    assert.deepEqual(tmpfsOptions('ro,size=1m,size=2m,suid'), [
      'noexec',
      'nodev',
      'rprivate',
      'ro',
      'size=2m',
      'suid',
    ])
  })

  test('security options', () => {
    assert.deepEqual(parseSecurityOpts(['no-new-privileges=true', 'seccomp=unconfined']), {
      noNewPrivileges: true,
      seccomp: 'unconfined',
    })
    assert.deepEqual(parseSecurityOpts(['label=disable', 'apparmor=unconfined']), {
      noNewPrivileges: false,
      seccomp: '',
    })
  })

  test('group-add: numbers, and names from the container', () => {
    assert.deepEqual(resolveGroupAdd(['123', 'audio'], 'root:x:0:\naudio:x:29:\n'), [123, 29])
    assert.throws(() => resolveGroupAdd(['nope'], ''), /Unable to find group nope/)
  })
})
