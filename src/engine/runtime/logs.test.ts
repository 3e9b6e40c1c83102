import assert from 'node:assert/strict'
import {
  appendFile,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  writeFile,
  type FileHandle,
} from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { LogKeeper, parseLogRecord, parseTime, readLog } from './logs.ts'
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

// conmon's k8s-file rotation, as conmon 2.1 does it: LOG.tmp opened with O_TRUNC|O_CREAT
// (through a symlink, when the keeper made one), then renamed over LOG.
async function conmonRotate(path: string): Promise<FileHandle> {
  const fh = await open(`${path}.tmp`, 'w')
  await rename(`${path}.tmp`, path)
  return fh
}

describe('LogKeeper and rotated logs', () => {
  let dir: string
  let remove: () => Promise<void>
  let n = 0
  const logDir = async (): Promise<string> => {
    const d = join(dir, `c${n++}`)
    await mkdir(d)
    return join(d, 'ctr.log')
  }
  const lines = (from: number, to: number): string[] => {
    const out: string[] = []
    for (let i = from; i <= to; i++) out.push(`t:l${i}\n`)
    return out
  }
  before(async () => ({ dir, remove } = await tempDir('berth-keeper-')))
  after(() => remove())

  test('keeps max-file generations; reading goes across them, oldest first', async () => {
    const path = await logDir()
    const k = new LogKeeper(path, 3)
    await k.start()
    let fh = await open(path, 'a')
    let i = 0
    for (let gen = 0; gen < 5; gen++) {
      for (let j = 0; j < 2; j++) await fh.write(rec(i, 'stdout', 'F', `l${i++}`))
      await fh.close()
      if (gen < 4) {
        fh = await conmonRotate(path)
        await k.sync()
      }
    }
    const names = (await readdir(dirname(path))).sort()
    assert.deepEqual(names, ['ctr.log', 'ctr.log.3', 'ctr.log.4', 'ctr.log.5', 'ctr.log.tmp'])
    assert.ok((await lstat(path)).isSymbolicLink())
    assert.deepEqual(await collect(path), lines(4, 9))
    assert.deepEqual(await collect(path, { tail: 3 }), lines(7, 9))
    assert.deepEqual(await collect(path, { tail: 5 }), lines(5, 9))
  })

  test('compress: the generations left are gzipped; reading and tail go across them', async () => {
    const path = await logDir()
    const k = new LogKeeper(path, 4, true)
    await k.start()
    let fh = await open(path, 'a')
    let i = 0
    for (let gen = 0; gen < 5; gen++) {
      // A line cut in two across a rotation too (P then F).
      for (let j = 0; j < 3; j++) await fh.write(rec(i, 'stdout', 'F', `l${i++}`))
      await fh.write(rec(i, 'stdout', 'P', `l${i}`))
      await fh.close()
      fh = await conmonRotate(path)
      await fh.write(rec(i, 'stdout', 'F', `+${i++}`))
      await k.sync()
    }
    await fh.close()
    const names = (await readdir(dirname(path))).sort()
    assert.deepEqual(names, [
      'ctr.log',
      'ctr.log.3.gz',
      'ctr.log.4.gz',
      'ctr.log.5.gz',
      'ctr.log.6',
      'ctr.log.tmp',
    ])
    const gz = await readFile(join(dirname(path), 'ctr.log.4.gz'))
    assert.deepEqual([...gz.subarray(0, 2)], [0x1f, 0x8b], 'gzip')
    const want: string[] = []
    for (let x = 7; x < 19; x += 4) want.push(`t:+${x}\n`, ...lines(x + 1, x + 3), `t:l${x + 4}`)
    want.push('t:+19\n')
    assert.deepEqual(await collect(path), want)
    // tail counts back across the compressed files (a trailing P run counts as a line there,
    // as it does in a plain one).
    assert.deepEqual(await collect(path, { tail: 1 }), ['t:+19\n'])
    assert.deepEqual(await collect(path, { tail: 5 }), want.slice(-5))
    assert.deepEqual(await collect(path, { tail: 100 }), want)
    assert.deepEqual(await collect(path, { since: 13, until: 14 }), lines(13, 14))
  })

  for (const follow of [false, true]) {
    test(`generations compressed mid-read: every line read once, in order${follow ? ' (follow)' : ''}`, async () => {
      const path = await logDir()
      // Rotation only at first: the generations are plain when the reader starts.
      const plain = new LogKeeper(path, 10)
      const gzip = new LogKeeper(path, 10, true)
      await plain.start()
      let fh = await open(path, 'a')
      let i = 0
      const fill = async (n: number): Promise<void> => {
        for (let j = 0; j < n; j++) await fh.write(rec(i, 'stdout', 'F', `l${i++}`))
      }
      for (let gen = 0; gen < 3; gen++) {
        await fill(5)
        await fh.close()
        fh = await conmonRotate(path)
        await plain.sync()
      }
      await fill(5)
      let stop!: () => void
      const stopWhen = new Promise<void>((r) => (stop = r))
      const reader = readLog(path, { follow, stopWhen })
      const got: string[] = []
      const take = async (n: number): Promise<void> => {
        for (let j = 0; j < n; j++) {
          const r = await reader.next()
          assert.ok(!r.done)
          got.push(show(r.value))
        }
      }
      // In the middle of LOG.1, open as a plain file: it and LOG.2, LOG.3 are gzipped under it.
      await take(2)
      await gzip.sync()
      assert.deepEqual((await readdir(dirname(path))).filter((n) => n.endsWith('.gz')).sort(), [
        'ctr.log.1.gz',
        'ctr.log.2.gz',
        'ctr.log.3.gz',
      ])
      // In the middle of LOG.2, read from its .gz: more rotations, compressed as they come.
      await take(6)
      for (let gen = 0; gen < 2; gen++) {
        await fh.close()
        fh = await conmonRotate(path)
        await gzip.sync()
        await fill(5)
      }
      await fh.close()
      stop()
      for await (const e of reader) got.push(show(e))
      assert.deepEqual(got, lines(0, i - 1))
    })
  }

  test('a rotation the keeper missed leaves LOG a plain file, linked as the next one', async () => {
    const path = await logDir()
    const k = new LogKeeper(path, 5)
    await k.start()
    let fh = await open(path, 'a')
    await fh.write(rec(0, 'stdout', 'F', 'l0'))
    await fh.close()
    // Two rotations before the keeper looks: the first through its symlink, the second plain.
    fh = await conmonRotate(path)
    await fh.write(rec(1, 'stdout', 'F', 'l1'))
    await fh.close()
    fh = await conmonRotate(path)
    await fh.write(rec(2, 'stdout', 'F', 'l2'))
    assert.ok((await lstat(path)).isFile())
    await k.sync()
    assert.ok((await lstat(path)).isFile(), 'conmon may still write it: left in place')
    assert.deepEqual(await collect(path), lines(0, 2))
    // The next rotation goes through the keeper's symlink again; nothing is lost.
    await fh.close()
    fh = await conmonRotate(path)
    await fh.write(rec(3, 'stdout', 'F', 'l3'))
    await fh.close()
    await k.sync()
    assert.deepEqual(await collect(path), lines(0, 3))
  })

  for (const compress of [false, true]) {
    test(`follow reads on across rotations as they happen${compress ? ' (compressed)' : ''}`, async () => {
      const path = await logDir()
      const k = new LogKeeper(path, 3, compress)
      await k.start()
      k.watch()
      let fh = await open(path, 'a')
      let stop!: () => void
      const stopWhen = new Promise<void>((r) => (stop = r))
      const got: string[] = []
      const reading = (async () => {
        for await (const e of readLog(path, { follow: true, stopWhen })) got.push(show(e))
      })()
      for (let i = 0; i < 6; i++) {
        await fh.write(rec(i, 'stdout', 'F', `l${i}`))
        if (i % 2 === 1) {
          await fh.close()
          await k.idle()
          fh = await conmonRotate(path)
        }
        // Let the reader catch up now and then (it may read a file after the keeper removed it).
        await new Promise((r) => setTimeout(r, 20))
      }
      await fh.close()
      stop()
      await reading
      k.close()
      await k.idle()
      assert.deepEqual(got, lines(0, 5))
      if (compress) {
        await k.sync()
        const names = await readdir(dirname(path))
        assert.ok(names.includes('ctr.log.2.gz') && names.includes('ctr.log.3.gz'), names.join())
      }
    })
  }
})
