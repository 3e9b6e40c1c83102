// The task runner on real runc and conmon, used as the builder will use it: a step run on an
// overlay snapshot of a root filesystem, its output streamed, its exit code returned, and
// nothing left behind (no runtime state, no mount), also when it is aborted or fails to start.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { rootProfile } from '../host/profile.ts'
import { hostFacts } from '../runtime/host.ts'
import { mountOverlay, readMountInfo, unmount } from '../layer/mount.ts'
import type { Mount } from '../layer/types.ts'
import { nullLogger } from '../logger.ts'
import { ConmonRuntime } from '../runtime/conmon.ts'
import { StartFailed } from '../runtime/runc.ts'
import { ociSpec } from '../runtime/spec.ts'
import { makeBusyboxRootfs, tempDir } from '../runtime/testutil.ts'
import type { OutputChunk } from '../runtime/types.ts'
import { resolveUser } from '../runtime/user.ts'
import { LocalTaskRunner } from './runner.ts'
import type { TaskSpec } from './types.ts'

let dir: string
let remove: () => Promise<void>
let base: string
let runtime: ConmonRuntime
let runner: LocalTaskRunner

before(async () => {
  ;({ dir, remove } = await tempDir('berth-task-'))
  base = await makeBusyboxRootfs(join(dir, 'base'))
  const host = rootProfile(join(dir, 'root'), await hostFacts())
  runtime = new ConmonRuntime({ stateDir: host.runtimeDir })
  runner = new LocalTaskRunner({
    runtime,
    host,
    spec: ociSpec,
    mount: async (m) => mountOverlay(m),
    unmount: async (target) => unmount(target, { detach: true }),
    resolveUser,
    logger: nullLogger,
  })
})

after(async () => {
  for (const m of await readMountInfo()) {
    if (m.mountPoint.startsWith(dir)) unmount(m.mountPoint, { detach: true })
  }
  await remove()
})

/** A build step's workspace: an overlay of the base root filesystem, and a bundle dir. */
async function step(
  args: string[],
  over: Partial<TaskSpec> = {},
): Promise<{ spec: TaskSpec; upper: string }> {
  const id = randomBytes(32).toString('hex')
  const ws = join(dir, id.slice(0, 12))
  for (const d of ['upper', 'work', 'rootfs', 'bundle'])
    await mkdir(join(ws, d), { recursive: true })
  const rootfs: Mount = {
    type: 'overlay',
    source: 'overlay',
    destination: join(ws, 'rootfs'),
    options: [`lowerdir=${base}`, `upperdir=${join(ws, 'upper')}`, `workdir=${join(ws, 'work')}`],
  }
  const spec: TaskSpec = {
    id,
    bundle: join(ws, 'bundle'),
    rootfs: [rootfs],
    hostname: 'buildkitsandbox',
    process: { args, env: ['PATH=/bin'], user: '', cwd: '/' },
    network: {},
    io: { logPath: join(ws, 'step.log'), tty: false, openStdin: false, stdinOnce: false },
    ...over,
  }
  return { spec, upper: join(ws, 'upper') }
}

async function leftovers(id: string): Promise<string[]> {
  const left: string[] = []
  if ((await runtime.knownIds()).includes(id)) left.push('runtime state')
  for (const m of await readMountInfo()) {
    if (m.mountPoint.startsWith(dir)) left.push(`mount ${m.mountPoint}`)
  }
  return left
}

describe('LocalTaskRunner.run, as a build step', () => {
  test('runs to its exit code, streams its output, writes into its own layer', async () => {
    const { spec, upper } = await step(
      ['sh', '-c', 'echo out; echo err >&2; echo made > /app/file; id -u; pwd; exit 4'],
      {},
    )
    spec.process.cwd = '/app'
    spec.process.user = '1000:1000'
    spec.process.env = ['PATH=/bin', 'STEP=1']
    const chunks: OutputChunk[] = []
    // /app is made by the runner (owned by root); uid 1000 may not write there, so the file
    // write fails and the exit code is the script's last.
    const code = await runner.run(spec, { output: (c) => chunks.push(c) })
    assert.equal(code, 4)
    const out = (s: 'stdout' | 'stderr'): string =>
      chunks
        .filter((c) => c.stream === s)
        .map((c) => c.data.toString())
        .join('')
    assert.equal(out('stdout'), 'out\n1000\n/app\n')
    assert.match(out('stderr'), /^err\n.*Permission denied/s)
    assert.deepEqual(await readdir(upper), ['app'])
    assert.deepEqual(await leftovers(spec.id), [])
  })

  test("root writes to the step's layer; a bind mount and the loopback-only network", async () => {
    const host = join(dir, 'cache')
    await mkdir(host, { recursive: true })
    await writeFile(join(host, 'seed'), 'seeded\n')
    const { spec, upper } = await step([
      'sh',
      '-c',
      'cat /cache/seed; echo layer > /made; echo cache > /cache/new; ls /sys/class/net',
    ])
    spec.mounts = [{ type: 'bind', source: host, destination: '/cache', options: ['rbind'] }]
    const chunks: string[] = []
    assert.equal(await runner.run(spec, { output: (c) => chunks.push(c.data.toString()) }), 0)
    assert.equal(chunks.join(''), 'seeded\nlo\n')
    assert.equal(await readFile(join(upper, 'made'), 'utf8'), 'layer\n')
    assert.equal(await readFile(join(host, 'new'), 'utf8'), 'cache\n')
    assert.deepEqual(await leftovers(spec.id), [])
  })

  test("with cleanup: the layer is unmounted at once, runc's record goes by the promise handed", async () => {
    const { spec, upper } = await step(['sh', '-c', 'echo x > /made; exit 3'])
    const handed: Promise<void>[] = []
    assert.equal(await runner.run(spec, { cleanup: (p) => handed.push(p) }), 3)
    assert.equal(handed.length, 1)
    // The layer is readable as soon as run() resolves: nothing mounts it any more.
    assert.equal(await readFile(join(upper, 'made'), 'utf8'), 'x\n')
    assert.ok(!(await readMountInfo()).some((m) => m.mountPoint === spec.rootfs[0]!.destination))
    await handed[0]
    assert.deepEqual(await leftovers(spec.id), [])
  })

  test('an abort kills the step, cleans up, and rejects with the reason', async () => {
    const { spec } = await step(['sleep', '1000'])
    const ac = new AbortController()
    const run = runner.run(spec, { signal: ac.signal })
    // Whether the abort comes while the step starts or once it runs, the outcome is the same.
    setTimeout(() => ac.abort(new Error('client went away')), 300)
    await assert.rejects(run, /client went away/)
    assert.deepEqual(await leftovers(spec.id), [])
  })

  test('a command that cannot start: the runtime error, and nothing left', async () => {
    const { spec } = await step(['/no/such/command'])
    await assert.rejects(runner.run(spec), (err: unknown) => {
      assert.ok(err instanceof StartFailed)
      assert.equal(err.exitCode, 127)
      return true
    })
    assert.deepEqual(await leftovers(spec.id), [])
  })

  test('an aborted signal never starts anything', async () => {
    const { spec } = await step(['true'])
    await assert.rejects(runner.run(spec, { signal: AbortSignal.abort() }), { name: 'AbortError' })
    assert.deepEqual(await leftovers(spec.id), [])
  })
})
