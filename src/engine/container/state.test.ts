// The state machine: which moves are allowed from where, the state each leads to, what is
// written and what is emitted, in that order.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { EventInput } from '../events/types.ts'
import { ContainerStates, ZERO_TIME, allowed, emptyState, nextState, type Move } from './state.ts'
import type { Container, ContainerState } from './types.ts'

function container(state: Partial<ContainerState> = {}, autoRemove = false): Container {
  return {
    id: 'c'.repeat(64),
    name: 'box',
    created: '2026-01-01T00:00:00Z',
    path: 'true',
    args: [],
    config: { Image: 'busybox' },
    hostConfig: { AutoRemove: autoRemove },
    image: 'sha256:x',
    imageRef: 'busybox',
    state: { ...emptyState(), ...state },
    logPath: '/x.log',
    restartCount: 0,
  }
}

const exit = { exitCode: 3, finishedAt: '2026-01-01T00:00:01.000000000Z' }
const NOW = '2026-01-01T00:00:00.500000000Z'

function machine(fail = false) {
  const written: ContainerState[] = []
  const events: EventInput[] = []
  const states = new ContainerStates(
    {
      async saveState(_c, s) {
        if (fail) throw new Error('disk full')
        written.push(s)
      },
    },
    { emit: (e) => void events.push(e) },
  )
  return { states, written, events }
}

describe('container states', () => {
  test('start: running with its pid, the last exit forgotten', () => {
    const s = nextState(
      { ...emptyState(), Status: 'exited', ExitCode: 3, Error: 'x', FinishedAt: NOW },
      { kind: 'start', pid: 42 },
      NOW,
    )
    assert.equal(s.Status, 'running')
    assert.equal(s.Running, true)
    assert.equal(s.Pid, 42)
    assert.equal(s.ExitCode, 0)
    assert.equal(s.Error, '')
    assert.equal(s.StartedAt, NOW)
    assert.equal(s.FinishedAt, ZERO_TIME)
  })

  test('exit: exited with the code, or straight to restarting when the policy says so', () => {
    const running = nextState(emptyState(), { kind: 'start', pid: 7 }, NOW)
    const down = nextState(running, { kind: 'exit', exit }, NOW)
    assert.deepEqual(
      [down.Status, down.Running, down.Pid, down.ExitCode, down.FinishedAt],
      ['exited', false, 0, 3, exit.finishedAt],
    )
    const back = nextState(running, { kind: 'exit', exit, restart: true }, NOW)
    assert.deepEqual(
      [back.Status, back.Running, back.Restarting, back.Pid, back.ExitCode],
      ['restarting', true, true, 0, 3],
    )
    const lost = nextState(running, { kind: 'exit', exit: { ...exit, error: 'unreadable' } }, NOW)
    assert.equal(lost.Error, 'unreadable')
  })

  test('start-failed keeps the state and records the error; dead is final', () => {
    const s = nextState(emptyState(), { kind: 'start-failed', exitCode: 127, error: 'no' }, NOW)
    assert.deepEqual([s.Status, s.ExitCode, s.Error], ['created', 127, 'no'])
    const d = nextState(s, { kind: 'dead', why: 'gone' }, NOW)
    assert.deepEqual([d.Status, d.Dead, d.Running, d.Error], ['dead', true, false, 'gone'])
  })

  test('allowed moves, as a table', () => {
    const table: [ContainerState['Status'], Move['kind'], boolean][] = [
      ['created', 'start', true],
      ['exited', 'start', true],
      ['restarting', 'start', true],
      ['running', 'start', false],
      ['dead', 'start', false],
      ['removing', 'start', false],
      ['running', 'exit', true],
      ['paused', 'exit', true],
      ['exited', 'exit', false],
      ['running', 'pause', true],
      ['paused', 'pause', false],
      ['paused', 'unpause', true],
      ['running', 'unpause', false],
      ['exited', 'restarting', true],
      ['restarting', 'restart-abandoned', true],
      ['running', 'removing', false],
      ['exited', 'removing', true],
      ['created', 'removing', true],
      ['running', 'dead', true],
    ]
    for (const [from, move, ok] of table) assert.equal(allowed(from, move), ok, `${from} ${move}`)
  })

  test('transition writes, then applies, then emits', async () => {
    const { states, written, events } = machine()
    const c = container()
    await states.transition(c, { kind: 'start', pid: 9 })
    assert.equal(written.length, 1)
    assert.equal(written[0]?.Status, 'running')
    assert.equal(c.state.Status, 'running')
    assert.deepEqual(
      events.map((e) => [e.Type, e.Action, e.Actor.ID]),
      [['container', 'start', c.id]],
    )
    await states.transition(c, { kind: 'exit', exit })
    assert.equal(events.at(-1)?.Action, 'die')
    assert.equal(events.at(-1)?.Actor.Attributes.exitCode, '3')
  })

  test('a move not allowed is a Conflict, and changes nothing', async () => {
    const { states, written, events } = machine()
    const c = container()
    await assert.rejects(states.transition(c, { kind: 'pause' }), { status: 409 })
    assert.equal(c.state.Status, 'created')
    assert.equal(written.length, 0)
    assert.equal(events.length, 0)
  })

  test('a failed write leaves the state as it was and emits nothing', async () => {
    const { states, events } = machine(true)
    const c = container()
    await assert.rejects(states.transition(c, { kind: 'start', pid: 9 }), /disk full/)
    assert.equal(c.state.Status, 'created')
    assert.equal(events.length, 0)
  })

  test("one container's moves go one at a time, each checked against the last", async () => {
    const { states, written } = machine()
    const c = container({ Status: 'paused', Running: true, Paused: true })
    // A thaw and an exit at once: the exit comes second, and a thaw after it would be refused.
    await Promise.all([
      states.transition(c, { kind: 'thaw' }),
      states.transition(c, { kind: 'exit', exit }),
    ])
    assert.deepEqual(
      written.map((s) => s.Status),
      ['running', 'exited'],
    )
    await assert.rejects(states.transition(c, { kind: 'thaw' }), { status: 409 })
    assert.equal(c.state.Status, 'exited')
  })

  test('not written: the start of a removal, and the exit of a --rm container', async () => {
    const { states, written } = machine()
    const c = container({ Status: 'exited' })
    await states.transition(c, { kind: 'removing' })
    assert.equal(c.state.Status, 'removing')
    const rm = container({ Status: 'running', Running: true }, true)
    await states.transition(rm, { kind: 'exit', exit })
    assert.equal(rm.state.Status, 'exited')
    assert.equal(written.length, 0)
  })
})

describe('State.Health through the moves', () => {
  const checked = (state: Partial<ContainerState> = {}): Container => ({
    ...container(state),
    config: { Image: 'busybox', Healthcheck: { Test: ['CMD-SHELL', 'true'] } },
  })
  const entry = {
    Start: '2026-01-01T00:00:01Z',
    End: '2026-01-01T00:00:02Z',
    ExitCode: 0,
    Output: '',
  }

  test('a start makes a checked container starting, keeping the log; others have none', async () => {
    const { states, written } = machine()
    const c = checked({
      Status: 'exited',
      Health: { Status: 'unhealthy', FailingStreak: 4, Log: [entry] },
    })
    await states.transition(c, { kind: 'start', pid: 7 })
    assert.deepEqual(c.state.Health, { Status: 'starting', FailingStreak: 0, Log: [entry] })
    assert.deepEqual(written[0]?.Health, c.state.Health)
    const plain = container({ Status: 'created' })
    await states.transition(plain, { kind: 'start', pid: 8 })
    assert.equal('Health' in plain.state, false)
    const none = { ...container({ Status: 'created' }) }
    none.config = { Image: 'busybox', Healthcheck: { Test: ['NONE'], Interval: 1e9 } }
    await states.transition(none, { kind: 'start', pid: 9 })
    assert.equal('Health' in none.state, false)
  })

  test('a result is written; health_status goes out only when the status changes', async () => {
    const { states, written, events } = machine()
    const c = checked({ Status: 'created' })
    await states.transition(c, { kind: 'start', pid: 7 })
    const healthy = (): { Status: 'healthy'; FailingStreak: number; Log: (typeof entry)[] } => ({
      Status: 'healthy',
      FailingStreak: 0,
      Log: [entry],
    })
    assert.deepEqual(await states.recordHealth(c, c.state.StartedAt, healthy), healthy())
    assert.deepEqual(await states.recordHealth(c, c.state.StartedAt, healthy), healthy())
    assert.deepEqual(
      events.map((e) => e.Action),
      ['start', 'health_status: healthy'],
    )
    assert.equal(written.length, 3)
    assert.deepEqual(written[2]?.Health, healthy())
  })

  test("a result for another run, or for a container that isn't running, is dropped", async () => {
    const { states, written } = machine()
    const c = checked({ Status: 'created' })
    await states.transition(c, { kind: 'start', pid: 7 })
    const update = () => ({ Status: 'healthy' as const, FailingStreak: 0, Log: [] })
    assert.equal(await states.recordHealth(c, '2020-01-01T00:00:00Z', update), undefined)
    await states.transition(c, { kind: 'pause' })
    assert.equal(await states.recordHealth(c, c.state.StartedAt, update), undefined)
    assert.equal(c.state.Health?.Status, 'unhealthy')
    assert.equal(written.length, 2)
  })

  test('leaving running (exit, pause) reports unhealthy, as dockerd does when checks stop', async () => {
    const { states, events } = machine()
    const c = checked({ Status: 'created' })
    await states.transition(c, { kind: 'start', pid: 7 })
    await states.recordHealth(c, c.state.StartedAt, () => ({
      Status: 'healthy',
      FailingStreak: 0,
      Log: [entry],
    }))
    await states.transition(c, { kind: 'exit', exit })
    assert.deepEqual(c.state.Health, { Status: 'unhealthy', FailingStreak: 0, Log: [entry] })
    // No event for it (dockerd emits none either).
    assert.deepEqual(
      events.map((e) => e.Action),
      ['start', 'health_status: healthy', 'die'],
    )
  })
})
