// Confinement as Docker does it, seen from inside real containers run by the stock docker CLI
// against berthd, with Debian's dockerd as the oracle where it runs here.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  apiRequest,
  berth,
  docker,
  importBusybox,
  startBerthd,
  startDockerd,
  type Berthd,
  type RunResult,
} from './harness.ts'

let d: Berthd
let dir: string
let hostCapBnd: string

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
  dir = await mkdtemp('/tmp/bt-confine-')
  hostCapBnd = /^CapBnd:\s*(\S+)$/m.exec(await readFile('/proc/self/status', 'utf8'))?.[1] ?? ''
})

after(async () => {
  await d?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** `docker run --rm [flags] busybox sh -c SCRIPT` against berthd. */
function sh(flags: string[], script: string): Promise<RunResult> {
  return docker(['run', '--rm', ...flags, 'busybox', 'sh', '-c', script], { host: d })
}

function field(r: RunResult, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(\\S+)$`, 'm').exec(r.stdout)?.[1]
}

describe("Docker's default confinement", () => {
  test("capabilities are Docker's, seccomp filters, no new privileges is off", async () => {
    const r = await sh([], 'cat /proc/self/status')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(field(r, 'CapEff'), '00000000a80425fb')
    assert.equal(field(r, 'CapBnd'), '00000000a80425fb')
    assert.equal(field(r, 'CapInh'), '0000000000000000')
    assert.equal(field(r, 'Seccomp'), '2')
    assert.equal(field(r, 'NoNewPrivs'), '0')
  })

  test('host processes are invisible', async () => {
    const r = await sh([], 'sleep 5 & ps -o pid,comm; kill %1')
    assert.equal(r.code, 0, r.stderr)
    const rows = r.stdout.trim().split('\n').slice(1)
    const pids = rows.map((l) => Number(l.trim().split(/\s+/)[0]))
    // sh, sleep and ps: nothing from the host
    assert.equal(rows.length, 3, r.stdout)
    assert.ok(pids.includes(1) && pids.every((p) => p < 100), r.stdout)
  })

  test('mount and module loading are refused', async () => {
    const m = await sh([], 'mkdir -p /mnt && mount -t tmpfs x /mnt')
    assert.notEqual(m.code, 0)
    assert.match(m.stderr, /permission denied|not permitted/i)
    const mod = await sh([], 'echo x > /tmp/m.ko && insmod /tmp/m.ko')
    assert.notEqual(mod.code, 0)
    assert.match(mod.stderr, /not permitted/i)
  })

  test('masked paths are empty, /proc/sys is read-only, /dev holds only the standard nodes', async () => {
    const r = await sh(
      [],
      'cat /proc/keys /proc/timer_list | wc -c; test -s /proc/kcore && echo kcore-readable; ' +
        'ls /sys/firmware | wc -l; echo x > /proc/sys/kernel/domainname || echo ro; ls /dev',
    )
    const lines = r.stdout.trim().split('\n')
    assert.equal(lines[0]?.trim(), '0')
    assert.ok(!r.stdout.includes('kcore-readable'))
    assert.equal(lines[1]?.trim(), '0')
    assert.equal(lines[2], 'ro')
    assert.match(r.stderr, /Read-only file system/)
    const devs = lines.slice(3).join(' ')
    assert.doesNotMatch(devs, /loop0|kvm|tty0\b/)
    assert.match(devs, /null/)
  })
})

describe('flags that change it', () => {
  test("--privileged: the host's capabilities, every device, no seccomp, mount works", async () => {
    const r = await sh(
      ['--privileged'],
      'cat /proc/self/status; mkdir -p /mnt && mount -t tmpfs x /mnt && echo mounted; ' +
        'ls /dev/loop0; echo berth > /proc/sys/kernel/domainname && echo sys-rw',
    )
    assert.equal(r.code, 0, r.stderr)
    assert.equal(field(r, 'CapEff'), hostCapBnd)
    assert.equal(field(r, 'Seccomp'), '0')
    assert.match(r.stdout, /^mounted$/m)
    assert.match(r.stdout, /^\/dev\/loop0$/m)
    assert.match(r.stdout, /^sys-rw$/m)
  })

  test('--cap-drop ALL leaves none; --cap-add SYS_ADMIN lets mount work', async () => {
    const none = await sh(['--cap-drop', 'ALL'], 'grep CapEff /proc/self/status')
    assert.equal(field(none, 'CapEff'), '0000000000000000')
    const admin = await sh(
      ['--cap-add', 'SYS_ADMIN'],
      'mkdir -p /mnt && mount -t tmpfs x /mnt && echo ok',
    )
    assert.equal(admin.code, 0, admin.stderr)
    assert.equal(admin.stdout.trim(), 'ok')
    const bad = await sh(['--cap-add', 'NOPE'], 'true')
    assert.equal(bad.code, 125)
    assert.match(bad.stderr, /unknown capability: "CAP_NOPE"/)
  })

  test('--security-opt no-new-privileges, seccomp=unconfined and a custom profile', async () => {
    const nnp = await sh(
      ['--security-opt', 'no-new-privileges'],
      'grep NoNewPrivs /proc/self/status',
    )
    assert.equal(field(nnp, 'NoNewPrivs'), '1')
    const unconfined = await sh(
      ['--security-opt', 'seccomp=unconfined'],
      'grep Seccomp: /proc/self/status',
    )
    assert.equal(field(unconfined, 'Seccomp'), '0')
    const profile = join(dir, 'nomkdir.json')
    await writeFile(
      profile,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      }),
    )
    const custom = await sh(['--security-opt', `seccomp=${profile}`], 'mkdir /x')
    assert.notEqual(custom.code, 0)
    assert.match(custom.stderr, /not permitted/i)
  })

  test('--read-only refuses writes to / while a --tmpfs /tmp takes them', async () => {
    const r = await sh(
      ['--read-only', '--tmpfs', '/tmp'],
      'touch /x || echo refused; touch /tmp/y && echo tmp-ok',
    )
    assert.equal(r.stdout, 'refused\ntmp-ok\n')
    assert.match(r.stderr, /Read-only file system/)
  })

  test('--memory, --pids-limit and --cpus show in the cgroup; --pids-limit stops forks', async () => {
    const r = await sh(
      ['--memory', '32m', '--pids-limit', '10', '--cpus', '0.5'],
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max ' +
        '/sys/fs/cgroup/cpu/cpu.cfs_quota_us',
    )
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.stdout.trim().split('\n'), ['33554432', '10', '50000'])
    const forks = await sh(['--pids-limit', '10'], 'for i in $(seq 20); do sleep 2 & done; wait')
    assert.match(forks.stderr, /can't fork|Resource temporarily unavailable/)
  })

  test('--ulimit within the host hard limit works; above it is a clear error', async () => {
    const ok = await sh(['--ulimit', 'nofile=1024:2048'], 'ulimit -n; ulimit -Hn')
    assert.equal(ok.stdout, '1024\n2048\n')
    const high = await sh(['--ulimit', 'nofile=30000'], 'true')
    assert.equal(high.code, 125)
    assert.match(
      high.stderr,
      /invalid ulimit nofile=30000:30000: the hard limit is above the host's hard limit of \d+/,
    )
  })

  test('--init makes docker-init pid 1; --device, --group-add, --shm-size, --hostname', async () => {
    const init = await sh(['--init'], 'cat /proc/1/cmdline | tr "\\0" " "')
    assert.equal(
      init.stdout.trim(),
      '/sbin/docker-init -- sh -c cat /proc/1/cmdline | tr "\\0" " "',
    )
    const dev = await sh(
      ['--device', '/dev/null:/dev/mynull'],
      'echo hi > /dev/mynull && ls -l /dev/mynull',
    )
    assert.equal(dev.code, 0, dev.stderr)
    assert.match(dev.stdout, /^c.* 1, +3 .*\/dev\/mynull$/m)
    const groups = await sh(['--group-add', '123'], 'id -G')
    assert.equal(groups.stdout.trim(), '0 123')
    const shm = await sh(['--shm-size', '1m'], "df -k /dev/shm | awk 'NR==2 {print $2}'")
    assert.equal(shm.stdout.trim(), '1024')
    const h = await sh(['--hostname', 'lab'], 'hostname')
    assert.equal(h.stdout.trim(), 'lab')
  })

  test('--label and --label-file in inspect; --env-file in the environment', async () => {
    const envFile = join(dir, 'env')
    await writeFile(envFile, '# comment\nGREETING=hello\n')
    const labelFile = join(dir, 'labels')
    await writeFile(labelFile, 'team=ml\n')
    const c = await docker(
      [
        'create',
        '--label',
        'stage=dev',
        '--label-file',
        labelFile,
        '--env-file',
        envFile,
        '--stop-signal',
        'SIGUSR1',
        '--stop-timeout',
        '3',
        'busybox',
        'sh',
        '-c',
        'echo $GREETING',
      ],
      { host: d },
    )
    assert.equal(c.code, 0, c.stderr)
    const id = c.stdout.trim()
    const i = await docker(
      [
        'inspect',
        '-f',
        '{{json .Config.Labels}} {{.Config.StopSignal}} {{.Config.StopTimeout}}',
        id,
      ],
      { host: d },
    )
    assert.equal(i.stdout.trim(), '{"stage":"dev","team":"ml"} SIGUSR1 3')
    const s = await docker(['start', '-a', id], { host: d })
    assert.equal(s.stdout, 'hello\n')
    await docker(['rm', id], { host: d })
  })

  test("the API refuses bad HostConfig values with Docker's words and 400", async () => {
    const cases: [object, RegExp][] = [
      [{ Memory: 1 << 20 }, /^Minimum memory limit allowed is 6MB$/],
      [
        { NanoCpus: 64e9 },
        /^range of CPUs is from 0.01 to \d+\.00, as there are only \d+ CPUs available$/,
      ],
      [{ SecurityOpt: ['bogus=1'] }, /^invalid --security-opt 2: "bogus=1"$/],
      [{ OomScoreAdj: 5000 }, /range for oom score adj is \[-1000, 1000\]/],
    ]
    for (const [hc, re] of cases) {
      const r = await apiRequest(d, 'POST', '/v1.45/containers/create', {
        Image: 'busybox',
        Cmd: ['true'],
        HostConfig: hc,
      })
      assert.equal(r.status, 400, r.body)
      assert.match((JSON.parse(r.body) as { message: string }).message, re)
    }
  })

  test('the berth CLI sends the same flags', async () => {
    const r = await berth(
      [
        'run',
        '--rm',
        '--cap-drop',
        'ALL',
        '--read-only',
        '--pids-limit',
        '7',
        'busybox',
        'sh',
        '-c',
        'grep CapEff /proc/self/status; cat /sys/fs/cgroup/pids/pids.max; touch /x || true',
      ],
      { host: d },
    )
    assert.equal(r.code, 0, r.stderr)
    assert.equal(field(r, 'CapEff'), '0000000000000000')
    assert.match(r.stdout, /^7$/m)
    assert.match(r.stderr, /Read-only file system/)
  })
})

describe('the oracle: dockerd on this host', () => {
  test('berth confines as Docker does; Docker --privileged fails here where berth works', async () => {
    const dd = await startDockerd()
    try {
      await importBusybox({ socket: dd.socket }, 'busybox:latest')
      const script =
        "grep -E '^(CapEff|CapBnd|CapInh|Seccomp|NoNewPrivs):' /proc/self/status; " +
        'cat /proc/keys | wc -c; echo x > /proc/sys/kernel/domainname 2>/dev/null || echo ro; ' +
        'mount -t tmpfs x /tmp 2>/dev/null || echo no-mount; ulimit -n'
      for (const flags of [
        [],
        ['--cap-drop', 'ALL'],
        ['--security-opt', 'no-new-privileges'],
        ['--ulimit', 'nofile=100:200'],
      ]) {
        const args = ['run', '--rm', '--network', 'none', ...flags, 'busybox', 'sh', '-c', script]
        const ours = await docker(args, { host: d })
        const theirs = await docker(args, { host: { socket: dd.socket } })
        assert.equal(theirs.code, 0, theirs.stderr)
        assert.equal(ours.stdout, theirs.stdout, flags.join(' '))
      }
      const priv = await docker(
        ['run', '--rm', '--network', 'none', '--privileged', 'busybox', 'true'],
        {
          host: { socket: dd.socket },
        },
      )
      if (hostCapBnd !== '000001ffffffffff') {
        // The host lacks CAP_SYS_RESOURCE: Docker asks for every capability and fails.
        assert.notEqual(priv.code, 0)
        assert.match(priv.stderr, /caps|capabilit|operation not permitted/i)
      }
    } finally {
      await dd.stop()
    }
  })
})
