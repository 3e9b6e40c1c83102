// The berth command as a user meets it (dist/berth.cjs against a real berthd), beside the
// stock docker CLI on the same daemon where docker's output is the reference.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  apiRequest,
  berth,
  docker,
  importBusybox,
  startBerthd,
  type Berthd,
} from '../../test/e2e/harness.ts'

let d: Berthd
const b = (args: string[], input?: string) => berth(args, { host: d, input })

describe('the berth command', () => {
  before(async () => {
    d = await startBerthd()
    await importBusybox(d)
  })
  after(async () => {
    await d?.stop()
  })

  test('berth --help lists commands in docker groups, with docker commands berth lacks', async () => {
    const r = await b(['--help'])
    assert.equal(r.code, 0)
    const heads = r.stdout.split('\n').filter((l) => /^[A-Z][A-Za-z ]+:$/.test(l))
    assert.deepEqual(heads, [
      'Common Commands:',
      'Management Commands:',
      'Commands:',
      'Global Options:',
    ])
    const section = (h: string) =>
      r.stdout
        .slice(r.stdout.indexOf(`\n${h}:\n`) + 1)
        .split('\n\n')[0]!
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/)[0])
    // docker's own order for the common ones
    assert.deepEqual(section('Common Commands'), [
      'run',
      'exec',
      'ps',
      'build',
      'pull',
      'push',
      'images',
      'login',
      'logout',
      'search',
      'version',
      'info',
    ])
    assert.deepEqual(section('Management Commands'), [
      'builder',
      'container',
      'image',
      'network',
      'system',
      'volume',
    ])
    assert.ok(section('Commands').includes('port'))
    assert.ok(!section('Commands').includes('swarm'))
  })

  test('a command berth does not have yet says what to use meanwhile, and exits 1', async () => {
    for (const [args, hint] of [
      [['compose', 'up'], 'DOCKER_HOST=unix:///run/berth/berth.sock'],
      [['swarm', 'init'], 'swarm mode is not supported'],
    ] as Array<[string[], string]>) {
      const r = await b(args)
      assert.equal(r.code, 1, args.join(' '))
      assert.equal(r.stdout, '')
      assert.match(r.stderr, /^berth: /, args.join(' '))
      assert.ok(r.stderr.includes(hint), `${args.join(' ')}: ${r.stderr}`)
    }
  })

  test('attach -it, as the tutorial writes it, attaches without a word about -i and -t', async () => {
    // The container says "done" only once the test, having seen berth attach (the attach
    // event), drops a file in its bind mount: a fixed sleep could end it before a slow attach.
    const sig = await mkdtemp('/tmp/bt-att-')
    const since = Math.floor(Date.now() / 1000) - 1
    const run = await b([
      'run',
      '-d',
      '-v',
      `${sig}:/sig`,
      '--name',
      'att',
      'busybox',
      'sh',
      '-c',
      'until [ -e /sig/go ]; do sleep 0.05; done; echo done',
    ])
    assert.equal(run.code, 0, run.stderr)
    const attached = b(['attach', '-it', 'att'])
    const filters = encodeURIComponent(JSON.stringify({ event: ['attach'], container: ['att'] }))
    for (;;) {
      const until = Math.floor(Date.now() / 1000) + 1
      const ev = await apiRequest(
        d,
        'GET',
        `/events?since=${since}&until=${until}&filters=${filters}`,
      )
      if (ev.body.trim() !== '') break
    }
    await writeFile(join(sig, 'go'), '')
    const r = await attached
    await rm(sig, { recursive: true, force: true })
    assert.deepEqual(
      { code: r.code, stdout: r.stdout, stderr: r.stderr },
      {
        code: 0,
        stdout: 'done\n',
        stderr: '',
      },
    )
    // docker itself refuses the line; berth accepts it on purpose
    const dr = await docker(['attach', '-it', 'att'], { host: d })
    assert.match(dr.stderr, /unknown shorthand flag: 'i' in -it/)
  })

  test('version says Node version, and fills the fields docker fills', async () => {
    const r = await b(['version'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stdout,
      /^Client:\n Version: +0\.1\.0\n API version: +1\.45\n Node version: +v\d+\.\d+\.\d+\n Git commit: +\S+\n Built: +\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n OS\/Arch: +linux\/\w+\n Context: +default\n\nServer: berth\n Engine:\n/,
    )
    assert.match(r.stdout, /\n {2}Node version: +v\d+\.\d+\.\d+\n/)
    assert.doesNotMatch(r.stdout, /Go version/)
  })

  test('info prints what docker info prints, Security Options included', async () => {
    const [br, dr] = await Promise.all([b(['info']), docker(['info'], { host: d })])
    assert.equal(br.code, 0, br.stderr)
    assert.match(br.stdout, /\n Security Options:\n {2}seccomp\n {3}Profile: builtin\n/)
    const server = (s: string) => s.slice(s.indexOf('\nServer:'))
    assert.equal(server(br.stdout), server(dr.stdout))
  })

  test('inspect has the fields docker always has: the IPAddress, the overlay dirs', async () => {
    const run = await b(['run', '-d', '--name', 'insp', 'busybox', 'sleep', '1000'])
    assert.equal(run.code, 0, run.stderr)
    // On the default bridge (berth0, 10.66.0.0/16), as docker's on docker0.
    const ip = await b(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'insp'])
    assert.equal(ip.code, 0, ip.stderr)
    assert.match(ip.stdout, /^10\.66\.\d+\.\d+\n$/)
    const g = await b(['inspect', '-f', '{{json .GraphDriver.Data}}', 'insp'])
    const data = JSON.parse(g.stdout) as Record<string, string>
    assert.deepEqual(Object.keys(data).sort(), ['LowerDir', 'MergedDir', 'UpperDir', 'WorkDir'])
    for (const dir of [...data.LowerDir!.split(':'), data.UpperDir!, data.WorkDir!]) {
      assert.ok((await stat(dir)).isDirectory(), dir)
    }
    const [dg] = await Promise.all([
      docker(['inspect', '-f', '{{.GraphDriver.Name}} {{.GraphDriver.Data.UpperDir}}', 'insp'], {
        host: d,
      }),
    ])
    assert.equal(dg.stdout, `overlay2 ${data.UpperDir}\n`)
  })

  test("usage errors in docker's words (commit takes one or two arguments)", async () => {
    for (const args of [['commit'], ['commit', 'a', 'b', 'c'], ['rename', 'a']]) {
      const [br, dr] = await Promise.all([b(args), docker(args, { host: d })])
      assert.equal(br.code, dr.code, args.join(' '))
      assert.equal(br.stderr, dr.stderr.replaceAll('docker', 'berth'), args.join(' '))
    }
  })
})
