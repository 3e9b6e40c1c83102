import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseFlags } from './flags.ts'
import {
  hostFlags,
  hostOptions,
  parseDevice,
  parseNanoCpus,
  parseSecurityOpts,
  parseSysctl,
  parseUlimit,
  ramInBytes,
} from './hostopts.ts'

describe('host options', () => {
  test('sizes as go-units reads them', () => {
    const cases: [string, number | undefined][] = [
      ['32m', 32 << 20],
      ['1g', 1 << 30],
      ['512', 512],
      ['1.5k', 1536],
      ['64MiB', 64 << 20],
      ['x', undefined],
    ]
    for (const [s, want] of cases) assert.equal(ramInBytes(s), want, s)
  })

  test('cpus as nano cpus', () => {
    assert.equal(parseNanoCpus('1.5'), 1.5e9)
    assert.equal(parseNanoCpus('0.01'), 1e7)
    assert.throws(
      () => parseNanoCpus('abc'),
      /invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number/,
    )
  })

  test('ulimits', () => {
    assert.deepEqual(parseUlimit('nofile=1024:2048'), { Name: 'nofile', Soft: 1024, Hard: 2048 })
    assert.deepEqual(parseUlimit('nproc=10'), { Name: 'nproc', Soft: 10, Hard: 10 })
    assert.throws(() => parseUlimit('bogus=1'), /invalid ulimit type: bogus/)
    assert.throws(() => parseUlimit('nofile'), /invalid ulimit argument: nofile/)
    assert.throws(
      () => parseUlimit('nofile=3:2'),
      /soft limit must be less than or equal to hard limit: 3 > 2/,
    )
  })

  test('devices', () => {
    const d = (h: string, c: string, p: string) => ({
      PathOnHost: h,
      PathInContainer: c,
      CgroupPermissions: p,
    })
    assert.deepEqual(parseDevice('/dev/null'), d('/dev/null', '/dev/null', 'rwm'))
    assert.deepEqual(parseDevice('/dev/null:/dev/mynull'), d('/dev/null', '/dev/mynull', 'rwm'))
    assert.deepEqual(parseDevice('/dev/null:r'), d('/dev/null', '/dev/null', 'r'))
    assert.deepEqual(parseDevice('/dev/null:/dev/x:rw'), d('/dev/null', '/dev/x', 'rw'))
    assert.throws(() => parseDevice('/dev/null:/dev/x:rwz'), /bad mode specified: rwz/)
    assert.throws(() => parseDevice('/dev/null:rel'), /rel is not an absolute path/)
  })

  test('sysctls in the container namespaces only', () => {
    assert.deepEqual(parseSysctl('net.ipv4.ip_forward=1'), ['net.ipv4.ip_forward', '1'])
    assert.throws(() => parseSysctl('kernel.panic=1'), /sysctl 'kernel.panic=1' is not allowed/)
  })

  test('a seccomp profile file is read and sent compacted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-hostopts-'))
    try {
      const p = join(dir, 'p.json')
      await writeFile(p, '{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n')
      assert.deepEqual(await parseSecurityOpts([`seccomp=${p}`, 'no-new-privileges']), [
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}',
        'no-new-privileges',
      ])
      await assert.rejects(
        parseSecurityOpts([`seccomp=${join(dir, 'none')}`]),
        /opening seccomp profile/,
      )
      await assert.rejects(parseSecurityOpts(['seccomp']), /Invalid --security-opt: "seccomp"/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('flags become HostConfig fields as the docker CLI sends them', async () => {
    const f = parseFlags(hostFlags, [
      '--privileged',
      '--read-only',
      '--tmpfs',
      '/tmp',
      '--tmpfs',
      '/run:size=1m',
      '-m',
      '32m',
      '--memory-swap',
      '-1',
      '--cpus',
      '0.5',
      '--pids-limit',
      '10',
      '--init',
      '--cap-add',
      'SYS_ADMIN',
      '--ulimit',
      'nofile=10:20',
      '--stop-signal',
      'SIGUSR1',
      '--stop-timeout',
      '3',
      '--group-add',
      '123',
      '--shm-size',
      '1m',
    ])
    const { config, hostConfig: hc } = await hostOptions(f)
    assert.deepEqual(config, { StopSignal: 'SIGUSR1', StopTimeout: 3 })
    assert.equal(hc.Privileged, true)
    assert.equal(hc.ReadonlyRootfs, true)
    assert.deepEqual(hc.Tmpfs, { '/tmp': '', '/run': 'size=1m' })
    assert.equal(hc.Memory, 32 << 20)
    assert.equal(hc.MemorySwap, -1)
    assert.equal(hc.NanoCpus, 5e8)
    assert.equal(hc.PidsLimit, 10)
    assert.equal(hc.Init, true)
    // the docker client normalises capabilities before it sends them
    assert.deepEqual(hc.CapAdd, ['CAP_SYS_ADMIN'])
    assert.equal(hc.CapDrop, null)
    assert.deepEqual(hc.Ulimits, [{ Name: 'nofile', Soft: 10, Hard: 20 }])
    assert.deepEqual(hc.GroupAdd, ['123'])
    assert.equal(hc.ShmSize, 1 << 20)
    const none = await hostOptions(parseFlags(hostFlags, []))
    // docker always sends PidsLimit (0: the daemon's default) and Init only when given
    assert.equal(none.hostConfig.PidsLimit, 0)
    assert.equal('Init' in none.hostConfig, false)
    assert.equal('Tmpfs' in none.hostConfig, false)
  })
})
