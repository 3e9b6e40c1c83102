// Go's own table for time.ParseDuration (time/time_test.go), as the rules berth must follow.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { formatDuration, parseDuration, parseDurationMs } from './duration.ts'
import { ParseError } from './errors.ts'

const ns = 1n
const us = 1000n * ns
const ms = 1000n * us
const s = 1000n * ms
const m = 60n * s
const h = 60n * m
const MIN = -(1n << 63n)

describe('parseDuration follows Go', () => {
  const ok: [string, bigint][] = [
    ['0', 0n],
    ['5s', 5n * s],
    ['30s', 30n * s],
    ['1478s', 1478n * s],
    ['-5s', -5n * s],
    ['+5s', 5n * s],
    ['-0', 0n],
    ['+0', 0n],
    ['5.0s', 5n * s],
    ['5.6s', 5n * s + 600n * ms],
    ['5.s', 5n * s],
    ['.5s', 500n * ms],
    ['1.0s', 1n * s],
    ['1.00s', 1n * s],
    ['1.004s', 1n * s + 4n * ms],
    ['1.0040s', 1n * s + 4n * ms],
    ['100.00100s', 100n * s + 1n * ms],
    ['10ns', 10n * ns],
    ['11us', 11n * us],
    ['12µs', 12n * us],
    ['12μs', 12n * us],
    ['13ms', 13n * ms],
    ['14s', 14n * s],
    ['15m', 15n * m],
    ['16h', 16n * h],
    ['3h30m', 3n * h + 30n * m],
    ['10.5s4m', 4n * m + 10n * s + 500n * ms],
    ['-2m3.4s', -(2n * m + 3n * s + 400n * ms)],
    ['1h2m3s4ms5us6ns', 1n * h + 2n * m + 3n * s + 4n * ms + 5n * us + 6n * ns],
    ['39h9m14.425s', 39n * h + 9n * m + 14n * s + 425n * ms],
    ['52763797000ns', 52763797000n],
    ['0.3333333333333333333h', 20n * m],
    ['9007199254740993ns', (1n << 53n) + 1n],
    ['9223372036854775807ns', (1n << 63n) - 1n],
    ['9223372036854775.807us', (1n << 63n) - 1n],
    ['9223372036854ms775us807ns', (1n << 63n) - 1n],
    ['-9223372036854775808ns', MIN],
    ['-9223372036854775.808us', MIN],
    ['-9223372036854ms775us808ns', MIN],
    ['-2562047h47m16.854775808s', MIN],
    ['0.100000000000000000000h', 6n * m],
    ['0.830103483285477580700h', 49n * m + 48n * s + 372539827n * ns],
  ]
  for (const [input, want] of ok) {
    test(`${input} = ${want} ns`, () => assert.equal(parseDuration(input), want))
  }

  const bad: [string, string][] = [
    ['', 'time: invalid duration ""'],
    ['3', 'time: missing unit in duration "3"'],
    ['-', 'time: invalid duration "-"'],
    ['s', 'time: invalid duration "s"'],
    ['.', 'time: invalid duration "."'],
    ['-.', 'time: invalid duration "-."'],
    ['.s', 'time: invalid duration ".s"'],
    ['+.s', 'time: invalid duration "+.s"'],
    ['1d', 'time: unknown unit "d" in duration "1d"'],
    ['1h2', 'time: missing unit in duration "1h2"'],
    ['\uFFFD', 'time: invalid duration "\\xef\\xbf\\xbd"'],
    ['1µ', 'time: unknown unit "\\xc2\\xb5" in duration "1\\xc2\\xb5"'],
    ['9223372036854775810ns', 'time: invalid duration "9223372036854775810ns"'],
    ['9223372036854775808ns', 'time: invalid duration "9223372036854775808ns"'],
    ['-9223372036854775809ns', 'time: invalid duration "-9223372036854775809ns"'],
    ['9223372036855s', 'time: invalid duration "9223372036855s"'],
    ['3000000h', 'time: invalid duration "3000000h"'],
    ['9223372036854775.808us', 'time: invalid duration "9223372036854775.808us"'],
    ['9223372036854ms775us808ns', 'time: invalid duration "9223372036854ms775us808ns"'],
    ['1 s', 'time: unknown unit " s" in duration "1 s"'],
    ['2024-01-01', 'time: unknown unit "-" in duration "2024-01-01"'],
  ]
  for (const [input, message] of bad) {
    test(`refuses ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => parseDuration(input),
        (err: Error) => err instanceof ParseError && err.message === message,
      )
    })
  }

  test('in milliseconds', () => {
    assert.equal(parseDurationMs('1h30m'), 5_400_000)
    assert.equal(parseDurationMs('250us'), 0.25)
  })
})

test("formatDuration prints as Go's Duration.String", () => {
  const cases: [bigint, string][] = [
    [0n, '0s'],
    [1n, '1ns'],
    [1_500n, '1.5µs'],
    [1_000_000n, '1ms'],
    [500_000_000n, '500ms'],
    [1_000_000_000n, '1s'],
    [1_500_000_000n, '1.5s'],
    [30_000_000_000n, '30s'],
    [90_000_000_000n, '1m30s'],
    [3_600_000_000_000n, '1h0m0s'],
    [-2_000_000_000n, '-2s'],
  ]
  for (const [ns, s] of cases) assert.equal(formatDuration(ns), s, String(ns))
  // Round trip with the parser.
  for (const s of ['1h2m3.5s', '250ms', '7µs']) assert.equal(formatDuration(parseDuration(s)), s)
})
