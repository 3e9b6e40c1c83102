import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { isBerthError } from '../errors.ts'
import { RestartManager, exitsOnNext, signalName, validateRestartPolicy } from './restart.ts'

describe('RestartManager', () => {
  test('back-off doubles from 100 ms and starts over after a 10 s run', () => {
    const m = new RestartManager({ Name: 'always' }, 0)
    const delays = [0, 0, 0, 0].map(() => {
      const d = m.shouldRestart(1, false, 50)
      assert.ok(d.restart)
      return d.delayMs
    })
    assert.deepEqual(delays, [100, 200, 400, 800])
    const after = m.shouldRestart(0, false, 10_000)
    assert.deepEqual(after, { restart: true, delayMs: 100 })
    assert.equal(m.restartCount, 5)
  })

  test('the back-off stops growing at a minute', () => {
    const m = new RestartManager({ Name: 'always' }, 0)
    let last = 0
    for (let i = 0; i < 20; i++) {
      const d = m.shouldRestart(1, false, 0)
      if (d.restart) last = d.delayMs
    }
    assert.equal(last, 60_000)
  })

  const table: [string, number, number, boolean, number, boolean][] = [
    // policy, max, exit code, manually stopped, restarts so far, restart?
    ['no', 0, 1, false, 0, false],
    ['', 0, 1, false, 0, false],
    ['always', 0, 0, true, 0, true],
    ['unless-stopped', 0, 0, false, 0, true],
    ['unless-stopped', 0, 1, true, 0, false],
    ['on-failure', 0, 0, false, 0, false],
    ['on-failure', 0, 1, false, 50, true],
    ['on-failure', 2, 1, false, 1, true],
    ['on-failure', 2, 1, false, 2, false],
  ]
  for (const [name, max, code, manual, count, want] of table) {
    test(`${name || '(none)'}:${max} exit ${code} manual=${manual} count=${count} → ${want}`, () => {
      const m = new RestartManager({ Name: name, MaximumRetryCount: max }, count)
      assert.equal(m.shouldRestart(code, manual, 0).restart, want)
    })
  }

  test('cancel ends a back-off in progress and every later restart', async () => {
    const m = new RestartManager({ Name: 'always' }, 0)
    const waiting = m.wait(10_000)
    m.cancel()
    assert.equal(await waiting, false)
    assert.equal(m.shouldRestart(1, false, 0).restart, false)
  })
})

describe('validateRestartPolicy', () => {
  const bad: [string, number, boolean, RegExp][] = [
    ['sometimes', 0, false, /unknown policy 'sometimes'/],
    ['always', 3, false, /can only be used with 'on-failure'/],
    ['on-failure', -1, false, /cannot be negative/],
    ['always', 0, true, /can't create 'AutoRemove' container with restart policy/],
  ]
  for (const [name, max, autoRemove, re] of bad) {
    test(`${name}:${max} rm=${autoRemove} is refused`, () => {
      assert.throws(
        () => validateRestartPolicy({ Name: name, MaximumRetryCount: max }, autoRemove),
        (err: unknown) => isBerthError(err) && err.status === 400 && re.test(err.message),
      )
    })
  }
  test('the good ones pass', () => {
    for (const name of ['', 'no', 'always', 'unless-stopped', 'on-failure']) {
      validateRestartPolicy({ Name: name }, false)
    }
    validateRestartPolicy({ Name: 'no' }, true)
    validateRestartPolicy(undefined, true)
  })
})

test('exitsOnNext follows killWithSignal', () => {
  assert.equal(signalName('sigterm'), 'TERM')
  assert.equal(signalName('9'), 'KILL')
  assert.equal(exitsOnNext('KILL', 'SIGUSR1'), true)
  assert.equal(exitsOnNext('HUP', undefined), true)
  assert.equal(exitsOnNext('SIGUSR1', 'USR1'), true)
  assert.equal(exitsOnNext('HUP', 'SIGTERM'), false)
})
