// The stock docker CLI against berthd: what a Docker user types, and what they see.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  busyboxTar,
  docker,
  importBusybox,
  startBerthd,
  startDockerd,
  type Berthd,
  type Dockerd,
} from './harness.ts'

let d: Berthd
let imageId: string

before(async () => {
  d = await startBerthd()
  imageId = await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

const host = (): { host: Berthd } => ({ host: d })

describe('system', () => {
  test('version shows both the client and berthd', async () => {
    const r = await docker(['version'], host())
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Server: berth/)
    assert.match(r.stdout, /API version:\s+1\.45/)
  })

  test('info prints the daemon facts without errors', async () => {
    const r = await docker(['info'], host())
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Storage Driver: overlay2/)
    assert.match(r.stdout, /Images: \d+/)
    assert.doesNotMatch(r.stderr, /error/i)
  })
})

describe('images', () => {
  test('import prints the new image ID and images lists it', async () => {
    assert.match(imageId, /^sha256:[0-9a-f]{64}$/)
    const r = await docker(['images'], host())
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.match(lines[0] ?? '', /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/)
    assert.ok(
      lines.some((l) => new RegExp(`^busybox\\s+latest\\s+${imageId.slice(7, 19)}\\s`).test(l)),
      r.stdout,
    )
  })

  test('tag, images --format, then rmi untags before it deletes', async () => {
    assert.equal((await docker(['tag', 'busybox', 'lab/tool:v1'], host())).code, 0)
    const f = await docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'], host())
    assert.match(f.stdout, new RegExp(`^lab/tool:v1 ${imageId.slice(7, 19)}$`, 'm'))
    const rmi = await docker(['rmi', 'lab/tool:v1'], host())
    assert.equal(rmi.code, 0, rmi.stderr)
    assert.equal(rmi.stdout.trim(), 'Untagged: lab/tool:v1')
    const missing = await docker(['rmi', 'lab/tool:v1'], host())
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /No such image: lab\/tool:v1/)
  })

  test('import with --change sets the image config', async () => {
    const r = await docker(
      [
        'import',
        '-c',
        'ENV GREETING=hello',
        '-c',
        'WORKDIR /srv',
        '-c',
        'CMD ["sh", "-c", "echo $GREETING from $(pwd)"]',
        await busyboxTar(),
        'changed:1',
      ],
      host(),
    )
    assert.equal(r.code, 0, r.stderr)
    const run = await docker(['run', '--rm', 'changed:1'], host())
    assert.equal(run.stdout, 'hello from /srv\n')
    assert.equal(run.code, 0, run.stderr)
  })

  test('save and load round-trip through a file', async () => {
    const dir = await mkdtemp('/tmp/bt-save-')
    try {
      const file = join(dir, 'img.tar')
      assert.equal((await docker(['tag', 'busybox', 'roundtrip:1'], host())).code, 0)
      const s = await docker(['save', '-o', file, 'roundtrip:1'], host())
      assert.equal(s.code, 0, s.stderr)
      assert.ok((await stat(file)).size > 100_000)
      assert.equal((await docker(['rmi', 'roundtrip:1'], host())).code, 0)
      const l = await docker(['load', '-i', file], host())
      assert.equal(l.code, 0, l.stderr)
      assert.match(l.stdout, /Loaded image: roundtrip:1/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('run', () => {
  test('run --rm echo prints and leaves nothing behind', async () => {
    const r = await docker(['run', '--rm', 'busybox', 'echo', 'hi'], host())
    assert.equal(r.stdout, 'hi\n')
    assert.equal(r.stderr, '')
    assert.equal(r.code, 0)
    const ps = await docker(['ps', '-a', '-q'], host())
    assert.equal(ps.stdout, '')
  })

  test('stdout and stderr arrive apart, and the exit code comes back', async () => {
    const r = await docker(
      ['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3'],
      host(),
    )
    assert.equal(r.stdout, 'out\n')
    assert.equal(r.stderr, 'err\n')
    assert.equal(r.code, 3)
  })

  test('-w and -e shape the process', async () => {
    const r = await docker(
      [
        'run',
        '--rm',
        '-w',
        '/tmp/work',
        '-e',
        'A=1',
        '-e',
        'B',
        'busybox',
        'sh',
        '-c',
        'pwd; echo $A$B',
      ],
      { host: d, env: { B: 'two' } },
    )
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, '/tmp/work\n1two\n')
  })

  test('-u and --entrypoint', async () => {
    const u = await docker(['run', '--rm', '-u', '1000:1000', 'busybox', 'id'], host())
    assert.equal(u.stdout, 'uid=1000 gid=1000 groups=1000\n')
    const e = await docker(['run', '--rm', '--entrypoint', 'echo', 'busybox', 'via', 'ep'], host())
    assert.equal(e.stdout, 'via ep\n')
  })

  test('a missing command gives 127, a non-executable one 126, a missing image 125', async () => {
    const nf = await docker(['run', '--rm', 'busybox', 'no-such-cmd'], host())
    assert.equal(nf.code, 127, nf.stderr)
    assert.match(nf.stderr, /executable file not found in \$PATH/)
    const ne = await docker(['run', '--rm', 'busybox', '/etc/passwd'], host())
    assert.equal(ne.code, 126, ne.stderr)
    assert.match(ne.stderr, /permission denied/)
    const ni = await docker(['run', '--rm', 'no-such-image:1'], host())
    assert.equal(ni.code, 125)
    assert.match(ni.stderr, /Unable to find image 'no-such-image:1' locally/)
  })

  test('ps -a, logs and rm on what a run leaves', async () => {
    const r = await docker(
      ['run', '--name', 'keeper', 'busybox', 'sh', '-c', 'echo kept; echo warn >&2'],
      host(),
    )
    assert.equal(r.code, 0, r.stderr)
    const ps = await docker(['ps', '-a'], host())
    const line = ps.stdout.split('\n').find((l) => l.endsWith('keeper')) ?? ''
    assert.match(line, /busybox\s+"sh -c 'echo kept; e…"\s+.*Exited \(0\) .* ago\s+keeper$/)
    const logs = await docker(['logs', 'keeper'], host())
    assert.equal(logs.stdout, 'kept\n')
    assert.equal(logs.stderr, 'warn\n')
    const rm1 = await docker(['rm', 'keeper'], host())
    assert.equal(rm1.stdout, 'keeper\n')
    const rm2 = await docker(['rm', 'keeper'], host())
    assert.equal(rm2.code, 1)
    assert.match(rm2.stderr, /No such container: keeper/)
  })

  test('run -i passes piped stdin and closes it at its end', async () => {
    const r = await docker(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'wc -l; echo done'], {
      host: d,
      input: 'a\nb\nc\n',
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.trim().split(/\s+/).join(' '), '3 done')
  })

  test('logs -t stamps each line with RFC 3339 nanoseconds', async () => {
    const r = await docker(['run', '--name', 'stamped', 'busybox', 'echo', 'when'], host())
    assert.equal(r.code, 0, r.stderr)
    const logs = await docker(['logs', '-t', 'stamped'], host())
    assert.match(logs.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z when\n$/)
    assert.equal((await docker(['rm', 'stamped'], host())).code, 0)
  })

  test('rmi refuses an image a container uses, unless forced', async () => {
    assert.equal((await docker(['tag', 'busybox', 'inuse:1'], host())).code, 0)
    assert.equal((await docker(['create', '--name', 'user1', 'inuse:1', 'true'], host())).code, 0)
    const refused = await docker(['rmi', imageId.slice(7, 19)], host())
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /conflict: unable to delete/)
    assert.equal((await docker(['rm', 'user1'], host())).code, 0)
    assert.equal((await docker(['rmi', 'inuse:1'], host())).code, 0)
  })
})

describe('archives shared with a real Docker engine', () => {
  let dd: Dockerd
  before(async () => {
    dd = await startDockerd()
  })
  after(async () => {
    await dd?.stop()
  })

  test("docker's save loads into berth, and berth's save loads into docker", async () => {
    const dir = await mkdtemp('/tmp/bt-oracle-')
    try {
      const fromDocker = join(dir, 'docker.tar')
      await importBusybox({ socket: dd.socket }, 'oracle:docker')
      const s = await docker(['save', '-o', fromDocker, 'oracle:docker'], {
        host: { socket: dd.socket },
      })
      assert.equal(s.code, 0, s.stderr)
      const l = await docker(['load', '-i', fromDocker], host())
      assert.equal(l.code, 0, l.stderr)
      assert.match(l.stdout, /Loaded image: oracle:docker/)
      const run = await docker(['run', '--rm', 'oracle:docker', 'echo', 'from docker'], host())
      assert.equal(run.stdout, 'from docker\n')

      const fromBerth = join(dir, 'berth.tar')
      assert.equal((await docker(['tag', 'busybox', 'oracle:berth'], host())).code, 0)
      assert.equal((await docker(['save', '-o', fromBerth, 'oracle:berth'], host())).code, 0)
      const dl = await docker(['load', '-i', fromBerth], { host: { socket: dd.socket } })
      assert.equal(dl.code, 0, dl.stderr)
      const drun = await docker(
        ['run', '--rm', '--network', 'none', 'oracle:berth', 'echo', 'from berth'],
        {
          host: { socket: dd.socket },
        },
      )
      assert.equal(drun.stdout, 'from berth\n', drun.stderr)
      assert.ok((await readFile(fromBerth)).length > 0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
