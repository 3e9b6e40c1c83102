// moby's own cases for timetypes.GetTimestamp and ParseTimestamps (api/types/time).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ParseError } from './errors.ts'
import { getTimestamp, parseTimestamps, timestampNanos } from './timestamp.ts'

// Dates without a zone are read in the local zone; pin it, as moby's test pins UTC.
process.env.TZ = 'UTC'

describe('getTimestamp', () => {
  const now = Date.parse('2024-06-01T12:00:00.250Z')
  const nowSec = Math.floor(now / 1000)
  const ok: [string, string][] = [
    ['2006-01-02T15:04:05.999999999+07:00', '1136189045.999999999'],
    ['2006-01-02T15:04:05.999999999Z', '1136214245.999999999'],
    ['2006-01-02T15:04:05.999999999', '1136214245.999999999'],
    ['2006-01-02T15:04:05Z', '1136214245.000000000'],
    ['2006-01-02T15:04:05', '1136214245.000000000'],
    ['2006-01-02T15:04Z', '1136214240.000000000'],
    ['2006-01-02T15:04+00:00', '1136214240.000000000'],
    ['2006-01-02T15:04-00:00', '1136214240.000000000'],
    ['2006-01-02T15:04', '1136214240.000000000'],
    ['2006-01-02T15Z', '1136214000.000000000'],
    ['2006-01-02T15+00:00', '1136214000.000000000'],
    ['2006-01-02T15-00:00', '1136214000.000000000'],
    ['2006-01-02T15', '1136214000.000000000'],
    ['2006-01-02T1Z', '1136163600.000000000'],
    ['2006-01-02T1', '1136163600.000000000'],
    ['2006-01-02+00:00', '1136160000.000000000'],
    ['2006-01-02-00:00', '1136160000.000000000'],
    ['2006-01-02-00:01', '1136160060.000000000'],
    ['2006-01-02Z', '1136160000.000000000'],
    ['2006-01-02', '1136160000.000000000'],
    ['2015-05-13T20:39:09Z', '1431549549.000000000'],
    ['1136073600', '1136073600'],
    ['1136073600.000000001', '1136073600.000000001'],
    ['1m', String(nowSec - 60)],
    ['1.5h', String(nowSec - 5400)],
    ['1h30m', String(nowSec - 5400)],
  ]
  for (const [input, want] of ok) {
    test(`${input} → ${want}`, () => assert.equal(getTimestamp(input, now), want))
  }
  const bad: [string, string][] = [
    [
      '2006-01-02T15:04:0Z',
      'parsing time "2006-01-02T15:04:0Z" as "2006-01-02T15:04:05Z07:00": cannot parse "0Z" as "05"',
    ],
    [
      '2006-01-02T15:04:0',
      'parsing time "2006-01-02T15:04:0" as "2006-01-02T15:04:05": cannot parse "0" as "05"',
    ],
    [
      '2006-01-02T15:0Z',
      'parsing time "2006-01-02T15:0Z" as "2006-01-02T15:04Z07:00": cannot parse "0Z" as "04"',
    ],
    [
      '2006-01-02T15:0',
      'parsing time "2006-01-02T15:0" as "2006-01-02T15:04": cannot parse "0" as "04"',
    ],
    [
      '2006-01-02TZ',
      'parsing time "2006-01-02TZ" as "2006-01-02T15Z07:00": cannot parse "Z" as "15"',
    ],
    ['2006-01-02T', 'parsing time "2006-01-02T" as "2006-01-02T15": cannot parse "" as "15"'],
    ['2006-13-02', 'parsing time "2006-13-02": month out of range'],
    ['2006-02-30', 'parsing time "2006-02-30": day out of range'],
    ['2006-01-02x', 'parsing time "2006-01-02x": extra text: "x"'],
    ['invalid', 'failed to parse value as time or duration: "invalid"'],
    ['', 'failed to parse value as time or duration: ""'],
  ]
  for (const [input, message] of bad) {
    test(`refuses ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => getTimestamp(input, now),
        (err: Error) => err instanceof ParseError && err.message === message,
      )
    })
  }
  test('a date without a zone is in the zone of the local clock', () => {
    process.env.TZ = 'Etc/GMT-2' // two hours east of UTC
    try {
      assert.equal(getTimestamp('2006-01-02T15:04', now), '1136207040.000000000')
    } finally {
      process.env.TZ = 'UTC'
    }
  })
})

describe('parseTimestamps', () => {
  test('seconds with an optional fraction, as nanoseconds', () => {
    assert.equal(parseTimestamps('1136073600'), 1136073600_000000000n)
    assert.equal(parseTimestamps('1136073600.000000001'), 1136073600_000000001n)
    assert.equal(parseTimestamps('1136073600.5'), 1136073600_500000000n)
    assert.equal(parseTimestamps('', 7n), 7_000000000n)
    assert.throws(() => parseTimestamps('1h'), /strconv.ParseInt: parsing "1h": invalid syntax/)
  })
  test('timestampNanos reads any of the client forms', () => {
    const now = Date.parse('2024-06-01T12:00:00Z')
    assert.equal(timestampNanos('10m', now), BigInt(now - 600_000) * 1_000_000n)
    assert.equal(
      timestampNanos('2024-06-01T00:00:00Z', now),
      BigInt(now - 12 * 3600_000) * 1_000_000n,
    )
  })
})
