// Docker behaviours berth had left out, through the stock docker CLI and the API against a real
// berthd, each as Debian's dockerd 20.10 showed it: log drivers with rotation, HostConfig.Runtime,
// exec and commit events, volume events, stats' networks and the order of /system/df.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { apiRequest, docker, dockerOk, importBusybox, startBerthd, type Berthd } from './harness.ts'

let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

async function run(args: string[]): Promise<string> {
  return (await dockerOk(args, { host: d })).trim()
}

async function inspect<T>(id: string, format: string): Promise<T> {
  return JSON.parse(await run(['inspect', '--format', `{{json ${format}}}`, id])) as T
}

/** The container's log files on disk (generations and the log itself, once each). */
async function logFiles(id: string): Promise<{ name: string; size: number }[]> {
  const dir = join(d.dataRoot, 'containers', id)
  const out: { name: string; size: number }[] = []
  const seen = new Set<number>()
  for (const name of (await readdir(dir)).sort()) {
    if (!/^ctr\.log(\.\d+(\.gz)?)?$/.test(name)) continue
    const st = await stat(join(dir, name)).catch(() => undefined)
    if (!st?.isFile() || seen.has(st.ino)) continue
    seen.add(st.ino)
    out.push({ name, size: st.size })
  }
  return out
}

/** Events between two unix times, as JSON objects. */
async function events(since: string, filters: string[] = []): Promise<Record<string, unknown>[]> {
  const until = String(Math.ceil(Date.now() / 1000) + 1)
  const out = await run([
    'events',
    '--since',
    since,
    '--until',
    until,
    ...filters.flatMap((f) => ['--filter', f]),
    '--format',
    '{{json .}}',
  ])
  return out === '' ? [] : out.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
}

// Fractional, so the events of the commands just before are left out.
const nowSeconds = (): string => (Date.now() / 1000).toFixed(3)
const action = (e: Record<string, unknown>): string => e.Action as string
const attrs = (e: Record<string, unknown>): Record<string, string> =>
  (e.Actor as { Attributes: Record<string, string> }).Attributes

describe('log drivers', () => {
  test("unknown drivers, options and bad values are refused in Docker's words", async () => {
    const cases: [string[], string][] = [
      [['--log-driver', 'foo'], 'error looking up logging plugin foo: plugin "foo" not found'],
      [['--log-opt', 'foo=bar'], "unknown log opt 'foo' for json-file log driver"],
      [
        ['--log-driver', 'local', '--log-opt', 'labels=x'],
        "unknown log opt 'labels' for log driver local",
      ],
      [['--log-opt', 'max-size=1z'], "failed to initialize logging driver: invalid size: '1z'"],
      [
        ['--log-opt', 'max-size=1k', '--log-opt', 'max-file=0'],
        'failed to initialize logging driver: max-file cannot be less than 1',
      ],
    ]
    for (const [flags, words] of cases) {
      const r = await docker(['run', '--network', 'none', ...flags, 'busybox', 'true'], {
        host: d,
      })
      assert.equal(r.code, 125, r.stderr)
      assert.ok(r.stderr.includes(`Error response from daemon: ${words}`), r.stderr)
    }
    const api = await apiRequest(d, 'POST', '/containers/create', {
      Image: 'busybox',
      Cmd: ['true'],
      HostConfig: { LogConfig: { Type: 'foo', Config: {} } },
    })
    assert.equal(api.status, 400)
    assert.deepEqual(JSON.parse(api.body), {
      message: 'error looking up logging plugin foo: plugin "foo" not found',
    })
    // Nothing was left behind by the refusals.
    assert.equal(await run(['ps', '-aq']), '')
  })

  test('LogConfig as given in inspect; json-file by default; LogPath only for json-file', async () => {
    const plain = await run(['create', '--network', 'none', 'busybox', 'true'])
    assert.deepEqual(await inspect(plain, '.HostConfig.LogConfig'), {
      Type: 'json-file',
      Config: {},
    })
    assert.match(await inspect<string>(plain, '.LogPath'), new RegExp(`/containers/${plain}/`))
    const local = await run([
      'create',
      '--network',
      'none',
      '--log-driver',
      'local',
      '--log-opt',
      'max-size=1k',
      'busybox',
      'true',
    ])
    assert.deepEqual(await inspect(local, '.HostConfig.LogConfig'), {
      Type: 'local',
      Config: { 'max-size': '1k' },
    })
    assert.equal(await inspect<string>(local, '.LogPath'), '')
    await run(['rm', plain, local])
  })

  test('none: the output still reaches an attached client; logs is refused (501)', async () => {
    const r = await docker(
      [
        'run',
        '--name',
        'nolog',
        '--network',
        'none',
        '--log-driver',
        'none',
        'busybox',
        'echo',
        'hi',
      ],
      { host: d },
    )
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'hi\n')
    const logs = await docker(['logs', 'nolog'], { host: d })
    assert.equal(logs.code, 1)
    assert.ok(
      logs.stderr.includes('configured logging driver does not support reading'),
      logs.stderr,
    )
    const api = await apiRequest(d, 'GET', '/containers/nolog/logs?stdout=1')
    assert.equal(api.status, 501)
    assert.equal(await inspect<string>('nolog', '.LogPath'), '')
    assert.deepEqual(await logFiles(await run(['inspect', '-f', '{{.Id}}', 'nolog'])), [])
    await run(['rm', 'nolog'])
  })

  test('max-size and max-file: no file grows past the size, max-file are kept, logs reads across them', async () => {
    const lines = 150
    // Paced, so the keeper sees each rotation (a burst faster than it may lose a file).
    const script = `i=0; while [ $i -lt ${lines} ]; do echo line-$i; i=$((i+1)); usleep 20000; done`
    const id = await run([
      'run',
      '-d',
      '--network',
      'none',
      '--log-opt',
      'max-size=2k',
      '--log-opt',
      'max-file=3',
      'busybox',
      'sh',
      '-c',
      script,
    ])
    assert.equal(await run(['wait', id]), '0')
    const files = await logFiles(id)
    assert.ok(files.length >= 2 && files.length <= 3, JSON.stringify(files))
    for (const f of files) assert.ok(f.size <= 2000, JSON.stringify(files))
    const out = (await run(['logs', id])).split('\n')
    // What is kept: the newest lines, in order, none missing, more than one file holds.
    assert.equal(out.at(-1), `line-${lines - 1}`)
    const first = Number((out[0] as string).slice('line-'.length))
    assert.deepEqual(
      out,
      Array.from({ length: lines - first }, (_, i) => `line-${first + i}`),
    )
    assert.ok(out.length > 2000 / 60, `${out.length} lines`)
    assert.ok(first > 0, 'the oldest lines were rotated out')
    assert.equal(await run(['logs', '--tail', '3', id]), 'line-147\nline-148\nline-149')
    await run(['rm', id])
  })

  test('compress: the rotated files are gzipped; logs, --tail and -f read across them', async () => {
    const lines = 120
    // Paced, as above; the pause first lets logs -f attach before the first line.
    const script = `sleep 1; i=0; while [ $i -lt ${lines} ]; do echo line-$i; i=$((i+1)); usleep 20000; done`
    const id = await run(
      [
        'run',
        '-d',
        '--network',
        'none',
        '--log-opt',
        'max-size=1k',
        '--log-opt',
        'max-file=3',
      ].concat(['--log-opt', 'compress=true', 'busybox', 'sh', '-c', script]),
    )
    // Follows the generations as they are written, compressed and pruned: every line once.
    const followed = await run(['logs', '-f', id])
    const all = Array.from({ length: lines }, (_, i) => `line-${i}`)
    assert.deepEqual(followed.split('\n'), all)
    assert.equal(await run(['wait', id]), '0')
    const files = await logFiles(id)
    const gz = files.filter((f) => f.name.endsWith('.gz'))
    // All but the file written last are compressed (the last waits for the next rotation).
    assert.ok(gz.length === 2 && files.length === 3, JSON.stringify(files))
    for (const f of gz) {
      const head = (await readFile(join(d.dataRoot, 'containers', id, f.name))).subarray(0, 2)
      assert.deepEqual([...head], [0x1f, 0x8b], `${f.name} is gzip`)
    }
    // What is kept: the newest lines, in order, none missing or twice.
    const out = (await run(['logs', id])).split('\n')
    assert.equal(out.at(-1), `line-${lines - 1}`)
    const first = Number((out[0] as string).slice('line-'.length))
    assert.ok(first > 0, 'the oldest lines were rotated out')
    assert.deepEqual(out, all.slice(first))
    // More than the file written last holds: the compressed ones were read too.
    assert.ok(out.length > 1000 / 40, `${out.length} lines`)
    // tail reaches back into the compressed files; since reads them too.
    const tail = (await run(['logs', '--tail', '40', id])).split('\n')
    assert.deepEqual(tail, out.slice(-40))
    assert.deepEqual((await run(['logs', '--since', '2000-01-01T00:00:00Z', id])).split('\n'), out)
    await run(['rm', id])
  })

  test('logs -f follows a container through its rotations', async () => {
    const id = await run([
      'run',
      '-d',
      '--network',
      'none',
      '--log-driver',
      'local',
      '--log-opt',
      'max-size=1k',
      '--log-opt',
      'max-file=100',
      'busybox',
      'sh',
      '-c',
      'sleep 1; i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); usleep 2000; done',
    ])
    const followed = await run(['logs', '-f', id])
    assert.deepEqual(
      followed.split('\n'),
      Array.from({ length: 200 }, (_, i) => `line-${i}`),
    )
    assert.ok((await logFiles(id)).length > 5)
    await run(['rm', id])
  })

  test('a restarted berthd keeps the rotation of a running container going', async () => {
    const id = await run([
      'run',
      '-d',
      '--network',
      'none',
      '--log-opt',
      'max-size=1k',
      '--log-opt',
      'max-file=2',
      'busybox',
      'sh',
      '-c',
      'echo first; sleep 4; i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); usleep 20000; done',
    ])
    // The writing starts once the new daemon is up: its keeper, not the old one's, keeps it.
    await d.restart()
    assert.equal(await run(['wait', id]), '0')
    const files = await logFiles(id)
    assert.equal(files.length, 2, JSON.stringify(files))
    for (const f of files) assert.ok(f.size <= 1000, JSON.stringify(files))
    const out = (await run(['logs', id])).split('\n')
    assert.equal(out.at(-1), 'line-99')
    assert.ok(out.length > 1000 / 60, `${out.length} lines`)
    await run(['rm', id])
  })

  test('max-size alone (one file): the log never passes the size', async () => {
    const id = await run([
      'run',
      '-d',
      '--network',
      'none',
      '--log-opt',
      'max-size=1k',
      'busybox',
      'sh',
      '-c',
      'i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done',
    ])
    assert.equal(await run(['wait', id]), '0')
    const files = await logFiles(id)
    assert.equal(files.length, 1, JSON.stringify(files))
    assert.ok((files[0] as { size: number }).size <= 1000)
    assert.match(await run(['logs', '--tail', '1', id]), /^line-199$/)
    await run(['rm', id])
  })
})

describe('runtime', () => {
  test('HostConfig.Runtime is runc, --runtime runc is taken, an unknown one refused', async () => {
    const a = await run(['create', '--network', 'none', 'busybox', 'true'])
    const b = await run(['create', '--network', 'none', '--runtime', 'runc', 'busybox', 'true'])
    assert.equal(await inspect(a, '.HostConfig.Runtime'), 'runc')
    assert.equal(await inspect(b, '.HostConfig.Runtime'), 'runc')
    const bad = await docker(['run', '--network', 'none', '--runtime', 'foo', 'busybox', 'true'], {
      host: d,
    })
    assert.equal(bad.code, 125)
    assert.match(bad.stderr, /unknown or invalid runtime name: foo/)
    const info = JSON.parse((await apiRequest(d, 'GET', '/info')).body) as {
      DefaultRuntime: string
      Runtimes: Record<string, unknown>
    }
    assert.equal(info.DefaultRuntime, 'runc')
    assert.ok('runc' in info.Runtimes)
    await run(['rm', a, b])
  })
})

describe('events', () => {
  test('exec_create, exec_start and exec_die, named and filtered as dockerd', async () => {
    const id = await run([
      'run',
      '-d',
      '--network',
      'none',
      '-l',
      'lab=1',
      'busybox',
      'sleep',
      '300',
    ])
    const since = nowSeconds()
    const ex = await docker(['exec', id, 'sh', '-c', 'exit 3'], { host: d })
    assert.equal(ex.code, 3)
    await run(['exec', id, 'true'])
    const all = (await events(since, [`container=${id}`])).map(action)
    assert.deepEqual(all, [
      'exec_create: sh -c exit 3',
      'exec_start: sh -c exit 3',
      'exec_die',
      'exec_create: true ',
      'exec_start: true ',
      'exec_die',
    ])
    const dies = await events(since, ['event=exec_die'])
    assert.deepEqual(
      dies.map((e) => attrs(e).exitCode),
      ['3', '0'],
    )
    const a = attrs(dies[0] as Record<string, unknown>)
    assert.match(a.execID ?? '', /^[0-9a-f]{64}$/)
    assert.equal(a.lab, '1')
    assert.equal(a.image, 'busybox')
    // exec_create and exec_start match by their name before the command, as in dockerd.
    assert.equal((await events(since, ['event=exec_create'])).length, 2)
    await run(['rm', '-f', id])
  })

  test('commit: pause, tag, commit, unpause (and no pause with --pause=false)', async () => {
    const id = await run(['run', '-d', '--network', 'none', 'busybox', 'sleep', '300'])
    const since = nowSeconds()
    await run(['commit', id, 'committed:1'])
    await run(['commit', '--pause=false', id])
    const got = (await events(since)).map((e) => `${e.Type as string} ${action(e)}`)
    assert.deepEqual(got, [
      'container pause',
      'image tag',
      'container commit',
      'container unpause',
      'container commit',
    ])
    await run(['rm', '-f', id])
    await run(['rmi', 'committed:1'])
  })

  test('volumes: create, destroy and prune', async () => {
    const since = nowSeconds()
    await run(['volume', 'create', 'evv'])
    await run(['volume', 'rm', 'evv'])
    await run(['volume', 'prune', '-f'])
    const got = (await events(since, ['type=volume'])).map((e) => [
      action(e),
      (e.Actor as { ID: string }).ID,
      attrs(e),
    ])
    assert.deepEqual(got, [
      ['create', 'evv', { driver: 'local' }],
      ['destroy', 'evv', { driver: 'local' }],
      ['prune', '', { reclaimed: '0' }],
    ])
  })
})

describe('stats and df', () => {
  test('networks: per interface on a bridge; none for --network none or host', async () => {
    const bridged = await run(['run', '-d', 'busybox', 'sleep', '300'])
    const none = await run(['run', '-d', '--network', 'none', 'busybox', 'sleep', '300'])
    const host = await run(['run', '-d', '--network', 'host', 'busybox', 'sleep', '300'])
    const stats = async (id: string): Promise<Record<string, unknown>> =>
      JSON.parse((await apiRequest(d, 'GET', `/containers/${id}/stats?stream=0`)).body) as Record<
        string,
        unknown
      >
    const nets = (await stats(bridged)).networks as Record<string, Record<string, number>>
    assert.deepEqual(Object.keys(nets), ['eth0'])
    assert.deepEqual(Object.keys(nets.eth0 ?? {}), [
      'rx_bytes',
      'rx_packets',
      'rx_errors',
      'rx_dropped',
      'tx_bytes',
      'tx_packets',
      'tx_errors',
      'tx_dropped',
    ])
    assert.ok(!('networks' in (await stats(none))))
    assert.ok(!('networks' in (await stats(host))))
    await run(['rm', '-f', bridged, none, host])
  })

  test('/system/df lists containers and images newest first', async () => {
    const a = await run(['create', '--network', 'none', 'busybox', 'true'])
    const b = await run(['create', '--network', 'none', 'busybox', 'true'])
    const df = JSON.parse((await apiRequest(d, 'GET', '/system/df')).body) as {
      Containers: { Id: string }[]
      Images: { Created: number }[]
    }
    assert.deepEqual(
      df.Containers.map((c) => c.Id).filter((id) => id === a || id === b),
      [b, a],
    )
    const created = df.Images.map((i) => i.Created)
    assert.deepEqual(
      created,
      [...created].sort((x, y) => y - x),
    )
    await run(['rm', a, b])
  })
})
