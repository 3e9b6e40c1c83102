import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ParseError } from './errors.ts'
import { parseSignal } from './signal.ts'

test('parseSignal reads names, numbers and real-time offsets as Docker does', () => {
  const ok: [string, number][] = [
    ['KILL', 9],
    ['SIGKILL', 9],
    ['kill', 9],
    ['sigterm', 15],
    ['9', 9],
    ['64', 64],
    ['USR1', 10],
    ['CLD', 17],
    ['IOT', 6],
    ['POLL', 29],
    ['RTMIN', 34],
    ['RTMIN+2', 36],
    ['SIGRTMAX', 64],
    ['RTMAX-1', 63],
  ]
  for (const [raw, n] of ok) assert.equal(parseSignal(raw), n, raw)
  for (const raw of ['0', '-1', '65', 'FOO', 'SIG', '', 'RTMIN+31', 'RTMAX-31']) {
    assert.throws(
      () => parseSignal(raw),
      (err: Error) => err instanceof ParseError && err.message === `Invalid signal: ${raw}`,
      raw,
    )
  }
})
