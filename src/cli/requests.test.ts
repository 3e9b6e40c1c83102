// berth sends what the docker CLI sends. Both clients talk, one after the other, to one real
// berthd through a recording proxy; for each command line the requests each one sent (method,
// path, query, JSON body) must be the same, and so must what each printed when the daemon or
// the CLI refused it. The docker CLI (v28) is the oracle: every flag of run and create is
// used here at least once, and every other command's flags that reach the API.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  berth,
  docker,
  importBusybox,
  startBerthd,
  type Berthd,
  type RunResult,
} from '../../test/e2e/harness.ts'
import { recordingProxy, type RecordingProxy } from './testproxy.ts'

let d: Berthd
let dir: string

interface Sent {
  method: string
  path: string
  query: Array<[string, string]>
  body: unknown
}

/** The requests a client sent, without docker's version pings, queries and bodies parsed. */
function sent(p: RecordingProxy): Sent[] {
  return p
    .take()
    .filter((r) => !/\/_ping$/.test(r.url.split('?')[0] ?? ''))
    .map((r) => {
      const u = new URL(r.url, 'http://x')
      // each client has a proxy of its own, whose path --use-api-socket passes on
      const text = r.body.toString('utf8').replace(/\/p\d+\.sock/g, '/PROXY.sock')
      let body: unknown
      try {
        body = text === '' ? null : JSON.parse(text)
      } catch {
        body = `${r.body.length} bytes`
      }
      return {
        method: r.method,
        // container and image IDs differ between the two runs
        // (percent-encoding differs: Go leaves ':' in a path as it is; both decode alike)
        path: decodeURIComponent(u.pathname).replace(/[0-9a-f]{64}/g, 'ID'),
        // docker encodes a query with its keys sorted; the order carries no meaning
        query: [...u.searchParams].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        body,
      }
    })
}

/** docker's words with berth's names, for comparing what each printed. */
const asBerth = (s: string) =>
  s
    .replaceAll('docker: ', 'berth: ')
    .replaceAll("Run 'docker ", "Run 'berth ")
    .replaceAll('Usage:  docker ', 'Usage:  berth ')
    .replaceAll('Docker daemon', 'berth daemon')

let proxies = 0

/** Runs one client through a proxy of its own; what it printed and what it sent. */
async function recorded(
  client: typeof docker,
  args: string[],
  input?: string,
): Promise<{ r: RunResult; s: Sent[] }> {
  const p = await recordingProxy(d.socket, join(dir, `p${++proxies}.sock`))
  try {
    const r = await client(args, { host: p.socket, input })
    return { r, s: sent(p) }
  } finally {
    await p.close()
  }
}

/**
 * The docker CLI and berth, each through a proxy of its own: side by side, or one after the
 * other when `between` must run between them (a name or a file the first one made).
 */
async function both(
  args: string[],
  opts: { input?: string; rename?: [string, string]; between?: () => Promise<void> } = {},
): Promise<{ d: RunResult; b: RunResult; ds: Sent[]; bs: Sent[] }> {
  const bargs = opts.rename ? args.map((a) => a.replaceAll(opts.rename![0], opts.rename![1])) : args
  let dr: { r: RunResult; s: Sent[] }
  let br: { r: RunResult; s: Sent[] }
  if (opts.between) {
    dr = await recorded(docker, args, opts.input)
    await opts.between()
    br = await recorded(berth, bargs, opts.input)
  } else {
    ;[dr, br] = await Promise.all([
      recorded(docker, args, opts.input),
      recorded(berth, bargs, opts.input),
    ])
  }
  let bs = br.s
  if (opts.rename) {
    const [from, to] = opts.rename
    bs = JSON.parse(JSON.stringify(bs).replaceAll(to, from)) as Sent[]
  }
  return { d: dr.r, b: br.r, ds: dr.s, bs }
}

/** Runs fn on every item, a few at a time (each is two short-lived clients). */
async function each<T>(items: readonly T[], fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T)
  }
  await Promise.all([worker(), worker()])
}

/**
 * docker 28 sends -e values and -v binds in Go's random map order (both pass through a map on
 * the way): the create body's Env and Binds are compared as sets.
 */
function envAsSet(l: Sent[]): Sent[] {
  for (const s of l) {
    const b = s.body as { Env?: string[] | null } | undefined
    if (s.path.endsWith('/containers/create') && Array.isArray(b?.Env)) b.Env.sort()
    const hc = (b as { HostConfig?: { Binds?: string[] | null } } | undefined)?.HostConfig
    if (Array.isArray(hc?.Binds)) hc.Binds.sort()
  }
  return l
}

/** The same requests, the same status, and (when refused) the same words. */
function assertSame(r: Awaited<ReturnType<typeof both>>, what: string): void {
  assert.deepEqual(
    envAsSet(r.bs),
    envAsSet(r.ds),
    `${what}: requests\ndocker: ${r.d.stderr}\nberth: ${r.b.stderr}`,
  )
  assert.equal(r.b.code, r.d.code, `${what}: status\ndocker: ${r.d.stderr}\nberth: ${r.b.stderr}`)
  if (r.d.code !== 0) assert.equal(r.b.stderr, asBerth(r.d.stderr), `${what}: stderr`)
}

describe('berth sends what the docker CLI sends', () => {
  before(async () => {
    d = await startBerthd()
    dir = await mkdtemp('/tmp/bt-req-')
    await importBusybox(d)
    await writeFile(join(dir, 'env'), '# comment\nA=1\n  B=two words\nHOME\n')
    await writeFile(join(dir, 'labels'), 'l1=x\nl2\n')
  })
  after(async () => {
    await d?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('run --help and create --help list docker 28s flags with its help text', async () => {
    for (const cmd of ['run', 'create']) {
      const [dr, br] = await Promise.all([
        docker([cmd, '--help'], { host: d }),
        berth([cmd, '--help'], { host: d }),
      ])
      const options = (s: string) => s.slice(s.indexOf('\nOptions:'))
      assert.ok(options(dr.stdout).includes('--publish list'), dr.stdout)
      assert.equal(options(br.stdout), options(dr.stdout), cmd)
    }
  })

  test('create: each flag in the request body as docker puts it there', async () => {
    const cid = join(dir, 'cid')
    const cases: string[][] = [
      [],
      ['-a', 'STDIN', '-a', 'stdout', '-i', '-t'],
      ['--add-host', 'h1:1.2.3.4', '--add-host', 'h2=::1', '--add-host', 'gw:host-gateway'],
      ['--annotation', 'a=b', '--annotation', 'c'],
      ['--blkio-weight', '300', '--blkio-weight-device', '/dev/sda:200'],
      ['--cap-add', 'net_admin', '--cap-add', 'CAP_SYS_TIME', '--cap-drop', 'ALL'],
      ['--cgroup-parent', 'p', '--cgroupns', 'private', '--cidfile', cid],
      ['--cpu-period', '100000', '--cpu-quota', '50000', '-c', '512', '--cpus', '1.5'],
      [
        '--cpu-rt-period',
        '1000',
        '--cpu-rt-runtime',
        '500',
        '--cpuset-cpus',
        '0',
        '--cpuset-mems',
        '0',
      ],
      ['--device', '/dev/null', '--device', '/dev/zero:/dev/z:r', '--device', 'vendor.com/gpu=0'],
      ['--device-cgroup-rule', 'c 1:3 rwm', '--device-read-bps', '/dev/sda:1mb'],
      [
        '--device-read-iops',
        '/dev/sda:100',
        '--device-write-bps',
        '/dev/sda:2kb',
        '--device-write-iops',
        '/dev/sda:50',
      ],
      ['--disable-content-trust', '--pull', 'never', '-q'],
      [
        '--dns',
        '8.8.8.8',
        '--dns',
        '::0:1',
        '--dns-option',
        'ndots:2',
        '--dns-opt',
        'rotate',
        '--dns-search',
        'example.com',
      ],
      ['--domainname', 'dom', '-h', 'host1', '--entrypoint', '', '-w', '/tmp', '-u', '1:2'],
      ['-e', 'X=1', '-e', 'PATH', '-e', 'X=2', '-e', 'UNSET_HERE', '--env-file', join(dir, 'env')],
      ['--expose', '80', '--expose', '90-92/udp', '-p', '8080:80', '-p', '127.0.0.1::53/udp', '-P'],
      ['-p', 'published=81,target=8081,protocol=udp', '-p', '[::1]:9000-9001:9000-9001'],
      ['--gpus', 'all'],
      ['--gpus', '"device=0,1",capabilities=compute'],
      ['--group-add', 'audio', '--init', '--ipc', 'shareable', '--isolation', 'default'],
      [
        '--health-cmd',
        'true',
        '--health-interval',
        '5s',
        '--health-retries',
        '3',
        '--health-timeout',
        '1m30s',
      ],
      ['--health-start-period', '2s', '--health-start-interval', '500ms'],
      ['--no-healthcheck'],
      ['--kernel-memory', '10m', '-m', '64m', '--memory-reservation', '32m', '--memory-swap', '-1'],
      [
        '--memory-swappiness',
        '10',
        '--oom-kill-disable',
        '--oom-score-adj',
        '100',
        '--pids-limit',
        '-1',
      ],
      ['-l', 'a=1', '--label', 'b', '--label-file', join(dir, 'labels')],
      ['--log-driver', 'json-file', '--log-opt', 'max-size=1m', '--log-opt', 'max-file=2'],
      ['--mac-address', '92:d0:c6:0a:29:33'],
      ['--network', 'host'],
      ['--network', 'none', '--link-local-ip', '169.254.1.1'],
      ['--network', 'container:x1'],
      [
        '--net',
        'mynet',
        '--network-alias',
        'al',
        '--link',
        'a:b',
        '--ip',
        '10.0.0.2',
        '--ip6',
        '::2',
      ],
      ['--network', 'name=n1,alias=x,driver-opt=k=v', '--network', 'n2'],
      ['--name', 'named1', '--platform', 'linux/amd64', '--rm'],
      ['--pid', 'host', '--uts', 'host', '--userns', 'host', '--privileged', '--read-only'],
      ['--restart', 'on-failure:3', '--runtime', 'runc', '--shm-size', '1g'],
      ['--security-opt', 'no-new-privileges', '--security-opt', 'systempaths=unconfined'],
      ['--security-opt', 'seccomp=unconfined', '--security-opt', 'label=disable'],
      ['--stop-signal', 'SIGUSR1', '--stop-timeout', '7', '--storage-opt', 'size=1G'],
      [
        '--sysctl',
        'net.ipv4.ip_forward=1',
        '--sysctl',
        'kernel.shmmax=1',
        '--tmpfs',
        '/run:size=1m',
        '--tmpfs',
        '/t',
      ],
      ['--ulimit', 'nproc=10:20', '--ulimit', 'nofile=5', '--ulimit', 'core=1'],
      ['-v', '/tmp:/host-tmp:ro', '-v', 'vol1:/data', '-v', '/anon', '--volume-driver', 'local'],
      ['--mount', 'type=tmpfs,target=/m,tmpfs-size=1m', '--volumes-from', 'x1:ro'],
      ['--use-api-socket'],
      // refused by docker's CLI before it sends anything, in docker's words
      ['-m', 'lots'],
      ['--blkio-weight', '70000'],
      ['--health-interval', '5x'],
      ['--sysctl', 'kernel.panic=1'],
      ['-a', 'nothing'],
      ['--gpus', 'count=x'],
      ['--add-host', 'nocolon'],
      ['--dns', 'not-an-ip'],
      ['--device-read-bps', '/dev/sda:fast'],
      ['--network', 'name='],
      ['--memory-swappiness', '200'],
      ['--pid', 'bogus'],
      ['--restart', 'always', '--rm'],
      ['--no-healthcheck', '--health-cmd', 'x'],
      ['--mac-address', 'zz'],
      ['-p', '99999'],
      ['--expose', '1:2'],
      ['--network', 'host', '--network', 'mynet'],
      ['--network-alias', 'x'],
      ['--cpu-count', '2'],
      ['--pull', 'sometimes'],
    ]
    await each(cases, async (flags) => {
      // a --cidfile or --name the first client made must go before the second one runs
      const sequential = flags.includes('--cidfile') || flags.includes('--name')
      const name = flags[flags.indexOf('--name') + 1]
      const between = async () => {
        await rm(cid, { force: true })
        if (flags.includes('--name')) await docker(['rm', '-f', name!], { host: d })
      }
      const r = await both(['create', ...flags, 'busybox', 'true'], {
        ...(sequential ? { between } : {}),
      })
      await rm(cid, { force: true })
      assertSame(r, `create ${flags.join(' ')}`)
    })
  })

  test('run -d, and run attached, send the requests docker sends', async () => {
    for (const args of [
      ['run', '-d', '--init', 'busybox', 'sleep', '1000'],
      ['run', '--rm', 'busybox', 'true'],
      ['run', '-i', '--rm', '-e', 'A=1', 'busybox', 'cat'],
      ['run', '-a', 'stdout', 'busybox', 'echo', 'hi'],
    ]) {
      const r = await both(args, { input: 'some input\n' })
      // docker starts the wait and the attach side by side: compare the set of requests. With
      // -d docker also sends a wait it never reads (it exits after start); berth does not.
      const key = (s: Sent) => JSON.stringify(s)
      const used = (s: Sent) => !(args.includes('-d') && s.path.endsWith('/wait'))
      const ids = (l: Sent[]) => {
        const id = /\/containers\/([0-9a-f]{64})\//.exec(l.map(key).join())?.[1] ?? 'none'
        return l
          .filter(used)
          .map((s) => key(s).replaceAll(id, 'ID'))
          .sort()
      }
      assert.deepEqual(ids(r.bs), ids(r.ds), args.join(' '))
      assert.equal(r.b.code, r.d.code, args.join(' '))
      assert.equal(r.b.stdout.length, r.d.stdout.length, args.join(' '))
    }
  })

  test("every other command's flags reach the API as docker sends them", async () => {
    const run = (args: string[]) => docker(args, { host: d })
    // one running container both clients look at, and a pair per command that changes one
    assert.equal((await run(['run', '-d', '--name', 'live', 'busybox', 'sleep', '1000'])).code, 0)
    let n = 0
    const pair = async (state: 'running' | 'stopped' | 'paused' = 'running') => {
      const id = ++n
      for (const who of ['d', 'b']) {
        const name = `${who}-${id}`
        assert.equal((await run(['run', '-d', '--name', name, 'busybox', 'sleep', '1000'])).code, 0)
        if (state === 'stopped') await run(['stop', '-t', '0', name])
        if (state === 'paused') await run(['pause', name])
      }
      return [`d-${id}`, `b-${id}`] as [string, string]
    }
    const tar = join(dir, 'out.tar')
    const same = async (args: string[], opts: Parameters<typeof both>[1] = {}) => {
      // the two clients run side by side, unless one leaves something the other would trip on
      const sequential = args.includes(tar) || opts.between !== undefined || opts.rename
      const r = await both(args, {
        ...opts,
        ...(sequential
          ? {
              between: async () => {
                await rm(tar, { force: true })
                await opts.between?.()
              },
            }
          : {}),
      })
      await rm(tar, { force: true })
      assertSame(r, args.join(' '))
    }
    for (const args of [
      ['ps'],
      ['ps', '-a', '-f', 'status=running', '--filter', 'label=x', '-n', '2', '-s', '--no-trunc'],
      ['ps', '-l', '-q'],
      ['ps', '--format', '{{.ID}} {{.Size}}'],
      ['container', 'ls', '--last', '3'],
      ['images', '-a', '--digests', '-f', 'dangling=false', '--no-trunc'],
      ['images', '-q', 'busybox'],
      ['image', 'ls', '--format', '{{.ID}}'],
      [
        'logs',
        '--details',
        '--since',
        '2000-01-01T00:00:00Z',
        '--until',
        '4000000000',
        '-n',
        '5',
        '-t',
        'live',
      ],
      ['logs', '--tail', 'all', 'live'],
      ['exec', 'live', 'true'],
      [
        'exec',
        '-d',
        '-e',
        'A=1',
        '--env-file',
        join(dir, 'env'),
        '-u',
        '0',
        '-w',
        '/tmp',
        '--privileged',
        'live',
        'true',
      ],
      // (exec -i with stdin: berthd sometimes misses the end of stdin, with docker's CLI too)
      ['exec', '-t', 'live', 'true'],
      ['exec', '--detach-keys', 'ctrl-a,a', 'live', 'true'],
      ['top', 'live'],
      ['top', 'live', '-o', 'pid'],
      ['stats', '--no-stream', 'live'],
      // (stats with no names also follows events, side by side: not compared request by request)
      ['stats', '--no-stream', '--no-trunc', '--format', '{{.Name}}', 'live'],
      ['inspect', 'live'],
      ['inspect', '-s', '-f', '{{.Id}}', 'live'],
      ['inspect', '--type', 'image', 'busybox'],
      ['container', 'inspect', '-s', 'live'],
      ['image', 'inspect', '-f', '{{.Id}}', 'busybox'],
      ['diff', 'live'],
      ['export', '-o', tar, 'live'],
      ['history', '-H=false', '--no-trunc', 'busybox'],
      ['history', '-q', 'busybox'],
      ['history', '--platform', 'linux/amd64', 'busybox'],
      ['images', '--tree'],
      ['tag', 'busybox', 'req:one'],
      ['save', '-o', tar, 'busybox'],
      ['save', '--platform', 'linux/amd64', '-o', tar, 'busybox'],
      ['cp', 'live:/etc/hostname', '-'],
      ['cp', '-a', '-L', join(dir, 'env'), 'live:/tmp/'],
      ['events', '--since', '0', '--until', '1', '-f', 'type=container'],
      [
        'volume',
        'create',
        '-d',
        'local',
        '--label',
        'a=b',
        '-o',
        'type=tmpfs',
        '-o',
        'device=tmpfs',
        'v1',
      ],
      ['volume', 'create', '--group', 'g', 'v2'],
      ['volume', 'ls', '-q', '-f', 'dangling=true'],
      ['volume', 'inspect', 'v1'],
      ['volume', 'rm', '-f', 'nosuch'],
      ['volume', 'prune', '-f', '-a', '--filter', 'label=nothing'],
      ['container', 'prune', '-f', '--filter', 'until=1h'],
      ['image', 'prune', '-f', '-a', '--filter', 'label=nothing'],
      ['info', '-f', '{{json .ID}}'],
      ['version', '-f', '{{.Server.Version}}'],
      ['start', '--checkpoint', 'c1', 'live'],
      ['run', '--cpu-count', '1', 'busybox'],
    ]) {
      await same(args)
    }
    // (commit's repository is written out in full: docker sends the normalised name, which
    // berth's commit does once the shared reference grammar lands in src/lib)
    for (const [args, state] of [
      [['stop', '-t', '1', '-s', 'SIGKILL', 'CTR'], 'running'],
      [['restart', '-t', '0', 'CTR'], 'running'],
      [['kill', '-s', 'HUP', 'CTR'], 'running'],
      [['kill', 'CTR'], 'running'],
      [['pause', 'CTR'], 'running'],
      [['unpause', 'CTR'], 'paused'],
      [['wait', 'CTR'], 'stopped'],
      [['start', 'CTR'], 'stopped'],
      [['rm', '-f', '-v', 'CTR'], 'running'],
      [['rm', '-l', 'CTR'], 'stopped'],
      [['rename', 'CTR', 'CTR-renamed'], 'running'],
      [
        ['update', '--cpus', '1', '--pids-limit', '50', '-m', '64m', '--memory-swap', '-1', 'CTR'],
        'running',
      ],
      [
        [
          'update',
          '--restart',
          'on-failure:2',
          '--blkio-weight',
          '300',
          '--cpu-rt-period',
          '0',
          'CTR',
        ],
        'running',
      ],
      [
        [
          'commit',
          '-a',
          'me',
          '-c',
          'ENV X=1',
          '-c',
          'CMD ["sh"]',
          '-m',
          'msg',
          '-p=false',
          'CTR',
          'docker.io/req/commit:CTR',
        ],
        'running',
      ],
      [['commit', 'CTR'], 'running'],
    ] as Array<[string[], 'running' | 'stopped' | 'paused']>) {
      const [dn, bn] = await pair(state)
      await same(
        args.map((a) => a.replaceAll('CTR', dn)),
        { rename: [dn, bn] },
      )
    }
    await same([
      'import',
      '-c',
      'ENV X=1',
      '-m',
      'msg',
      '--platform',
      'linux/amd64',
      join(dir, 'env'),
      'req/imp:1',
    ])
    await same(['load', '-q'], { input: 'not a tar' })
    await same(['rmi', '-f', '--no-prune', 'req:one'], {
      between: async () => void (await run(['tag', 'busybox', 'req:one'])),
    })
  })
})
