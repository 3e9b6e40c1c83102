import assert from 'node:assert/strict'
import { appendFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parseLogRecord, parseTime, readLog } from './logs.ts'
import { tempDir } from './testutil.ts'
import type { LogEntry, LogReadOptions } from './types.ts'

const T = (s: number, ns = 0): string =>
  `${new Date(s * 1000).toISOString().slice(0, 19)}.${String(ns).padStart(9, '0')}+00:00`
const rec = (s: number, stream: string, tag: string, text: string): string =>
  `${T(s)} ${stream} ${tag} ${text}\n`

async function collect(path: string, opts: Partial<LogReadOptions> = {}): Promise<string[]> {
  const out: string[] = []
  for await (const e of readLog(path, { follow: false, ...opts })) out.push(show(e))
  return out
}
const show = (e: LogEntry): string => `${e.stream === 'stdout' ? 't' : 'r'}:${e.data.toString()}`

describe('readLog', () => {
  let dir: string
  let remove: () => Promise<void>
  let n = 0
  const file = async (content: string): Promise<string> => {
    const p = join(dir, `log${n++}`)
    await writeFile(p, content)
    return p
  }
  before(async () => ({ dir, remove } = await tempDir('berth-logs-')))
  after(() => remove())

  test('parses records: F appends a newline, P does not; empty lines; both zone styles', async () => {
    const p = await file(
      rec(100, 'stdout', 'P', 'par') +
        rec(100, 'stdout', 'F', 'tial') +
        rec(101, 'stderr', 'F', '') +
        `1970-01-01T00:01:42.5Z stdout F zulu time\n` +
        'garbage line\n' +
        rec(103, 'stdout', 'F', 'with  spaces ') +
        rec(104, 'stdout', 'F', 'unfinished').slice(0, -1),
    )
    assert.deepEqual(await collect(p), [
      't:par',
      't:tial\n',
      'r:\n',
      't:zulu time\n',
      't:with  spaces \n',
    ])
  })

  test('parseTime keeps nanoseconds within a double', () => {
    assert.equal(parseTime('2024-01-01T00:00:00.5Z'), 1704067200.5)
    assert.equal(parseTime('2024-01-01T01:00:00.250000000+01:00'), 1704067200.25)
    assert.ok(Number.isNaN(parseTime('yesterday')))
    const r = parseLogRecord(Buffer.from('2024-01-01T00:00:00.123456789Z stdout F hi'))
    assert.equal(r?.entry.time, '2024-01-01T00:00:00.123456789Z')
    assert.equal(r?.full, true)
  })

  test('missing file: nothing', async () => {
    assert.deepEqual(await collect(join(dir, 'none')), [])
  })

  test('tail counts lines, a partial line with its end as one', async () => {
    const p = await file(
      rec(1, 'stdout', 'F', 'a') +
        rec(2, 'stdout', 'P', 'b1') +
        rec(2, 'stdout', 'P', 'b2') +
        rec(2, 'stdout', 'F', 'b3') +
        rec(3, 'stderr', 'F', 'c') +
        rec(4, 'stdout', 'P', 'd-open'),
    )
    assert.deepEqual(await collect(p, { tail: 0 }), [])
    assert.deepEqual(await collect(p, { tail: 1 }), ['t:d-open'])
    assert.deepEqual(await collect(p, { tail: 2 }), ['r:c\n', 't:d-open'])
    assert.deepEqual(await collect(p, { tail: 3 }), ['t:b1', 't:b2', 't:b3\n', 'r:c\n', 't:d-open'])
    assert.equal((await collect(p, { tail: 4 })).length, 6)
    assert.equal((await collect(p, { tail: 100 })).length, 6)
  })

  test('tail across many chunks', async () => {
    let content = ''
    for (let i = 0; i < 5000; i++)
      content += rec(i, 'stdout', 'F', `line ${i} ${'x'.repeat(i % 50)}`)
    const p = await file(content)
    const last = await collect(p, { tail: 1234 })
    assert.equal(last.length, 1234)
    assert.match(last[0]!, /^t:line 3766 /)
    assert.match(last.at(-1)!, /^t:line 4999 /)
    assert.equal((await collect(p, { tail: 5000 })).length, 5000)
    assert.equal((await collect(p, { tail: 4999 }))[0]!.startsWith('t:line 1 '), true)
  })

  test('since and until', async () => {
    const p = await file(
      rec(10, 'stdout', 'F', 'a') + rec(20, 'stdout', 'F', 'b') + rec(30, 'stdout', 'F', 'c'),
    )
    assert.deepEqual(await collect(p, { since: 20 }), ['t:b\n', 't:c\n'])
    assert.deepEqual(await collect(p, { until: 20 }), ['t:a\n', 't:b\n'])
    assert.deepEqual(await collect(p, { since: 11, until: 29.5 }), ['t:b\n'])
    assert.deepEqual(await collect(p, { tail: 1, since: 5 }), ['t:c\n'])
  })

  test('follow: sees appends, stops once stopWhen resolves and the rest is read', async () => {
    const p = await file(rec(1, 'stdout', 'F', 'first'))
    let stop!: () => void
    const stopWhen = new Promise<void>((r) => (stop = r))
    const got: string[] = []
    const reading = (async () => {
      for await (const e of readLog(p, { follow: true, stopWhen })) got.push(show(e))
    })()
    await new Promise((r) => setTimeout(r, 30))
    await appendFile(p, rec(2, 'stdout', 'F', 'second'))
    // A record written in two pieces comes out once whole.
    const third = rec(3, 'stderr', 'F', 'third')
    await appendFile(p, third.slice(0, 20))
    await new Promise((r) => setTimeout(r, 30))
    await appendFile(p, third.slice(20))
    await appendFile(p, rec(4, 'stdout', 'F', 'last'))
    stop()
    await reading
    assert.deepEqual(got, ['t:first\n', 't:second\n', 'r:third\n', 't:last\n'])
  })

  test('follow: abort ends it', async () => {
    const p = await file(rec(1, 'stdout', 'F', 'only'))
    const ac = new AbortController()
    const got: string[] = []
    const reading = (async () => {
      for await (const e of readLog(p, { follow: true, signal: ac.signal })) got.push(show(e))
    })()
    await new Promise((r) => setTimeout(r, 30))
    ac.abort()
    await reading
    assert.deepEqual(got, ['t:only\n'])
  })

  test('follow with tail 0 shows only what comes next', async () => {
    const p = await file(rec(1, 'stdout', 'F', 'old'))
    let stop!: () => void
    const stopWhen = new Promise<void>((r) => (stop = r))
    const got: string[] = []
    const reading = (async () => {
      for await (const e of readLog(p, { follow: true, tail: 0, stopWhen })) got.push(show(e))
    })()
    await new Promise((r) => setTimeout(r, 30))
    await appendFile(p, rec(2, 'stdout', 'F', 'new'))
    stop()
    await reading
    assert.deepEqual(got, ['t:new\n'])
  })
})
