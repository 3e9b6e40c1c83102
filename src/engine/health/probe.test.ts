// The exec probe over a fake exec service: what it asks exec for, the output it keeps, and
// the TERM then KILL of a probe that is aborted.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type {
  ExecCreateRequest,
  ExecInspect,
  ExecSession,
  ExecStartOptions,
} from '../container/types.ts'
import { deferred } from '../container/waiters.ts'
import { ExecProbeRunner } from './probe.ts'

function fakeExecs(chunks: string[], exit: Promise<number>) {
  const created: { ref: string; req: ExecCreateRequest }[] = []
  let closed = false
  return {
    created,
    closed: () => closed,
    execs: {
      async createExec(ref: string, req: ExecCreateRequest) {
        created.push({ ref, req })
        return { Id: 'e1' }
      },
      async startExec(_id: string, opts: ExecStartOptions): Promise<ExecSession | undefined> {
        assert.equal(opts.detach, false)
        return {
          tty: false,
          detachKeys: [],
          exited: exit,
          output: (async function* () {
            for (const c of chunks) yield { stream: 'stdout' as const, data: Buffer.from(c) }
            await exit
          })(),
          writeStdin: async () => undefined,
          closeStdin: () => undefined,
          close: () => void (closed = true),
        }
      },
      async inspectExec(): Promise<ExecInspect> {
        return { Pid: 4242 } as ExecInspect
      },
    },
  }
}

test('a probe is an attached, non-tty exec; its output and exit code come back', async () => {
  const f = fakeExecs(['a'.repeat(4000), 'b'.repeat(200)], Promise.resolve(1))
  const runner = new ExecProbeRunner({ execs: f.execs, kill: () => assert.fail('no kill') })
  const out = await runner.run('c1', ['/bin/sh', '-c', 'x'], new AbortController().signal)
  assert.equal(out.exitCode, 1)
  assert.equal(out.output.length, 4096 + 3)
  assert.ok(out.output.endsWith('...'))
  assert.deepEqual(f.created, [
    {
      ref: 'c1',
      req: {
        Cmd: ['/bin/sh', '-c', 'x'],
        AttachStdin: false,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        Privileged: false,
      },
    },
  ])
  assert.equal(f.closed(), true)
})

test('an aborted probe gets SIGTERM (its pid from exec inspect) and the run waits for it', async () => {
  const exit = deferred<number>()
  const f = fakeExecs([], exit.promise)
  const kills: [number, string][] = []
  const runner = new ExecProbeRunner({
    execs: f.execs,
    kill: (pid, sig) => {
      kills.push([pid, sig])
      exit.resolve(143)
    },
  })
  const ac = new AbortController()
  const run = runner.run('c1', ['sleep', '9'], ac.signal)
  await new Promise((r) => setImmediate(r))
  ac.abort()
  assert.deepEqual(await run, { exitCode: 143, output: '' })
  assert.deepEqual(kills, [[4242, 'SIGTERM']])
})
