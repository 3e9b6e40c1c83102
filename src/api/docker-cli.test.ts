// The stock docker CLI (the first real client berthd must satisfy) against the
// API server with a fake engine: exit codes and output must be Docker's.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { fakeEngine, fakeImage, startTestServer, type TestServer } from './testing.ts'

const DOCKER = '/usr/local/bin/docker'
let srv: TestServer

const base = fakeImage({
  name: 'base',
  tags: ['busybox:latest', 'example.com/a/b:1'],
  created: '2024-05-01T10:00:00Z',
})
const dangling = fakeImage({ name: 'dangling', created: '2024-04-01T00:00:00Z' })

before(async () => {
  // Fails loudly, never skips, when the host lacks the CLI.
  await access(DOCKER)
  srv = await startTestServer(fakeEngine([base, dangling]))
})
after(async () => {
  await srv.close()
})

function docker(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      DOCKER,
      args,
      {
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          HOME: srv.dir,
          DOCKER_HOST: `unix://${srv.socketPath}`,
          DOCKER_CONFIG: join(srv.dir, 'docker-config'),
        },
        timeout: 20_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

test('docker version negotiates 1.45', async () => {
  const r = await docker('version')
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /API version:\s+1\.45 \(downgraded from 1\.\d+\)/)
  assert.match(r.stdout, /API version:\s+1\.45 \(minimum version 1\.24\)/)
  assert.equal(r.stderr, '')
  const f = await docker('version', '--format', '{{.Server.APIVersion}} {{.Server.Os}}')
  assert.equal(f.stdout, '1.45 linux\n')
})

test('docker info prints without errors', async () => {
  const r = await docker('info')
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
  assert.match(
    r.stdout,
    /Containers: 3\n\s+Running: 1\n\s+Paused: 0\n\s+Stopped: 2\n\s+Images: 2\n/,
  )
  assert.match(r.stdout, /Storage Driver: overlay2/)
  assert.match(r.stdout, /Cgroup Driver: cgroupfs/)
  assert.doesNotMatch(r.stdout, /ERROR|WARNING/)
})

test('docker images, image inspect, history', async () => {
  const r = await docker('images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}')
  assert.equal(r.code, 0, r.stderr)
  const short = (id: string): string => id.slice(7, 19)
  // The CLI walks a Go map per image, so its lines come in no fixed order.
  assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), [
    `<none>:<none> ${short(dangling.id)} 4.26MB`,
    `busybox:latest ${short(base.id)} 4.26MB`,
    `example.com/a/b:1 ${short(base.id)} 4.26MB`,
  ])
  const dang = await docker('images', '-q', '--filter', 'dangling=true')
  assert.equal(dang.stdout, `${short(dangling.id)}\n`)
  const ins = await docker(
    'image',
    'inspect',
    '--format',
    '{{.Id}} {{.Os}}/{{.Architecture}} {{.Config.Cmd}}',
    'busybox',
  )
  assert.equal(ins.code, 0, ins.stderr)
  assert.equal(ins.stdout, `${base.id} linux/amd64 [sh]\n`)
  const nf = await docker('image', 'inspect', 'nope')
  assert.equal(nf.code, 1)
  assert.match(nf.stderr, /No such image: nope/)
  const h = await docker('history', '--format', '{{.ID}} {{.CreatedBy}}', 'busybox')
  assert.equal(h.code, 0, h.stderr)
  assert.equal(h.stdout, `${short(base.id)} step 0\n`)
})

test('docker tag and docker rmi', async () => {
  const t = await docker('tag', 'busybox', 'foo:bar')
  assert.equal(t.code, 0, t.stderr)
  const l = await docker('images', '--format', '{{.Repository}}:{{.Tag}}', 'foo')
  assert.equal(l.stdout, 'foo:bar\n')
  const rm = await docker('rmi', 'foo:bar')
  assert.equal(rm.code, 0, rm.stderr)
  assert.equal(rm.stdout, 'Untagged: foo:bar\n')
  const nf = await docker('rmi', 'nope')
  assert.equal(nf.code, 1)
  assert.equal(nf.stderr, 'Error response from daemon: No such image: nope\n')
  const bad = await docker('tag', 'nope', 'x:y')
  assert.equal(bad.code, 1)
  assert.equal(bad.stderr, 'Error response from daemon: No such image: nope\n')
})
