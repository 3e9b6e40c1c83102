// When the runtime or the data root fails under a container: a kill that runc refuses, an exit
// file that cannot be read, a start that fails on a --rm container, a create that fails after
// its name was taken. Each is said (in the answer and in the log), bounded in time, and leaves
// nothing behind that the user did not ask for.
import assert from 'node:assert/strict'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { apiRequest, docker, dockerOk, importBusybox, startBerthd, type Berthd } from './harness.ts'

let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

const host = () => ({ host: d })

function ok(args: string[]): Promise<string> {
  return dockerOk(args, host())
}

interface State {
  Status: string
  Running: boolean
  ExitCode: number
  Error: string
}

async function state(ref: string): Promise<State> {
  const r = await apiRequest(d, 'GET', `/containers/${ref}/json`)
  assert.equal(r.status, 200, r.body)
  return (JSON.parse(r.body) as { State: State }).State
}

/** Makes runc's record of a running container unreadable, so every runc call on it fails. */
async function breakRuncState(id: string): Promise<() => Promise<void>> {
  const path = join(d.dataRoot, 'run', 'runc', id, 'state.json')
  const saved = await readFile(path)
  await writeFile(path, '{ not json')
  return () => writeFile(path, saved)
}

describe('a kill that runc refuses', () => {
  test('stop says why within seconds instead of waiting for ever; the container is left running', async () => {
    const id = (await ok(['run', '-d', '--name', 'stubborn', 'busybox', 'sleep', '1000'])).trim()
    const repair = await breakRuncState(id)
    try {
      const t0 = Date.now()
      const r = await docker(['stop', '-t', '1', 'stubborn'], { ...host(), timeoutMs: 30_000 })
      assert.equal(r.code, 1)
      assert.match(
        r.stderr,
        new RegExp(`cannot stop container: stubborn: Cannot kill container ${id}: runc kill: `),
      )
      assert.ok(Date.now() - t0 < 15_000, `stop took ${Date.now() - t0} ms`)
      assert.equal((await state('stubborn')).Running, true)
      assert.match(await d.logs(), /level=error msg="killing a container failed" id=[0-9a-f]{64}/)
    } finally {
      await repair()
    }
    await ok(['stop', '-t', '1', 'stubborn'])
    assert.equal((await state('stubborn')).Status, 'exited')
    await ok(['rm', 'stubborn'])
  })

  test('rm -f says why within seconds; the container stays, and goes once runc can kill it', async () => {
    const id = (await ok(['run', '-d', '--name', 'stuck', 'busybox', 'sleep', '1000'])).trim()
    const repair = await breakRuncState(id)
    try {
      const t0 = Date.now()
      const r = await docker(['rm', '-f', 'stuck'], { ...host(), timeoutMs: 30_000 })
      assert.equal(r.code, 1)
      assert.match(
        r.stderr,
        new RegExp(`cannot remove container "/stuck": could not kill: Cannot kill container ${id}`),
      )
      assert.ok(Date.now() - t0 < 15_000, `rm -f took ${Date.now() - t0} ms`)
      assert.equal((await state('stuck')).Running, true)
    } finally {
      await repair()
    }
    await ok(['rm', '-f', 'stuck'])
    assert.equal((await apiRequest(d, 'GET', '/containers/stuck/json')).status, 404)
  })
})

describe('an exit file that cannot be read', () => {
  test('is an exit with code 255 and the reason, in inspect and in the log', async () => {
    const id = (
      await ok(['run', '-d', '--name', 'blurred', 'busybox', 'sh', '-c', 'sleep 1'])
    ).trim()
    await d.kill9()
    // conmon records the exit while berthd is down; the record is then damaged.
    const exitFile = join(d.dataRoot, 'run', 'exits', id)
    const deadline = Date.now() + 20_000
    for (;;) {
      const text = await readFile(exitFile, 'utf8').catch(() => undefined)
      if (text !== undefined) break
      assert.ok(Date.now() < deadline, 'the container never exited')
      await new Promise((r) => setTimeout(r, 100))
    }
    await writeFile(exitFile, 'not a number')
    await d.restart()
    const s = await state('blurred')
    assert.equal(s.Status, 'exited')
    assert.equal(s.ExitCode, 255)
    assert.match(s.Error, /exit file .* holds no exit code: "not a number"/)
    assert.match(
      await d.logs(),
      /level=warning msg="reconcile: the exit code of a container is unknown" id=[0-9a-f]{64} error=/,
    )
    await ok(['rm', 'blurred'])
  })
})

describe('run --rm whose start fails', () => {
  test('leaves no container, through the docker CLI', async () => {
    const cases: [string[], number, RegExp][] = [
      [['busybox', '/no/such/command'], 127, /executable file not found|no such file/],
      [['--network', 'container:missing', 'busybox', 'true'], 125, /No such container: missing/],
    ]
    for (const [args, code, message] of cases) {
      const r = await docker(['run', '--rm', ...args], host())
      assert.equal(r.code, code, r.stderr)
      assert.match(r.stderr, message)
      assert.equal(await ok(['ps', '-aq']), '', args.join(' '))
    }
  })

  test('leaves no container when its root filesystem cannot be mounted, through the API', async () => {
    const made = await apiRequest(d, 'POST', '/containers/create', {
      Image: 'busybox',
      Cmd: ['true'],
      HostConfig: { AutoRemove: true },
    })
    assert.equal(made.status, 201, made.body)
    const { Id } = JSON.parse(made.body) as { Id: string }
    // The read-write layer loses its overlay work directory: the mount at start fails.
    await rm(join(d.dataRoot, 'layers', 'rw', Id, 'work'), { recursive: true })
    const started = await apiRequest(d, 'POST', `/containers/${Id}/start`)
    assert.equal(started.status, 500, started.body)
    const gone = await apiRequest(d, 'GET', `/containers/${Id}/json`)
    assert.equal(gone.status, 404, gone.body)
    assert.equal(await ok(['ps', '-aq']), '')
  })

  test('without --rm, the container stays, with the error recorded as Docker records it', async () => {
    const id = (await ok(['create', '--name', 'unmountable', 'busybox', 'true'])).trim()
    await rm(join(d.dataRoot, 'layers', 'rw', id, 'work'), { recursive: true })
    const r = await docker(['start', 'unmountable'], host())
    assert.notEqual(r.code, 0)
    const s = await state('unmountable')
    assert.equal(s.Status, 'created')
    assert.equal(s.ExitCode, 128)
    assert.notEqual(s.Error, '')
    await ok(['rm', 'unmountable'])
  })
})

describe('a create refused after its name was taken', () => {
  test('gives the name back', async () => {
    const bad = await docker(
      ['create', '--name', 'reusable', '--memory', '1k', 'busybox', 'true'],
      host(),
    )
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /Minimum memory limit allowed is 6MB/)
    await ok(['create', '--name', 'reusable', 'busybox', 'true'])
    await ok(['rm', 'reusable'])
  })
})

describe('a dead container', () => {
  test("cannot be started, in Docker's words, and can be removed", async () => {
    const id = (await ok(['create', '--name', 'husk', 'busybox', 'true'])).trim()
    await d.kill9()
    await rm(join(d.dataRoot, 'layers', 'rw', id), { recursive: true })
    await d.restart()
    // Marked dead by the repairs that follow the daemon's start.
    const deadline = Date.now() + 10_000
    while ((await state('husk')).Status !== 'dead') {
      assert.ok(Date.now() < deadline, 'never marked dead')
      await new Promise((r) => setTimeout(r, 50))
    }
    const r = await docker(['start', 'husk'], host())
    assert.equal(r.code, 1)
    assert.match(r.stderr, /container is marked for removal and cannot be started/)
    await ok(['rm', 'husk'])
  })
})
