import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile, access } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fakeEngine, request, type FakeEngine } from '../api/testing.ts'
import { daemonMain, runDaemon, type MainIO } from './run.ts'
import { nullLogger } from './log.ts'
import type { DaemonConfig } from './config.ts'

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'berthd-'))
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  )

test('runDaemon: socket 0660 root:root, ping answers, stop cleans up', async () => {
  const dir = await tempDir()
  try {
    const config: DaemonConfig = {
      socketPath: join(dir, 'run', 'berth.sock'),
      dataRoot: join(dir, 'root'),
      logLevel: 'info',
    }
    // A stale socket file from a killed daemon is replaced.
    await runDaemon(config, async () => fakeEngine(), { logger: nullLogger }).then((d) => d.stop())
    await writeFile(config.socketPath, 'stale')
    let engine: FakeEngine | undefined
    const lines: string[] = []
    const d = await runDaemon(config, async ({ dataRoot }) => (engine = fakeEngine([], dataRoot)), {
      logger: { ...nullLogger, info: (m) => void lines.push(m) },
    })
    const st = await stat(config.socketPath)
    assert.ok(st.isSocket())
    assert.equal(st.mode & 0o777, 0o660)
    assert.equal(st.uid, 0)
    assert.equal(st.gid, 0)
    assert.ok(lines.includes(`API listen on ${config.socketPath}`))
    const r = await request(config.socketPath, 'GET', '/_ping')
    assert.equal(r.text, 'OK')
    assert.equal(engine!.dataRoot, config.dataRoot)
    await d.stop()
    assert.equal(engine!.closed, true)
    assert.equal(await exists(config.socketPath), false)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('--group names the socket group; an unknown group is refused', async () => {
  const dir = await tempDir()
  try {
    const config: DaemonConfig = {
      socketPath: join(dir, 's.sock'),
      dataRoot: join(dir, 'root'),
      logLevel: 'info',
      group: 'daemon',
    }
    const d = await runDaemon(config, async () => fakeEngine(), { logger: nullLogger })
    assert.equal((await stat(config.socketPath)).gid, 1)
    await d.stop()
    await assert.rejects(
      runDaemon({ ...config, group: 'no-such-group-x' }, async () => fakeEngine(), {
        logger: nullLogger,
      }),
      { message: 'group no-such-group-x not found' },
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('daemonMain: bad flags exit 1 with a message', async () => {
  const out: string[] = []
  const codes: number[] = []
  const io: MainIO = {
    stdout: (s) => void out.push(s),
    stderr: (s) => void out.push(s),
    exit: (c) => void codes.push(c),
  }
  await daemonMain(['--x'], async () => fakeEngine(), io)
  assert.deepEqual(codes, [1])
  assert.equal(out.join(''), "berthd: unknown flag: --x\nSee 'berthd --help'.\n")
  out.length = 0
  await daemonMain(['--version'], async () => fakeEngine(), io)
  assert.deepEqual(codes, [1, 0])
  assert.match(out.join(''), /^berthd version \S+, API 1\.45\n$/)
})

const FAKE = new URL('./testdata/fake-berthd.ts', import.meta.url).pathname

function startChild(args: string[]): {
  child: ChildProcess
  stderr: () => string
  exited: Promise<number | null>
} {
  const child = spawn(process.execPath, ['--import', 'tsx', FAKE, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, stderr: () => err, exited }
}

async function waitFor(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

test('as a process: a second daemon is refused, SIGTERM cleans up', async () => {
  const dir = await tempDir()
  const sock = join(dir, 'b.sock')
  const args = ['--host', `unix://${sock}`, '--data-root', join(dir, 'root')]
  const first = startChild(args)
  try {
    await waitFor(() => first.stderr().includes('API listen on'), 'the first daemon')
    assert.match(first.stderr(), new RegExp(`level=info msg="API listen on ${sock}"`))

    const second = startChild(args)
    const code = await second.exited
    assert.equal(code, 1)
    assert.equal(
      second.stderr(),
      `berthd: data root ${join(dir, 'root')} is in use by another berthd (pid ${first.child.pid})\n`,
    )
    // The refused daemon left the first one's socket alone.
    assert.equal((await request(sock, 'GET', '/_ping')).text, 'OK')

    first.child.kill('SIGTERM')
    assert.equal(await first.exited, 0)
    assert.equal(await exists(sock), false)
  } finally {
    first.child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
})
