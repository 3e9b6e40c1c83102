// Real containers: conmon + runc on a busybox root filesystem.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { Conflict } from '../errors.ts'
import { ConmonRuntime, StartFailed, conmonArgs, startError } from './conmon.ts'
import { readLog } from './logs.ts'
import { ociSpec } from './spec.ts'
import { makeBusyboxRootfs, tempDir } from './testutil.ts'
import type { ContainerProcess, CreateOptions, LogEntry, OutputChunk } from './types.ts'

const newId = (): string => randomBytes(32).toString('hex')

describe('ConmonRuntime', () => {
  let dir: string
  let remove: () => Promise<void>
  let rootfs: string
  let rt: ConmonRuntime
  const made: string[] = []

  before(async () => {
    ;({ dir, remove } = await tempDir('berth-rt-'))
    rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'))
    await writeFile(join(rootfs, 'notexec'), '#!/bin/sh\necho hi\n', { mode: 0o644 })
    await chmod(join(rootfs, 'notexec'), 0o644)
    rt = new ConmonRuntime({ stateDir: join(dir, 'run') })
  })

  after(async () => {
    for (const id of made) {
      await rt.delete(id, true).catch(() => undefined)
      await rt.cleanup(id).catch(() => undefined)
    }
    await remove()
  })

  /** Writes a bundle for `args` and creates the container (not started). */
  async function create(
    args: string[],
    proc: Partial<ContainerProcess> = {},
    opts: Partial<CreateOptions> = {},
  ): Promise<{ id: string; logPath: string; pid: number; monitorPid: number }> {
    const id = newId()
    made.push(id)
    const bundle = join(dir, 'bundles', id)
    await mkdir(bundle, { recursive: true })
    const spec = ociSpec({
      id,
      rootfs,
      readonlyRootfs: false,
      hostname: id.slice(0, 12),
      process: {
        args,
        env: ['PATH=/bin'],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [0] },
        terminal: false,
        ...proc,
      },
      mounts: [],
    })
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec))
    const logPath = join(bundle, 'ctr.log')
    const r = await rt.create({
      id,
      bundle,
      logPath,
      tty: false,
      openStdin: false,
      stdinOnce: false,
      ...opts,
    })
    return { id, logPath, ...r }
  }

  async function logOf(path: string): Promise<LogEntry[]> {
    const out: LogEntry[] = []
    for await (const e of readLog(path, { follow: false })) out.push(e)
    return out
  }

  async function stdoutOf(args: string[], proc: Partial<ContainerProcess> = {}): Promise<string> {
    const c = await create(args, proc)
    await rt.start(c.id)
    const st = await rt.waitExit(c.id)
    assert.equal(st.exitCode, 0)
    return (await logOf(c.logPath))
      .filter((e) => e.stream === 'stdout')
      .map((e) => e.data.toString())
      .join('')
  }

  test('runs a container: log holds stdout and stderr, exit code 3', async () => {
    const c = await create(['sh', '-c', 'echo out; echo err >&2; exit 3'])
    assert.ok(c.pid > 0 && c.monitorPid > 0)
    assert.equal(await rt.status(c.id), 'created')
    assert.equal(await rt.exitStatus(c.id), undefined)
    await rt.start(c.id)
    const st = await rt.waitExit(c.id)
    assert.equal(st.exitCode, 3)
    assert.match(st.finishedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/)
    assert.ok(Math.abs(Date.parse(st.finishedAt) - Date.now()) < 10_000)
    const log = await logOf(c.logPath)
    assert.deepEqual(
      log.map((e) => [e.stream, e.data.toString()]),
      [
        ['stdout', 'out\n'],
        ['stderr', 'err\n'],
      ],
    )
    assert.equal(await rt.status(c.id), 'stopped')
    assert.deepEqual(await rt.exitStatus(c.id), st)
    await rt.delete(c.id, false)
    assert.equal(await rt.status(c.id), undefined)
    await rt.cleanup(c.id)
    assert.equal(await rt.exitStatus(c.id), undefined)
  })

  test('state directory layout', async () => {
    assert.deepEqual((await readdir(rt.stateDir)).sort(), ['exits', 'pids', 'runc', 'sock'])
  })

  test("an id used again starts afresh: the last run's exit file does not answer for it", async () => {
    const first = await create(['sh', '-c', 'exit 3'])
    await rt.start(first.id)
    assert.equal((await rt.waitExit(first.id)).exitCode, 3)
    await rt.delete(first.id, false)
    // The same id and bundle again, as a restart does, with another command.
    const { id } = first
    const bundle = join(dir, 'bundles', id)
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
      process: { args: string[] }
    }
    spec.process.args = ['sh', '-c', 'exit 5']
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec))
    const again = await rt.create({
      id,
      bundle,
      logPath: first.logPath,
      tty: false,
      openStdin: false,
      stdinOnce: false,
    })
    assert.notEqual(again.pid, first.pid)
    assert.equal(await rt.exitStatus(id), undefined)
    assert.equal(await rt.status(id), 'created')
    await rt.start(id)
    assert.equal((await rt.waitExit(id)).exitCode, 5)
  })

  test('attach before start: stdout and stderr apart and in order', async () => {
    const c = await create([
      'sh',
      '-c',
      'echo one; sleep 0.05; echo two >&2; sleep 0.05; echo three',
    ])
    const conn = await rt.attach(c.id)
    const got: OutputChunk[] = []
    const reading = (async () => {
      for await (const chunk of conn.output) got.push(chunk)
    })()
    await rt.start(c.id)
    assert.equal((await rt.waitExit(c.id)).exitCode, 0)
    await reading
    conn.close()
    assert.deepEqual(
      got.map((g) => [g.stream, g.data.toString()]),
      [
        ['stdout', 'one\n'],
        ['stderr', 'two\n'],
        ['stdout', 'three\n'],
      ],
    )
  })

  test('stdin through attach; closeStdin gives EOF and the container exits 0', async () => {
    const c = await create(['cat'], {}, { openStdin: true, stdinOnce: true })
    const conn = await rt.attach(c.id)
    const out: string[] = []
    const streams = new Set<string>()
    const reading = (async () => {
      for await (const chunk of conn.output) {
        streams.add(chunk.stream)
        out.push(chunk.data.toString())
      }
    })()
    await rt.start(c.id)
    await conn.writeStdin(Buffer.from('hello\n'))
    await conn.writeStdin(Buffer.from('world\n'))
    conn.closeStdin()
    assert.equal((await rt.waitExit(c.id)).exitCode, 0)
    await reading
    conn.close()
    // How the bytes are cut into packets depends on timing; the bytes and stream do not.
    assert.equal(out.join(''), 'hello\nworld\n')
    assert.deepEqual([...streams], ['stdout'])
  })

  test("an executable that does not exist: 127 with runc's words", async () => {
    await assert.rejects(create(['nonexist']), (err: unknown) => {
      assert.ok(err instanceof StartFailed)
      assert.equal(err.exitCode, 127)
      assert.equal(err.status, 400)
      assert.match(err.message, /exec: "nonexist": executable file not found in \$PATH/)
      assert.match(
        err.message,
        /^failed to create shim task: OCI runtime create failed: runc create failed: /,
      )
      return true
    })
  })

  test('a file that is not executable: 126', async () => {
    await assert.rejects(create(['/notexec']), (err: unknown) => {
      assert.ok(err instanceof StartFailed)
      assert.equal(err.exitCode, 126)
      assert.match(err.message, /permission denied/)
      return true
    })
  })

  test('user, cwd and env are honoured', async () => {
    assert.equal(
      await stdoutOf(['sh', '-c', 'id -u; id -g; id -G; pwd; echo $FOO'], {
        user: { uid: 1000, gid: 1000, additionalGids: [1000, 27] },
        cwd: '/tmp',
        env: ['PATH=/bin', 'FOO=bar baz'],
      }),
      '1000\n1000\n1000 27\n/tmp\nbar baz\n',
    )
  })

  test("Docker's capability set inside: CapEff 00000000a80425fb", async () => {
    const out = await stdoutOf(['grep', '^Cap', '/proc/self/status'])
    assert.match(out, /^CapEff:\t00000000a80425fb$/m)
    assert.match(out, /^CapBnd:\t00000000a80425fb$/m)
    assert.match(out, /^CapInh:\t0000000000000000$/m)
    assert.match(out, /^CapAmb:\t0000000000000000$/m)
  })

  test('kill stops a running container; status follows; delete removes it', async () => {
    const c = await create(['sleep', '30'])
    await rt.start(c.id)
    assert.equal(await rt.status(c.id), 'running')
    await rt.kill(c.id, 'KILL')
    assert.equal((await rt.waitExit(c.id)).exitCode, 137)
    assert.equal(await rt.status(c.id), 'stopped')
    await assert.rejects(rt.kill(c.id, 'TERM'), Conflict)
    await rt.delete(c.id, false)
    await rt.delete(c.id, false)
    assert.equal(await rt.status('nope'), undefined)
  })

  test('waitExit can be aborted', async () => {
    const ac = new AbortController()
    const p = rt.waitExit(newId(), ac.signal)
    ac.abort()
    await assert.rejects(p, { name: 'AbortError' })
  })

  test('attach to a container whose monitor is gone is a Conflict', async () => {
    const c = await create(['true'])
    await rt.start(c.id)
    await rt.waitExit(c.id)
    // conmon removes its socket link as it exits, right after the exit file.
    await new Promise((r) => setTimeout(r, 50))
    await assert.rejects(rt.attach(c.id), Conflict)
  })

  test('a container outlives the process that created it', async () => {
    const script = join(dir, 'spawner.mts')
    const id = newId()
    made.push(id)
    const bundle = join(dir, 'bundles', id)
    await mkdir(bundle, { recursive: true })
    const spec = ociSpec({
      id,
      rootfs,
      readonlyRootfs: false,
      hostname: 'x',
      process: {
        args: ['sleep', '30'],
        env: ['PATH=/bin'],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [0] },
        terminal: false,
      },
      mounts: [],
    })
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec))
    const mod = fileURLToPath(new URL('./conmon.ts', import.meta.url))
    await writeFile(
      script,
      `import { ConmonRuntime } from ${JSON.stringify(mod)}
const rt = new ConmonRuntime({ stateDir: ${JSON.stringify(rt.stateDir)} })
const r = await rt.create({ id: ${JSON.stringify(id)}, bundle: ${JSON.stringify(bundle)}, logPath: ${JSON.stringify(join(bundle, 'ctr.log'))}, tty: false, openStdin: false, stdinOnce: false })
await rt.start(${JSON.stringify(id)})
console.log(JSON.stringify(r))
`,
    )
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', script], { timeout: 20_000 }, (err, out) =>
        err ? reject(err) : resolve(out),
      ),
    )
    const r = JSON.parse(stdout) as { pid: number; monitorPid: number }
    // The spawner has exited; conmon and the container live on.
    assert.equal(await rt.status(id), 'running')
    process.kill(r.monitorPid, 0)
    process.kill(r.pid, 0)
    assert.equal((await readFile(rt.conmonPidFile(id), 'utf8')).trim(), String(r.monitorPid))
    assert.equal((await readFile(rt.containerPidFile(id), 'utf8')).trim(), String(r.pid))
    // SIGTERM would be ignored: sleep is pid 1 of its namespace and has no handler.
    await rt.kill(id, 'KILL')
    const st = await rt.waitExit(id)
    assert.equal(st.exitCode, 137)
  })
})

describe('conmonArgs', () => {
  const base = {
    id: 'c1',
    bundle: '/b',
    logPath: '/b/log',
    tty: false,
    openStdin: false,
    stdinOnce: false,
    runc: '/usr/sbin/runc',
    runcRoot: '/s/runc',
    exitDir: '/s/exits',
    socketDir: '/s/sock',
    pidFile: '/s/pids/c1.pid',
    logLevel: 'error',
  }
  const cases: [string, Partial<typeof base>, string[], string[]][] = [
    ['plain', {}, ['--sync', '--runtime-arg', '--root=/s/runc', 'k8s-file:/b/log'], ['-t', '-i']],
    ['tty', { tty: true }, ['-t'], ['-i']],
    ['stdin once', { openStdin: true, stdinOnce: true }, ['-i'], ['--leave-stdin-open']],
    ['stdin kept open', { openStdin: true }, ['-i', '--leave-stdin-open'], []],
  ]
  for (const [name, over, has, lacks] of cases) {
    test(name, () => {
      const args = conmonArgs({ ...base, ...over })
      for (const a of has) assert.ok(args.includes(a), `${a} in ${args.join(' ')}`)
      for (const a of lacks) assert.ok(!args.includes(a), `${a} not in ${args.join(' ')}`)
    })
  }
})

describe('startError', () => {
  const cases: [string, number, string | undefined][] = [
    ['exec: "x": executable file not found in $PATH', 127, undefined],
    ['exec: "/x": stat /x: no such file or directory', 127, undefined],
    ['exec: "/x": permission denied', 126, undefined],
    ['exec /tmp: is a directory', 126, 'exec /tmp: is a directory: permission denied'],
    ['mount: not a directory', 127, undefined],
    ['something else', 128, undefined],
  ]
  for (const [desc, code, message] of cases) {
    test(desc, () => {
      const err = startError(desc)
      assert.equal(err.exitCode, code)
      assert.equal(err.status, code === 128 ? 500 : 400)
      if (message !== undefined) assert.equal(err.message, message)
    })
  }
})
