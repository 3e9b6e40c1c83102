// Containers outlive berthd: kill -9 the daemon while containers run (foreground, detached,
// interactive), start it again, and check through the stock docker CLI that they are still
// there, still work, and that what happened meanwhile (exits, --rm, restart policies) is
// recorded as Docker would record it.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  apiRequest,
  docker,
  dockerOk,
  dockerBin,
  importBusybox,
  startBerthd,
  type Berthd,
} from './harness.ts'

let d: Berthd
let cfgDir: string

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
  cfgDir = await mkdtemp('/tmp/bt-rcfg-')
})

after(async () => {
  await d?.stop()
  if (cfgDir) await rm(cfgDir, { recursive: true, force: true })
})

const host = (): { host: Berthd } => ({ host: d })
const COUNTER = 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done'

function ok(args: string[], input?: string): Promise<string> {
  return dockerOk(args, { ...host(), ...(input !== undefined ? { input } : {}) })
}

interface State {
  Status: string
  Running: boolean
  Restarting: boolean
  ExitCode: number
  Pid: number
  StartedAt: string
  FinishedAt: string
}

async function inspect(name: string): Promise<{ State: State; RestartCount: number }> {
  const r = await apiRequest(d, 'GET', `/containers/${name}/json`)
  assert.equal(r.status, 200, r.body)
  return JSON.parse(r.body) as { State: State; RestartCount: number }
}

/** Polls until fn returns a value (not undefined); fails after ms. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The numbers the counter printed, checked to be 0..n-1 with none missing. */
function counted(out: string): number {
  const nums = out
    .split('\n')
    .filter((l) => l !== '')
    .map(Number)
  nums.forEach((n, i) => assert.equal(n, i, `line ${i} is ${n}: a log line was lost`))
  return nums.length
}

/** A docker client left running (run attached, logs -f), with its output so far. */
function client(args: string[]): { child: ChildProcess; out: () => string; done: Promise<number> } {
  let out = ''
  const child = spawn(process.env.DOCKER_BIN ?? 'docker', args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      DOCKER_HOST: `unix://${d.socket}`,
      DOCKER_CONFIG: cfgDir,
      DOCKER_CLI_HINTS: 'false',
    },
  })
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()))
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)))
  return { child, out: () => out, done }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: hung`)), ms)),
  ])
}

describe('kill -9 berthd while containers run', () => {
  test('they keep running, stay usable, and what happened meanwhile is recorded', async () => {
    process.env.DOCKER_BIN ??= await dockerBin()
    const fg = client(['run', '--name', 'fg', 'busybox', 'sh', '-c', COUNTER])
    await ok(['run', '-d', '--name', 'det', 'busybox', 'sh', '-c', COUNTER])
    await ok([
      'run',
      '-d',
      '-i',
      '--name',
      'int',
      'busybox',
      'sh',
      '-c',
      'while read l; do echo "got $l"; [ "$l" = quit ] && exit 7; done',
    ])
    await ok(['run', '-d', '--name', 'kk', 'busybox', 'sleep', '1000'])
    // short and gone end once the test, with the daemon down, drops a file in their bind mount:
    // a fixed sleep could end them before the kill on a loaded machine.
    const sig = await mkdtemp('/tmp/bt-rsig-')
    const waitForGo = 'until [ -e /sig/go ]; do sleep 0.05; done'
    await ok([
      'run',
      '-d',
      '-v',
      `${sig}:/sig`,
      '--name',
      'short',
      'busybox',
      'sh',
      '-c',
      `${waitForGo}; exit 3`,
    ])
    await ok([
      'run',
      '-d',
      '--rm',
      '-v',
      `${sig}:/sig`,
      '--name',
      'gone',
      'busybox',
      'sh',
      '-c',
      waitForGo,
    ])
    await until('the foreground counter', async () => (fg.out().includes('\n3\n') ? 1 : undefined))

    const killedAt = Date.now()
    await d.kill9()
    // The attached client sees its stream end and fails; it must not hang.
    const fgCode = await within(fg.done, 10_000, 'docker run attached across the kill')
    assert.notEqual(fgCode, 0, fg.out())
    // short and gone exit while the daemon is down; the counters keep logging.
    await writeFile(join(sig, 'go'), '')
    await new Promise((r) => setTimeout(r, 1500))
    await d.restart()
    const restartedAt = Date.now()

    const ps = await ok(['ps', '--format', '{{.Names}} {{.Status}}'])
    for (const name of ['fg', 'det', 'int', 'kk']) {
      assert.match(ps, new RegExp(`^${name} Up `, 'm'), ps)
    }
    assert.doesNotMatch(ps, /^short /m)

    // Exited while down: the real exit code and finish time.
    const short = await inspect('short')
    assert.equal(short.State.Status, 'exited')
    assert.equal(short.State.ExitCode, 3)
    const finished = Date.parse(short.State.FinishedAt)
    assert.ok(finished > killedAt && finished < restartedAt, short.State.FinishedAt)
    assert.match(
      await ok(['ps', '-a', '--format', '{{.Names}} {{.Status}}']),
      /^short Exited \(3\) /m,
    )

    // --rm and exited while down: gone once the daemon is back.
    await until('gone to be removed', async () => {
      const r = await apiRequest(d, 'GET', '/containers/gone/json')
      return r.status === 404 ? true : undefined
    })

    // No log line lost, and logs -f goes on from where the log is.
    const before = counted(await ok(['logs', 'det']))
    assert.ok(before > 30, `only ${before} lines`)
    const follow = client(['logs', '-f', 'det'])
    await until('logs -f to pass the earlier count', async () => {
      const n = follow.out().split('\n').length - 1
      return n > before + 5 ? n : undefined
    })
    await ok(['stop', '-t', '1', 'det'])
    assert.equal(await within(follow.done, 10_000, 'logs -f after stop'), 0)
    counted(follow.out())
    counted(await ok(['logs', 'fg']))

    // Attach and stdin to the interactive one.
    const att = await docker(['attach', 'int'], { ...host(), input: 'hello\nquit\n' })
    assert.equal(att.stdout, 'got hello\ngot quit\n')
    assert.equal(att.code, 7, att.stderr)

    // kill and rm -f on containers the new daemon did not start.
    await ok(['kill', 'kk'])
    assert.equal((await inspect('kk')).State.ExitCode, 137)
    await ok(['rm', '-f', 'fg'])
    assert.equal((await apiRequest(d, 'GET', '/containers/fg/json')).status, 404)
    assert.match(await d.logs(), /reconcile: container exited while the daemon was down/)

    await ok(['rm', 'det', 'int', 'kk', 'short'])
    await rm(sig, { recursive: true, force: true })
  })
})

describe('restart policies', () => {
  test('always: a container killed from the host comes back', async () => {
    await ok([
      'run',
      '-d',
      '--restart',
      'always',
      '--name',
      'alw',
      'busybox',
      'sh',
      '-c',
      'echo up; sleep 1000',
    ])
    const first = await inspect('alw')
    process.kill(first.State.Pid, 'SIGKILL')
    const again = await until('alw to restart', async () => {
      const s = await inspect('alw')
      return s.RestartCount === 1 && s.State.Status === 'running' && s.State.Pid !== first.State.Pid
        ? s
        : undefined
    })
    assert.equal(again.State.Status, 'running')
    assert.equal(await ok(['logs', 'alw']), 'up\nup\n')
    // docker stop ends the policy until the daemon or the user starts it again.
    await ok(['stop', '-t', '1', 'alw'])
    await new Promise((r) => setTimeout(r, 300))
    assert.equal((await inspect('alw')).State.Status, 'exited')
  })

  test('on-failure:2 retries twice with back-off, then stays down', async () => {
    const t0 = Date.now()
    await ok([
      'run',
      '-d',
      '--restart',
      'on-failure:2',
      '--name',
      'onf',
      'busybox',
      'sh',
      '-c',
      'exit 1',
    ])
    const s = await until('onf to give up', async () => {
      const i = await inspect('onf')
      return i.State.Status === 'exited' && i.RestartCount === 2 ? i : undefined
    })
    assert.equal(s.State.ExitCode, 1)
    // 100 ms, then 200 ms of back-off.
    assert.ok(Date.now() - t0 >= 300, `${Date.now() - t0} ms`)
    const insp = JSON.parse(
      await ok(['inspect', '--format', '{{json .HostConfig.RestartPolicy}}', 'onf']),
    )
    assert.deepEqual(insp, { Name: 'on-failure', MaximumRetryCount: 2 })
  })

  test('a crash-looping container is shown as Restarting, and stop ends it', async () => {
    await ok([
      'run',
      '-d',
      '--restart',
      'always',
      '--name',
      'loop',
      'busybox',
      'sh',
      '-c',
      'exit 2',
    ])
    const line = await until('ps to show Restarting', async () => {
      const out = await ok(['ps', '--format', '{{.Names}} {{.Status}}', '--filter', 'name=loop'])
      return /^loop Restarting \(2\) .* ago$/m.test(out) ? out : undefined
    })
    assert.match(line, /Restarting \(2\)/)
    await ok(['stop', 'loop'])
    const s = await inspect('loop')
    assert.equal(s.State.Status, 'exited')
    assert.equal(s.State.Restarting, false)
  })

  test('unless-stopped stays down after docker stop across a daemon restart; always comes back', async () => {
    await ok([
      'run',
      '-d',
      '--restart',
      'unless-stopped',
      '--name',
      'us',
      'busybox',
      'sleep',
      '1000',
    ])
    await ok(['run', '-d', '--restart', 'always', '--name', 'al2', 'busybox', 'sleep', '1000'])
    await ok([
      'run',
      '-d',
      '--restart',
      'unless-stopped',
      '--name',
      'us-run',
      'busybox',
      'sleep',
      '1000',
    ])
    await ok(['stop', '-t', '0', 'us', 'al2'])
    await d.restart()
    assert.equal((await inspect('us')).State.Status, 'exited')
    await until('al2 to come back on daemon start', async () =>
      (await inspect('al2')).State.Running ? true : undefined,
    )
    assert.equal((await inspect('us-run')).State.Running, true)
  })

  test('a container that died while berthd was down is restarted by its policy', async () => {
    await ok(['run', '-d', '--restart', 'always', '--name', 'phoenix', 'busybox', 'sleep', '1000'])
    const pid = (await inspect('phoenix')).State.Pid
    await d.kill9()
    process.kill(pid, 'SIGKILL')
    await new Promise((r) => setTimeout(r, 300))
    await d.restart()
    const s = await until('phoenix to be running again', async () => {
      const i = await inspect('phoenix')
      return i.State.Running && i.State.Pid !== pid && i.State.Pid > 0 ? i : undefined
    })
    assert.equal(s.State.Status, 'running')
  })

  test('bad policies are refused in Docker words', async () => {
    const r = await docker(['create', '--restart', 'sometimes', 'busybox', 'true'], host())
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /invalid restart policy: unknown policy 'sometimes'/)
    const m = await docker(['create', '--restart', 'always:3', 'busybox', 'true'], host())
    assert.match(m.stderr, /maximum retry count can only be used with 'on-failure'/)
    const rm = await docker(['create', '--rm', '--restart', 'always', 'busybox', 'true'], host())
    assert.notEqual(rm.code, 0)
    assert.match(rm.stderr, /restart/i)
  })
})
