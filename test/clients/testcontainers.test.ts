// testcontainers (npm) against berthd: a container from a locally built image, started with a
// wait strategy for its port and one for a log line, read from, then stopped; the library runs
// without Ryuk (TESTCONTAINERS_RYUK_DISABLED=true, its documented way: Ryuk's image is on Docker
// Hub), and nothing it made is left behind. The library's calls run in a child process inside
// the engine's network namespace, where its published ports answer. The same test runs against
// Debian's dockerd for comparison.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { docker, importBusybox, repoRoot, startBerthd, startDockerd } from '../e2e/harness.ts'

const exec = promisify(execFile)

interface Engine {
  socket: string
  netns: string
  stop(): Promise<void>
}

async function startEngine(name: 'berthd' | 'dockerd'): Promise<Engine> {
  if (name === 'berthd') {
    const b = await startBerthd()
    return { socket: b.socket, netns: b.netns!, stop: () => b.stop() }
  }
  const dd = await startDockerd({ bridge: true })
  const pid = (await readFile(join(dd.dir, 'p'), 'utf8')).trim()
  return { socket: dd.socket, netns: `/proc/${pid}/ns/net`, stop: () => dd.stop() }
}

// The two engines run side by side (each in namespaces of its own).
describe('testcontainers', { concurrency: 2 }, () => {
  for (const name of ['berthd', 'dockerd'] as const) {
    describe(`against ${name}`, { concurrency: 1 }, () => scenario(name))
  }
})

function scenario(name: 'berthd' | 'dockerd'): void {
  let d: Engine
  let work: string

  before(async () => {
    d = await startEngine(name)
    await importBusybox(d)
    work = await mkdtemp('/tmp/bt-tc-')
  })

  after(async () => {
    await d?.stop()
    if (work) await rm(work, { recursive: true, force: true })
  })

  async function list(args: string[]): Promise<string[]> {
    const r = await docker(args, { host: d })
    assert.equal(r.code, 0, r.stderr)
    return r.stdout
      .trim()
      .split('\n')
      .filter((l) => l !== '')
      .sort()
  }

  test('testcontainers: build, wait for a port and a log line, read, stop; nothing left', async () => {
    const ctx = join(work, 'ctx')
    await mkdir(ctx)
    await writeFile(
      join(ctx, 'Dockerfile'),
      'FROM busybox\nRUN mkdir /www && echo hello from testcontainers > /www/index.html\n' +
        'EXPOSE 80\nCMD ["busybox", "httpd", "-f", "-p", "80", "-h", "/www"]\n',
    )
    const networksBefore = await list(['network', 'ls', '--format', '{{.Name}}'])
    const home = join(work, 'home')
    await mkdir(home)
    const { stdout, stderr } = await exec(
      'nsenter',
      [
        `--net=${d.netns}`,
        '--',
        process.execPath,
        '--import',
        'tsx',
        join(repoRoot, 'test/clients/testcontainers/scenario.ts'),
        ctx,
      ],
      {
        cwd: repoRoot,
        timeout: 240_000,
        env: {
          PATH: process.env.PATH,
          HOME: home,
          TMPDIR: work,
          DOCKER_HOST: `unix://${d.socket}`,
          TESTCONTAINERS_RYUK_DISABLED: 'true',
        },
      },
    )
    const last = stdout.trim().split('\n').at(-1) ?? ''
    assert.ok(last.startsWith('{'), `the scenario printed no result:\n${stdout}\n${stderr}`)
    const seen = JSON.parse(last) as {
      host: string
      body: string
      exec: { exitCode: number; output: string }
      logs: string[]
      names: string[]
      stopped: number[]
    }
    // localhost, or (where the library finds /.dockerenv, as inside a CI container) the gateway
    // of the bridge network, which it looks up through the API.
    const gw = await list([
      'network',
      'inspect',
      '-f',
      '{{(index .IPAM.Config 0).Gateway}}',
      'bridge',
    ])
    assert.ok(['localhost', ...gw].includes(seen.host), seen.host)
    assert.equal(seen.body, 'hello from testcontainers\n')
    assert.deepEqual(seen.exec, { exitCode: 0, output: 'hello from testcontainers\n' })
    assert.deepEqual(seen.logs.slice(0, 2), ['warming up', 'ready to serve'])
    assert.deepEqual(seen.stopped, [64, 64])

    // Stopping removed the containers (the library's default), and it made nothing else.
    assert.deepEqual(await list(['ps', '-aq']), [])
    assert.deepEqual(await list(['volume', 'ls', '-q']), [])
    assert.deepEqual(await list(['network', 'ls', '--format', '{{.Name}}']), networksBefore)
    // What stays is the image the test asked the library to build and keep.
    assert.deepEqual(await list(['images', '--format', '{{.Repository}}:{{.Tag}}']), [
      'bt-tc-web:1',
      'busybox:latest',
    ])
    // Its file lock (proper-lockfile: a FILE.lock directory beside FILE, in TMPDIR) is released.
    const files = await readdir(work)
    assert.ok(files.includes('testcontainers-node-0.lock'), files.join(' '))
    assert.deepEqual(
      files.filter((f) => f.endsWith('.lock.lock')),
      [],
    )
  })
}
