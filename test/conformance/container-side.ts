// The rest of the container side held to one behaviour: exec (ExecApi), pause, restart, rename,
// top, stats, update and prune (LifecycleApi), and cp, diff, export and commit
// (ContainerFilesApi), on the engine berthd runs and on the fakes of src/api/testing.ts.
// container-side.test.ts runs it on each; container-api.ts holds the lifecycle itself.
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import tar from 'tar-stream'
import { Conflict, InvalidArgument, NotFound } from '../../src/engine/errors.ts'
import { actions, drain, refused, unique } from './container-api.ts'
import { IMAGE, type ContainerEngine } from './engines.ts'

/** The entries of a tar stream: name -> content (directories as ''). */
async function entries(stream: Readable): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const ex = tar.extract()
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = []
      for await (const c of e as AsyncIterable<Buffer>) chunks.push(c)
      out.set(e.header.name, Buffer.concat(chunks).toString())
    }
  })()
  stream.pipe(ex)
  await done
  return out
}

/** A tar of one file. */
async function tarOf(name: string, content: string): Promise<Readable> {
  const pack = tar.pack()
  pack.entry({ name, mode: 0o644 }, content)
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const c of pack) chunks.push(c as Buffer)
  return Readable.from([Buffer.concat(chunks)])
}

export function containerSideSuite(name: string, make: () => Promise<ContainerEngine>): void {
  describe(`exec, lifecycle and files conformance: ${name}`, () => {
    let eng: ContainerEngine
    before(async () => {
      eng = await make()
    })
    after(() => eng.close())

    const sleeper = async (n?: string): Promise<string> => {
      const { Id } = await eng.containers.create({ Image: IMAGE, Cmd: ['sleep', '300'] }, n)
      await eng.containers.start(Id)
      return Id
    }

    test('exec: output by stream, the exit code, inspect before and after', async () => {
      const id = await sleeper()
      const { Id } = await eng.execs.createExec(id, {
        Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 4'],
        AttachStdout: true,
        AttachStderr: true,
      })
      const before = await eng.execs.inspectExec(Id)
      assert.deepEqual([before.Running, before.ExitCode], [false, null])
      assert.equal(before.ProcessConfig.entrypoint, 'sh')
      const session = await eng.execs.startExec(Id, { detach: false })
      assert.ok(session)
      assert.deepEqual(await drain(session.output), { stdout: 'out\n', stderr: 'err\n' })
      assert.equal(await session.exited, 4)
      const afterward = await eng.execs.inspectExec(Id)
      assert.deepEqual([afterward.Running, afterward.ExitCode], [false, 4])
      await refused(
        () => eng.execs.startExec(Id, { detach: false }),
        Conflict,
        `exec command ${Id} has already run`,
      )
      await eng.containers.remove(id, { force: true, volumes: false })
    })

    test("exec: Docker's words for no command, a stopped container, no such exec", async () => {
      const { Id: id } = await eng.containers.create({ Image: IMAGE, Cmd: ['true'] }, undefined)
      await refused(
        () => eng.execs.createExec(id, { Cmd: [] }),
        InvalidArgument,
        'No exec command specified',
      )
      await refused(
        () => eng.execs.createExec(id, { Cmd: ['true'] }),
        Conflict,
        `container ${id} is not running`,
      )
      await refused(() => eng.execs.inspectExec('nope'), NotFound, 'No such exec instance: nope')
      await refused(
        () => eng.execs.createExec('no-such-container', { Cmd: ['true'] }),
        NotFound,
        'No such container: no-such-container',
      )
    })

    test('pause and unpause, with their refusals', async () => {
      const id = await sleeper()
      await eng.lifecycle.pause(id)
      assert.deepEqual(
        [(await eng.containers.get(id)).state.Status, (await eng.containers.get(id)).state.Paused],
        ['paused', true],
      )
      await refused(() => eng.lifecycle.pause(id), Conflict, `Container ${id} is already paused`)
      await eng.lifecycle.unpause(id)
      assert.equal((await eng.containers.get(id)).state.Status, 'running')
      await refused(() => eng.lifecycle.unpause(id), Conflict, `Container ${id} is not paused`)
      await eng.containers.kill(id)
      await refused(() => eng.lifecycle.pause(id), Conflict, `Container ${id} is not running`)
      assert.deepEqual(
        actions(eng.events(), id).filter((a) => a === 'pause' || a === 'unpause'),
        ['pause', 'unpause'],
      )
    })

    test('rename: the new name finds it, the old does not; refusals in Docker words', async () => {
      const a = unique('conf-ren-a')
      const b = unique('conf-ren-b')
      const { Id: id } = await eng.containers.create({ Image: IMAGE, Cmd: ['true'] }, a)
      const { Id: other } = await eng.containers.create({ Image: IMAGE, Cmd: ['true'] }, b)
      await eng.lifecycle.rename(id, `${a}-new`)
      assert.equal((await eng.containers.get(`${a}-new`)).id, id)
      await refused(() => eng.containers.get(a), NotFound, `No such container: ${a}`)
      await refused(
        () => eng.lifecycle.rename(id, `${a}-new`),
        InvalidArgument,
        'Renaming a container with the same name as its current name',
      )
      await refused(
        () => eng.lifecycle.rename(id, b),
        Conflict,
        /^Error when allocating new name: Conflict\. The container name "\/.+" is already in use/,
      )
      assert.ok(actions(eng.events(), id).includes('rename'))
      for (const x of [id, other]) await eng.containers.remove(x, { force: true, volumes: false })
    })

    test('restart runs the process again; top and stats see a running container', async () => {
      const id = await sleeper()
      const firstPid = (await eng.containers.get(id)).state.Pid
      await eng.lifecycle.restart(id, 0)
      const s = (await eng.containers.get(id)).state
      assert.equal(s.Running, true)
      assert.notEqual(s.Pid, firstPid)
      const top = await eng.lifecycle.top(id, '')
      assert.ok(top.Titles.includes('PID') && top.Titles.includes('CMD'))
      assert.ok(
        top.Processes.some((p) => p.at(-1) === 'sleep 300'),
        JSON.stringify(top),
      )
      const stats = await eng.lifecycle.stats(id)
      assert.equal(stats.id, id)
      assert.ok((stats.pids_stats.current ?? 0) >= 1)
      await eng.containers.kill(id)
      await refused(() => eng.lifecycle.top(id, ''), Conflict, `Container ${id} is not running`)
      assert.deepEqual((await eng.lifecycle.stats(id)).pids_stats, {})
      assert.ok(actions(eng.events(), id).includes('restart'))
    })

    test('update changes the host config; too little memory is refused', async () => {
      const { Id: id } = await eng.containers.create({ Image: IMAGE, Cmd: ['true'] }, undefined)
      await eng.lifecycle.update(id, { CpuShares: 512 })
      assert.equal((await eng.containers.get(id)).hostConfig.CpuShares, 512)
      await refused(
        () => eng.lifecycle.update(id, { Memory: 1024 }),
        InvalidArgument,
        'Minimum memory limit allowed is 6MB',
      )
    })

    test('prune removes the stopped containers asked for, and no running one', async () => {
      const stopped = (await eng.containers.create({ Image: IMAGE, Cmd: ['true'] }, undefined)).Id
      const running = await sleeper()
      const mine = new Set([stopped, running])
      const r = await eng.lifecycle.prune((c) => mine.has(c.id))
      assert.deepEqual(r.ContainersDeleted, [stopped])
      await refused(() => eng.containers.get(stopped), NotFound, `No such container: ${stopped}`)
      assert.equal((await eng.containers.get(running)).state.Running, true)
      await eng.containers.remove(running, { force: true, volumes: false })
    })

    test('cp in and out, stat, diff and export see the same files', async () => {
      const { Id: id } = await eng.containers.create({ Image: IMAGE, Cmd: ['true'] }, undefined)
      await eng.files.putArchive(id, '/tmp', await tarOf('hello.txt', 'hi there\n'), {
        noOverwriteDirNonDir: true,
        copyUIDGID: false,
      })
      const st = await eng.files.statPath(id, '/tmp/hello.txt')
      assert.deepEqual([st.name, st.size, st.mode, st.linkTarget], ['hello.txt', 9, 0o644, ''])
      const out = await eng.files.getArchive(id, '/tmp/hello.txt')
      assert.equal(out.stat.name, 'hello.txt')
      assert.deepEqual([...(await entries(out.tar))], [['hello.txt', 'hi there\n']])
      await refused(
        () => eng.files.statPath(id, '/no/such'),
        NotFound,
        `Could not find the file /no/such in container ${id}`,
      )
      const changes = await eng.files.changes(id)
      assert.deepEqual(
        changes.filter((c) => c.Path.startsWith('/tmp')),
        [
          { Path: '/tmp', Kind: 0 },
          { Path: '/tmp/hello.txt', Kind: 1 },
        ],
      )
      const all = await entries(await eng.files.exportRootfs(id))
      assert.equal(all.get('tmp/hello.txt'), 'hi there\n')
      assert.match(all.get('etc/passwd') ?? '', /^root:x:0:0:/)
    })

    test('commit makes an image of the container, with its changes and config', async () => {
      const { Id: id } = await eng.containers.create({ Image: IMAGE, Cmd: ['true'] }, undefined)
      await eng.files.putArchive(id, '/', await tarOf('committed.txt', 'kept\n'), {
        noOverwriteDirNonDir: true,
        copyUIDGID: false,
      })
      const repo = unique('conf-commit')
      const { Id } = await eng.files.commit(id, {
        repo,
        tag: 'v1',
        pause: true,
        changes: ['ENV FOO=bar'],
      })
      const img = await eng.images.resolve(`${repo}:v1`)
      assert.equal(img.id, Id)
      assert.ok(img.config.config?.Env?.includes('FOO=bar'))
      assert.deepEqual(img.config.config?.Cmd, ['true'])
      assert.equal(img.layers.length, 2)
      assert.equal(img.parent, eng.image.id)
      assert.ok(actions(eng.events(), id).includes('commit'))
    })
  })
}
