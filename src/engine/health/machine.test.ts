import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  LimitedOutput,
  applyResult,
  nextDelayMs,
  probeSettings,
  timeoutOutput,
  MAX_OUTPUT_LEN,
} from './machine.ts'
import { probeCommand, type Health, type HealthcheckResult } from './types.ts'

const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const at = (ms: number): string => new Date(T0 + ms).toISOString()
const result = (startMs: number, exitCode: number, output = ''): HealthcheckResult => ({
  Start: at(startMs),
  End: at(startMs + 10),
  ExitCode: exitCode,
  Output: output,
})
const starting: Health = { Status: 'starting', FailingStreak: 0, Log: [] }

test("probeCommand: CMD runs as given, CMD-SHELL in the shell, NONE and unknown types don't run", () => {
  assert.deepEqual(probeCommand({ Test: ['CMD', 'test', '-e', '/x'] }, undefined), [
    'test',
    '-e',
    '/x',
  ])
  assert.deepEqual(probeCommand({ Test: ['CMD-SHELL', 'echo hi'] }, null), [
    '/bin/sh',
    '-c',
    'echo hi',
  ])
  assert.deepEqual(probeCommand({ Test: ['CMD-SHELL', 'x'] }, ['/bin/bash', '-ec']), [
    '/bin/bash',
    '-ec',
    'x',
  ])
  assert.equal(probeCommand({ Test: ['NONE'] }, undefined), undefined)
  assert.equal(probeCommand({ Test: ['BOGUS', 'x'] }, undefined), undefined)
  assert.equal(probeCommand({ Test: ['CMD'] }, undefined), undefined)
  assert.equal(probeCommand({ Interval: 1e9 }, undefined), undefined)
  assert.equal(probeCommand(undefined, undefined), undefined)
})

test("probeSettings: Docker's defaults for what is unset (30s, 30s, 3 retries, 5s start interval)", () => {
  assert.deepEqual(probeSettings({ Test: ['CMD', 'x'] }), {
    intervalMs: 30_000,
    timeoutMs: 30_000,
    startPeriodMs: 0,
    startIntervalMs: 5_000,
    retries: 3,
  })
  assert.deepEqual(
    probeSettings({
      Interval: 5e8,
      Timeout: 2e9,
      StartPeriod: 1e10,
      StartInterval: 1e8,
      Retries: 1,
    }),
    { intervalMs: 500, timeoutMs: 2000, startPeriodMs: 10_000, startIntervalMs: 100, retries: 1 },
  )
})

test('nextDelayMs: the start interval only while starting within the start period', () => {
  const s = probeSettings({ Interval: 10e9, StartPeriod: 60e9, StartInterval: 1e9 })
  assert.equal(nextDelayMs(s, 'starting', 0), 1000)
  assert.equal(nextDelayMs(s, 'starting', 59_999), 1000)
  assert.equal(nextDelayMs(s, 'starting', 60_000), 10_000)
  assert.equal(nextDelayMs(s, 'healthy', 5_000), 10_000)
  assert.equal(nextDelayMs(probeSettings({ Interval: 10e9 }), 'starting', 0), 10_000)
})

test('applyResult: success makes healthy and clears the streak', () => {
  const s = probeSettings({ Retries: 2 })
  const h = applyResult({ ...starting, FailingStreak: 1 }, result(1000, 0, 'ok\n'), s, T0)
  assert.deepEqual(h, {
    Status: 'healthy',
    FailingStreak: 0,
    Log: [result(1000, 0, 'ok\n')],
  })
})

test('applyResult: failures count; retries of them in a row make unhealthy', () => {
  const s = probeSettings({ Retries: 2 })
  let h = applyResult({ ...starting, Status: 'healthy' }, result(1000, 1), s, T0)
  assert.equal(h.Status, 'healthy')
  assert.equal(h.FailingStreak, 1)
  h = applyResult(h, result(2000, 2), s, T0)
  assert.equal(h.Status, 'unhealthy')
  assert.equal(h.FailingStreak, 2)
  h = applyResult(h, result(3000, -1), s, T0)
  assert.equal(h.Status, 'unhealthy')
  assert.equal(h.FailingStreak, 3)
  h = applyResult(h, result(4000, 0), s, T0)
  assert.equal(h.Status, 'healthy')
  assert.equal(h.FailingStreak, 0)
})

test('applyResult: within the start period a starting container does not count failures', () => {
  const s = probeSettings({ Retries: 1, StartPeriod: 5e9 })
  let h = applyResult(starting, result(1000, 1), s, T0)
  assert.deepEqual(h, { Status: 'starting', FailingStreak: 0, Log: [result(1000, 1)] })
  // A probe that began at the end of the period counts.
  h = applyResult(h, result(5000, 1), s, T0)
  assert.equal(h.Status, 'unhealthy')
  assert.equal(h.FailingStreak, 1)
  // Once healthy, the period no longer shields failures.
  const healthy = applyResult(starting, result(1000, 0), s, T0)
  assert.equal(applyResult(healthy, result(2000, 1), s, T0).Status, 'unhealthy')
})

test('applyResult: the log keeps the last five results, oldest first', () => {
  const s = probeSettings({})
  let h = starting
  for (let i = 0; i < 7; i++) h = applyResult(h, result(i * 1000, 0, `r${i}`), s, T0)
  assert.deepEqual(
    h.Log.map((l) => l.Output),
    ['r2', 'r3', 'r4', 'r5', 'r6'],
  )
})

test("timeoutOutput: Docker's words with Go's duration", () => {
  assert.equal(timeoutOutput(500), 'Health check exceeded timeout (500ms)')
  assert.equal(timeoutOutput(30_000), 'Health check exceeded timeout (30s)')
  assert.equal(timeoutOutput(90_000), 'Health check exceeded timeout (1m30s)')
})

test('LimitedOutput keeps the first 4096 bytes and marks the cut with "..."', () => {
  const o = new LimitedOutput()
  o.write(Buffer.from('a'.repeat(4000)))
  o.write(Buffer.from('b'.repeat(200)))
  const s = o.toString()
  assert.equal(s.length, MAX_OUTPUT_LEN + 3)
  assert.ok(s.endsWith('b'.repeat(96) + '...'))
  const exact = new LimitedOutput()
  exact.write(Buffer.from('c'.repeat(MAX_OUTPUT_LEN)))
  assert.equal(exact.toString(), 'c'.repeat(MAX_OUTPUT_LEN))
})
