import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  bytesSize,
  ellipsis,
  goQuote,
  humanDuration,
  humanSizeWithPrecision,
  parseGoDuration,
  truncateID,
} from './units.ts'

test('humanSizeWithPrecision', () => {
  const cases: Array<[number, string]> = [
    [0, '0B'],
    [999, '999B'],
    [1000, '1kB'],
    [1024, '1.02kB'],
    [4264000, '4.26MB'],
    [1980000, '1.98MB'],
    [999900, '1e+03kB'],
    [123456789, '123MB'],
    [12000000000, '12GB'],
  ]
  for (const [n, s] of cases) assert.equal(humanSizeWithPrecision(n, 3), s, String(n))
  assert.equal(bytesSize(16 * 1024 ** 3), '16GiB')
  assert.equal(bytesSize(1536), '1.5KiB')
})

test('humanDuration follows go-units', () => {
  const s = 1000
  const m = 60 * s
  const h = 60 * m
  const cases: Array<[number, string]> = [
    [500, 'Less than a second'],
    [1 * s, '1 second'],
    [59 * s, '59 seconds'],
    [60 * s, 'About a minute'],
    [119 * s, 'About a minute'],
    [2 * m, '2 minutes'],
    [59 * m, '59 minutes'],
    [60 * m, 'About an hour'],
    [89 * m, 'About an hour'],
    [90 * m, '2 hours'],
    [47 * h, '47 hours'],
    [48 * h, '2 days'],
    [14 * 24 * h, '2 weeks'],
    [60 * 24 * h, '2 months'],
    [2 * 365 * 24 * h, '2 years'],
  ]
  for (const [d, want] of cases) assert.equal(humanDuration(d), want, String(d))
})

test('ids, ellipsis, quoting, durations', () => {
  assert.equal(truncateID('sha256:69556921fa6ff4b76a04441603c668b5'), '69556921fa6f')
  assert.equal(ellipsis('sh -c while true; do sleep 1; done', 20), 'sh -c while true; d…')
  assert.equal(ellipsis('short', 20), 'short')
  assert.equal(goQuote(`sh -c 'exit 3'`), `"sh -c 'exit 3'"`)
  assert.equal(goQuote('a"b\\c\n'), '"a\\"b\\\\c\\n"')
  assert.equal(parseGoDuration('1h30m'), 5400000)
  assert.equal(parseGoDuration('10s'), 10000)
  assert.equal(parseGoDuration('2024-01-01'), undefined)
})
