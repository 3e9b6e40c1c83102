import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createLogger, logTime } from './log.ts'

const now = (): Date => new Date('2026-11-24T12:00:00.123Z')

test('logfmt lines in dockerd shape', () => {
  const lines: string[] = []
  const log = createLogger({ level: 'info', write: (l) => void lines.push(l), now })
  log.info('API listen on /run/berth/berth.sock')
  log.warn('odd', { path: '/a b', n: 3, ok: true, skip: undefined })
  log.error('bad "quote"')
  assert.deepEqual(lines, [
    'time="2026-11-24T12:00:00.123000000Z" level=info msg="API listen on /run/berth/berth.sock"\n',
    'time="2026-11-24T12:00:00.123000000Z" level=warning msg=odd path="/a b" n=3 ok=true\n',
    'time="2026-11-24T12:00:00.123000000Z" level=error msg="bad \\"quote\\""\n',
  ])
})

test('levels filter', () => {
  const lines: string[] = []
  const log = createLogger({ level: 'warn', write: (l) => void lines.push(l), now })
  log.debug('d')
  log.info('i')
  log.warn('w')
  log.error('e')
  assert.equal(lines.length, 2)
  const all: string[] = []
  createLogger({ level: 'debug', write: (l) => void all.push(l), now }).debug('d')
  assert.match(all[0]!, /level=debug msg=d\n$/)
})

test('time format', () => {
  assert.equal(logTime(new Date(0)), '1970-01-01T00:00:00.000000000Z')
})
