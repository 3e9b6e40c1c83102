// The health checker with a fake clock and a fake probe runner: when probes run, timeouts,
// start period and interval, stop and restart of watches, and results dropped after a stop.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HealthMonitor } from './monitor.ts'
import type {
  Health,
  HealthClock,
  HealthSubject,
  ProbeOutcome,
  ProbeRunner,
  HealthRecorder,
} from './types.ts'

const T0 = Date.parse('2026-01-01T00:00:00.000Z')

/** Timers that fire only when the test advances the time. */
class FakeClock implements HealthClock {
  t = T0
  private seq = 0
  private readonly timers = new Map<number, { at: number; fn: () => void }>()

  now(): number {
    return this.t
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq
    this.timers.set(id, { at: this.t + ms, fn })
    return id
  }

  clearTimeout(h: unknown): void {
    this.timers.delete(h as number)
  }

  pending(): number[] {
    return [...this.timers.values()].map((x) => x.at - this.t).sort((a, b) => a - b)
  }

  /** Moves time forward, firing due timers in order, and lets promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms
    for (;;) {
      await settle()
      const due = [...this.timers.entries()]
        .filter(([, x]) => x.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0]
      if (!due) break
      this.timers.delete(due[0])
      this.t = due[1].at
      due[1].fn()
    }
    this.t = end
    await settle()
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve()
}

interface Call {
  id: string
  cmd: string[]
  signal: AbortSignal
  finish(o: ProbeOutcome): void
  fail(err: Error): void
}

class FakeRunner implements ProbeRunner {
  readonly calls: Call[] = []
  run(id: string, cmd: string[], signal: AbortSignal): Promise<ProbeOutcome> {
    return new Promise((resolve, reject) => {
      const call: Call = { id, cmd, signal, finish: resolve, fail: reject }
      // An aborted probe dies, as a killed process does.
      signal.addEventListener('abort', () => resolve({ exitCode: 143, output: '' }))
      this.calls.push(call)
    })
  }
}

class FakeRecorder implements HealthRecorder {
  health: Health | undefined
  startedAt = ''
  records = 0
  async record(
    _id: string,
    startedAt: string,
    update: (prev: Health | undefined) => Health,
  ): Promise<Health | undefined> {
    if (startedAt !== this.startedAt) return undefined
    this.records++
    this.health = update(this.health)
    return this.health
  }
}

function subject(healthcheck: HealthSubject['config']['Healthcheck']): HealthSubject {
  return {
    id: 'c1',
    config: { Healthcheck: healthcheck },
    state: {
      Running: true,
      Paused: false,
      Restarting: false,
      StartedAt: new Date(T0).toISOString(),
    },
  }
}

function setup(): { clock: FakeClock; runner: FakeRunner; rec: FakeRecorder; m: HealthMonitor } {
  const clock = new FakeClock()
  const runner = new FakeRunner()
  const rec = new FakeRecorder()
  rec.startedAt = new Date(T0).toISOString()
  return { clock, runner, rec, m: new HealthMonitor({ runner, recorder: rec, clock }) }
}

test('the first probe runs an interval after the start; the next an interval after it ends', async () => {
  const { clock, runner, rec, m } = setup()
  m.sync(subject({ Test: ['CMD-SHELL', 'check'], Interval: 1e9, Retries: 2 }))
  assert.deepEqual(clock.pending(), [1000])
  await clock.advance(999)
  assert.equal(runner.calls.length, 0)
  await clock.advance(1)
  assert.equal(runner.calls.length, 1)
  assert.deepEqual(runner.calls[0]?.cmd, ['/bin/sh', '-c', 'check'])
  // While the probe runs, only its timeout (30s by default) is pending: no next probe yet.
  assert.deepEqual(clock.pending(), [30_000])
  await clock.advance(250)
  runner.calls[0]?.finish({ exitCode: 0, output: 'ok\n' })
  await settle()
  assert.deepEqual(rec.health, {
    Status: 'healthy',
    FailingStreak: 0,
    Log: [
      {
        Start: '2026-01-01T00:00:01.000000000Z',
        End: '2026-01-01T00:00:01.250000000Z',
        ExitCode: 0,
        Output: 'ok\n',
      },
    ],
  })
  assert.deepEqual(clock.pending(), [1000])
  await clock.advance(1000)
  assert.equal(runner.calls.length, 2)
  runner.calls[1]?.finish({ exitCode: 1, output: '' })
  await clock.advance(1000)
  runner.calls[2]?.finish({ exitCode: 1, output: '' })
  await settle()
  assert.equal(rec.health?.Status, 'unhealthy')
  assert.equal(rec.health?.FailingStreak, 2)
  m.close()
  assert.deepEqual(clock.pending(), [])
})

test('a probe past its timeout is recorded as failed, killed, and waited for', async () => {
  const { clock, runner, rec, m } = setup()
  m.sync(subject({ Test: ['CMD', 'sleep', '9'], Interval: 1e9, Timeout: 5e8, Retries: 1 }))
  await clock.advance(1000)
  const call = runner.calls[0]
  assert.ok(call)
  await clock.advance(500)
  assert.equal(call.signal.aborted, true)
  assert.deepEqual(rec.health?.Log[0], {
    Start: '2026-01-01T00:00:01.000000000Z',
    End: '2026-01-01T00:00:01.500000000Z',
    ExitCode: -1,
    Output: 'Health check exceeded timeout (500ms)',
  })
  assert.equal(rec.health?.Status, 'unhealthy')
  assert.equal(rec.records, 1)
  assert.deepEqual(clock.pending(), [1000])
  m.close()
})

test("a probe that cannot start fails with the runtime's words and exit code -1", async () => {
  const { clock, runner, rec, m } = setup()
  m.sync(subject({ Test: ['CMD', '/nonexist'], Interval: 1e9, Retries: 1 }))
  await clock.advance(1000)
  runner.calls[0]?.fail(new Error('OCI runtime exec failed: exec: "/nonexist": not found'))
  await settle()
  assert.equal(rec.health?.Log[0]?.ExitCode, -1)
  assert.equal(rec.health?.Log[0]?.Output, 'OCI runtime exec failed: exec: "/nonexist": not found')
  m.close()
})

test('while starting within the start period, probes come every start interval', async () => {
  const { clock, runner, rec, m } = setup()
  m.sync(
    subject({
      Test: ['CMD', 'x'],
      Interval: 10e9,
      StartPeriod: 3e9,
      StartInterval: 1e9,
      Retries: 1,
    }),
  )
  assert.deepEqual(clock.pending(), [1000])
  await clock.advance(1000)
  runner.calls[0]?.finish({ exitCode: 1, output: '' })
  await settle()
  // A failure in the start period: still starting, nothing counted.
  assert.equal(rec.health?.Status, 'starting')
  assert.equal(rec.health?.FailingStreak, 0)
  assert.deepEqual(clock.pending(), [1000])
  await clock.advance(1000)
  runner.calls[1]?.finish({ exitCode: 0, output: '' })
  await settle()
  assert.equal(rec.health?.Status, 'healthy')
  // Healthy: the interval again.
  assert.deepEqual(clock.pending(), [10_000])
  m.close()
})

test('stopping (exit, pause) ends the watch; a result in flight is dropped; a new run restarts it', async () => {
  const { clock, runner, rec, m } = setup()
  const c = subject({ Test: ['CMD', 'x'], Interval: 1e9 })
  m.sync(c)
  m.sync(c) // the same run: nothing changes
  assert.deepEqual(clock.pending(), [1000])
  await clock.advance(1000)
  const call = runner.calls[0]
  assert.ok(call)
  c.state.Paused = true
  m.sync(c)
  assert.equal(call.signal.aborted, true)
  assert.equal(m.watching('c1'), false)
  await clock.advance(5000)
  assert.equal(rec.records, 0)
  assert.equal(runner.calls.length, 1)
  assert.deepEqual(clock.pending(), [])
  // Unpaused: checks again from an interval on.
  c.state.Paused = false
  m.sync(c)
  assert.deepEqual(clock.pending(), [1000])
  // A new run (restart) replaces the watch.
  c.state.StartedAt = new Date(T0 + 6000).toISOString()
  m.sync(c)
  assert.deepEqual(clock.pending(), [1000])
  // Exited: no timers left.
  c.state.Running = false
  m.sync(c)
  assert.deepEqual(clock.pending(), [])
  assert.equal(m.watching('c1'), false)
})

test('containers without a check (none, NONE, an unknown type) are not watched', () => {
  const { clock, m } = setup()
  for (const hc of [undefined, null, { Test: ['NONE'] }, { Test: ['BOGUS'] }, { Interval: 1e9 }]) {
    m.sync(subject(hc))
    assert.equal(m.watching('c1'), false)
  }
  assert.deepEqual(clock.pending(), [])
})

test('a resumed watch (daemon restart) keeps the status it finds', async () => {
  const { clock, runner, rec, m } = setup()
  const c = subject({ Test: ['CMD', 'x'], Interval: 10e9, StartPeriod: 60e9 })
  c.state.Health = { Status: 'healthy', FailingStreak: 0, Log: [] }
  rec.health = c.state.Health
  m.sync(c)
  // Healthy already: the interval, not the start interval.
  assert.deepEqual(clock.pending(), [10_000])
  await clock.advance(10_000)
  runner.calls[0]?.finish({ exitCode: 0, output: '' })
  await settle()
  assert.equal(rec.health?.Log.length, 1)
  m.close()
})
