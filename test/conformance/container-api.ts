// The ContainerApi conformance suite: the container lifecycle as the API sees it (create, start,
// wait, attach, logs, kill, stop, remove, list, get, sizes, networkSettings), its events, and
// Docker's errors in Docker's words, for every implementation: the ContainerService berthd runs
// (runc, conmon, a temp data root) and the fake the API tests use. container-api.test.ts runs it
// on each. The containers run busybox commands only (see container/fake-process.ts).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { ContainerApi, CreateRequest } from '../../src/engine/container/types.ts'
import { Conflict, InvalidArgument, NotFound, NotModified } from '../../src/engine/errors.ts'
import type { EngineEvent } from '../../src/engine/events/types.ts'
import type { OutputChunk } from '../../src/engine/runtime/types.ts'
import { IMAGE, type ContainerEngine } from './engines.ts'

const ZERO_TIME = '0001-01-01T00:00:00Z'
const LOG_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d)$/

type ErrorClass = new (...a: never[]) => Error

/** The call must answer with a rejected promise (never throw at once) of `cls`, in `message`. */
export async function refused(
  call: () => Promise<unknown>,
  cls: ErrorClass,
  message: string | RegExp,
): Promise<void> {
  let p: Promise<unknown>
  try {
    p = call()
  } catch (err) {
    assert.fail(`threw at once instead of answering a rejected promise: ${String(err)}`)
  }
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `${String(err)} is a ${cls.name}`)
    if (typeof message === 'string') assert.equal(err.message, message)
    else assert.match(err.message, message)
    return true
  })
}

/** Everything the output carries, by stream, once it ends. */
export async function drain(output: AsyncIterable<OutputChunk>): Promise<Record<string, string>> {
  const got: Record<string, string> = { stdout: '', stderr: '' }
  for await (const c of output) got[c.stream] += c.data.toString('latin1')
  return got
}

/** The actions of one container's events (kill with its signal, die with its exit code). */
export function actions(events: EngineEvent[], id: string): string[] {
  return events
    .filter((e) => e.Type === 'container' && e.Actor.ID === id)
    .map((e) => {
      const a = e.Actor.Attributes
      if (e.Action === 'kill') return `kill ${a.signal}`
      if (e.Action === 'die') return `die ${a.exitCode}`
      return e.Action
    })
}

let seq = 0
/** A name no other test uses. */
export function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${++seq}`
}

export function containerApiSuite(name: string, make: () => Promise<ContainerEngine>): void {
  describe(`ContainerApi conformance: ${name}`, () => {
    let eng: ContainerEngine
    let api: ContainerApi
    before(async () => {
      eng = await make()
      api = eng.containers
    })
    after(() => eng.close())

    const create = async (req: Partial<CreateRequest>, n?: string): Promise<string> =>
      (await api.create({ Image: IMAGE, ...req }, n)).Id
    const sleeper = async (): Promise<string> => {
      const id = await create({ Cmd: ['sleep', '300'] })
      await api.start(id)
      return id
    }

    test('create answers an ID; the container is found by ID, prefix, name and /name', async () => {
      const n = unique('conf-create')
      const r = await api.create({ Image: IMAGE, Cmd: ['sh', '-c', 'exit 0'] }, n)
      assert.match(r.Id, /^[0-9a-f]{64}$/)
      assert.deepEqual(r.Warnings, [])
      for (const ref of [r.Id, r.Id.slice(0, 12), n, `/${n}`]) {
        assert.equal((await api.get(ref)).id, r.Id, ref)
      }
      const c = await api.get(r.Id)
      assert.equal(c.name, n)
      assert.equal(c.path, 'sh')
      assert.deepEqual(c.args, ['-c', 'exit 0'])
      assert.equal(c.image, eng.image.id)
      assert.equal(c.imageRef, IMAGE)
      assert.equal(c.config.Image, IMAGE)
      assert.equal(c.config.Hostname, r.Id.slice(0, 12))
      assert.equal(c.hostConfig.NetworkMode, 'default')
      assert.deepEqual(c.state, {
        Status: 'created',
        Running: false,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: 0,
        ExitCode: 0,
        Error: '',
        StartedAt: ZERO_TIME,
        FinishedAt: ZERO_TIME,
      })
      assert.ok((await api.list()).some((x) => x.id === r.Id))
      assert.deepEqual(actions(eng.events(), r.Id), ['create'])
      // Without a name, Docker's adjective_scientist.
      const unnamed = await api.get(await create({ Cmd: ['true'] }))
      assert.match(unnamed.name, /^[a-z]+_[a-z]+\d?$/)
    })

    test("create refuses in Docker's words, and a refused create leaves nothing", async () => {
      const before = (await api.list()).length
      const n = unique('conf-refused')
      await refused(
        () => api.create({ Image: 'no-such-image:1' }, n),
        NotFound,
        'No such image: no-such-image:1',
      )
      await refused(
        () => api.create({ Image: '' }, n),
        InvalidArgument,
        'Config cannot be empty in order to create a container',
      )
      await refused(
        () => api.create({ Image: IMAGE }, 'bad name!'),
        InvalidArgument,
        'Invalid container name (bad name!), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed',
      )
      await refused(
        () => api.create({ Image: IMAGE, WorkingDir: 'rel' }, n),
        InvalidArgument,
        "the working directory 'rel' is invalid, it needs to be an absolute path",
      )
      await refused(
        () => api.create({ Image: IMAGE, HostConfig: { RestartPolicy: { Name: 'sometimes' } } }, n),
        InvalidArgument,
        /^invalid restart policy/,
      )
      assert.equal((await api.list()).length, before)
      // The name was never taken; once it is, it is refused.
      const id = await create({ Cmd: ['true'] }, n)
      await refused(
        () => api.create({ Image: IMAGE }, n),
        Conflict,
        `Conflict. The container name "/${n}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`,
      )
    })

    test("a container that is not there is NotFound in Docker's words, everywhere", async () => {
      const gone = 'no-such-container'
      const words = `No such container: ${gone}`
      await refused(() => api.get(gone), NotFound, words)
      await refused(() => api.start(gone), NotFound, words)
      await refused(() => api.wait(gone, 'not-running'), NotFound, words)
      await refused(() => api.attach(gone), NotFound, words)
      await refused(() => api.logs(gone, { follow: false }), NotFound, words)
      await refused(() => api.kill(gone), NotFound, words)
      await refused(() => api.stop(gone), NotFound, words)
      await refused(() => api.remove(gone, { force: true, volumes: false }), NotFound, words)
      await refused(() => api.sizes(gone), NotFound, words)
      await refused(() => api.networkSettings(gone), NotFound, words)
    })

    test('start runs the process; a second start is NotModified; kill waits for the exit', async () => {
      const id = await sleeper()
      const c = await api.get(id)
      assert.equal(c.state.Status, 'running')
      assert.equal(c.state.Running, true)
      assert.ok(c.state.Pid > 0)
      assert.notEqual(c.state.StartedAt, ZERO_TIME)
      assert.equal(c.state.FinishedAt, ZERO_TIME)
      await refused(() => api.start(id), NotModified, 'container already started')
      await api.kill(id)
      // kill (SIGKILL) answers once the container is down, so its exit is there to see.
      const s = (await api.get(id)).state
      assert.deepEqual([s.Status, s.Running, s.Pid, s.ExitCode], ['exited', false, 0, 137])
      assert.notEqual(s.FinishedAt, ZERO_TIME)
      assert.deepEqual(actions(eng.events(), id), ['create', 'start', 'kill 9', 'die 137'])
      // A stopped container starts again.
      await api.start(id)
      assert.equal((await api.get(id)).state.Running, true)
      await api.kill(id)
    })

    test('wait: the next exit with its code; at once when not running; aborted', async () => {
      const id = await create({ Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'] })
      assert.deepEqual(await api.wait(id, 'not-running'), { StatusCode: 0, Error: null })
      const exit = api.wait(id, 'next-exit')
      await api.start(id)
      assert.deepEqual(await exit, { StatusCode: 3, Error: null })
      const s = (await api.get(id)).state
      assert.deepEqual([s.Status, s.Running, s.ExitCode, s.Error], ['exited', false, 3, ''])
      assert.deepEqual(await api.wait(id, 'not-running'), { StatusCode: 3, Error: null })
      assert.deepEqual(actions(eng.events(), id), ['create', 'start', 'die 3'])
      const ac = new AbortController()
      const aborted = api.wait(id, 'next-exit', ac.signal)
      ac.abort()
      await assert.rejects(aborted, { name: 'AbortError' })
    })

    test("a command the image lacks fails the start in the runtime's words, exit 127", async () => {
      const id = await create({ Cmd: ['no-such-command'] })
      const exit = api.wait(id, 'next-exit')
      await refused(
        () => api.start(id),
        InvalidArgument,
        /exec: "no-such-command": executable file not found in \$PATH/,
      )
      assert.deepEqual(await exit, { StatusCode: 127, Error: null })
      const s = (await api.get(id)).state
      assert.equal(s.Status, 'created')
      assert.equal(s.ExitCode, 127)
      assert.match(s.Error, /executable file not found in \$PATH/)
      assert.deepEqual(actions(eng.events(), id), ['create'])
    })

    test('attach before start sees all the output, by stream, and ends at the exit', async () => {
      const id = await create({ Cmd: ['sh', '-c', 'echo out; echo err >&2; no-such; exit 3'] })
      const session = await api.attach(id)
      await api.start(id)
      assert.deepEqual(await drain(session.output), {
        stdout: 'out\n',
        stderr: 'err\nsh: no-such: not found\n',
      })
      assert.deepEqual(await api.wait(id, 'not-running'), { StatusCode: 3, Error: null })
      assert.deepEqual(actions(eng.events(), id), ['create', 'attach', 'start', 'die 3'])
    })

    test("stdin reaches the process, and its end is the process's EOF", async () => {
      const id = await create({
        Cmd: ['cat'],
        OpenStdin: true,
        StdinOnce: true,
        AttachStdin: true,
        AttachStdout: true,
      })
      const session = await api.attach(id)
      await api.start(id)
      await session.writeStdin(Buffer.from('hello\n'))
      session.closeStdin()
      assert.deepEqual(await drain(session.output), { stdout: 'hello\n', stderr: '' })
      assert.deepEqual(await api.wait(id, 'not-running'), { StatusCode: 0, Error: null })
    })

    test('with a TTY the output is one stream, lines ending \\r\\n', async () => {
      const id = await create({ Cmd: ['sh', '-c', 'echo x; echo y >&2'], Tty: true })
      const session = await api.attach(id)
      await api.start(id)
      assert.deepEqual(await drain(session.output), { stdout: 'x\r\ny\r\n', stderr: '' })
    })

    test('logs: every line with its stream and time; tail, since and until', async () => {
      const id = await create({ Cmd: ['sh', '-c', 'echo one; echo two >&2; echo three'] })
      const exit = api.wait(id, 'next-exit')
      await api.start(id)
      await exit
      const read = async (opts: { tail?: number; since?: number; until?: number } = {}) => {
        const out: { stream: string; time: string; data: string }[] = []
        for await (const e of await api.logs(id, { follow: false, ...opts })) {
          out.push({ stream: e.stream, time: e.time, data: e.data.toString() })
        }
        return out
      }
      const all = await read()
      assert.deepEqual(
        all.filter((e) => e.stream === 'stdout').map((e) => e.data),
        ['one\n', 'three\n'],
      )
      assert.deepEqual(
        all.filter((e) => e.stream === 'stderr').map((e) => e.data),
        ['two\n'],
      )
      for (const e of all) assert.match(e.time, LOG_TIME)
      assert.deepEqual(
        (await read({ tail: 1 })).map((e) => e.data),
        [all.at(-1)?.data],
      )
      const now = Date.now() / 1000
      assert.deepEqual(await read({ since: now + 3600 }), [])
      assert.deepEqual(await read({ until: now - 3600 }), [])
      assert.equal((await read({ since: now - 3600, until: now + 3600 })).length, 3)
    })

    test('logs follow a running container to its exit', async () => {
      const id = await create({ Cmd: ['sh', '-c', 'echo a; sleep 1; echo b'] })
      await api.start(id)
      const lines: string[] = []
      for await (const e of await api.logs(id, { follow: true })) lines.push(e.data.toString())
      assert.deepEqual(lines, ['a\n', 'b\n'])
      assert.equal((await api.get(id)).state.Status, 'exited')
    })

    test("kill: Docker's words for a stopped container and a bad signal", async () => {
      const id = await create({ Cmd: ['true'] })
      await refused(
        () => api.kill(id),
        Conflict,
        `Cannot kill container: ${id}: Container ${id} is not running`,
      )
      await refused(() => api.kill(id, 'FOO'), InvalidArgument, 'Invalid signal: FOO')
      await refused(
        () => api.kill('no-such-container', 'FOO'),
        InvalidArgument,
        'Invalid signal: FOO',
      )
    })

    test('stop: the stop signal, then SIGKILL after the timeout (PID 1 ignores TERM)', async () => {
      const id = await sleeper()
      // The process is PID 1 with no handler: the kernel drops TERM, so stop has to kill it.
      await api.kill(id, 'TERM')
      assert.equal((await api.get(id)).state.Running, true)
      await api.stop(id, 1)
      assert.equal((await api.get(id)).state.ExitCode, 137)
      assert.deepEqual(actions(eng.events(), id), [
        'create',
        'start',
        'kill 15',
        'kill 15',
        'kill 9',
        'die 137',
        'stop',
      ])
      await refused(() => api.stop(id, 1), NotModified, 'container already stopped')
      await api.start(id)
      await api.stop(id, 10, 'KILL')
      assert.equal((await api.get(id)).state.ExitCode, 137)
    })

    test('remove: refused while running unless forced; then gone, its name free', async () => {
      const n = unique('conf-rm')
      const id = await create({ Cmd: ['sleep', '300'] }, n)
      await api.start(id)
      const removed = api.wait(id, 'removed')
      await refused(
        () => api.remove(id, { force: false, volumes: false }),
        Conflict,
        `cannot remove container "/${n}": container is running: stop the container before removing or force remove`,
      )
      await api.remove(id, { force: true, volumes: false })
      assert.deepEqual(await removed, { StatusCode: 137, Error: null })
      await refused(() => api.get(id), NotFound, `No such container: ${id}`)
      assert.ok(!(await api.list()).some((c) => c.id === id))
      assert.deepEqual(actions(eng.events(), id), [
        'create',
        'start',
        'kill 9',
        'die 137',
        'destroy',
      ])
      assert.match(await create({ Cmd: ['true'] }, n), /^[0-9a-f]{64}$/)
    })

    test('AutoRemove: the container goes after its exit, and after a failed start', async () => {
      const id = await create({ Cmd: ['sh', '-c', 'exit 2'], HostConfig: { AutoRemove: true } })
      const removed = api.wait(id, 'removed')
      await api.start(id)
      assert.deepEqual(await removed, { StatusCode: 2, Error: null })
      await refused(() => api.get(id), NotFound, `No such container: ${id}`)
      assert.deepEqual(actions(eng.events(), id), ['create', 'start', 'die 2', 'destroy'])
      const bad = await create({ Cmd: ['no-such-command'], HostConfig: { AutoRemove: true } })
      await refused(() => api.start(bad), InvalidArgument, /executable file not found/)
      await refused(() => api.get(bad), NotFound, `No such container: ${bad}`)
    })

    test('list holds every container, running or not', async () => {
      const created = await create({ Cmd: ['true'] })
      const running = await sleeper()
      const all = (await api.list()).map((c) => c.id)
      assert.ok(all.includes(created) && all.includes(running))
      await api.remove(running, { force: true, volumes: false })
      assert.ok(!(await api.list()).some((c) => c.id === running))
    })

    test("sizes: nothing written yet, on top of the image's size", async () => {
      const id = await create({ Cmd: ['true'] })
      assert.deepEqual(await api.sizes(id), { rw: 0, rootfs: eng.image.size })
    })

    test("networkSettings: Docker's NetworkSettings, for any container", async () => {
      const id = await create({ Cmd: ['true'], HostConfig: { NetworkMode: 'none' } })
      const s = await api.networkSettings(id)
      assert.deepEqual(Object.keys(s).sort(), [
        'Bridge',
        'EndpointID',
        'Gateway',
        'GlobalIPv6Address',
        'GlobalIPv6PrefixLen',
        'HairpinMode',
        'IPAddress',
        'IPPrefixLen',
        'IPv6Gateway',
        'LinkLocalIPv6Address',
        'LinkLocalIPv6PrefixLen',
        'MacAddress',
        'Networks',
        'Ports',
        'SandboxID',
        'SandboxKey',
        'SecondaryIPAddresses',
        'SecondaryIPv6Addresses',
      ])
      assert.equal(s.IPAddress, '')
      assert.equal(typeof s.Networks, 'object')
      assert.equal(typeof s.Ports, 'object')
    })
  })
}
