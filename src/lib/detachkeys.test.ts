import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { DetachScanner, parseDetachKeys } from './detachkeys.ts'

describe('parseDetachKeys', () => {
  const ok: [string, number[]][] = [
    ['ctrl-p,ctrl-q', [16, 17]],
    ['ctrl-a,b', [1, 98]],
    ['ctrl-@', [0]],
    ['ctrl-[,ctrl-_', [27, 31]],
    ['DEL', [127]],
    ['a,b,c', [97, 98, 99]],
  ]
  for (const [keys, bytes] of ok) {
    test(keys, () => assert.deepEqual(parseDetachKeys(keys), bytes))
  }
  for (const bad of ['foo', 'ctrl-', 'ctrl-1', 'ctrl-P', '', 'a,,b']) {
    test(`refuses ${JSON.stringify(bad)}`, () =>
      assert.throws(() => parseDetachKeys(bad), {
        name: 'ParseError',
        message: new RegExp(`^Unknown character: '`),
      }))
  }
})

describe('DetachScanner', () => {
  const run = (chunks: string[], keys?: number[]) => {
    const s = new DetachScanner(keys)
    let out = ''
    for (const c of chunks) {
      const r = s.push(Buffer.from(c, 'latin1'))
      out += r.forward.toString('latin1')
      if (r.detached) return { out, detached: true }
    }
    return { out, detached: false }
  }

  test('passes plain input through', () => {
    assert.deepEqual(run(['echo hi\r']), { out: 'echo hi\r', detached: false })
  })
  test('detaches on ctrl-p ctrl-q, forwarding what came before', () => {
    assert.deepEqual(run(['ab\x10\x11cd']), { out: 'ab', detached: true })
  })
  test('matches across chunks', () => {
    assert.deepEqual(run(['ab\x10', '\x11']), { out: 'ab', detached: true })
  })
  test('holds a partial match back, then releases it when the sequence breaks', () => {
    const s = new DetachScanner()
    assert.equal(s.push(Buffer.from('x\x10')).forward.toString('latin1'), 'x')
    assert.equal(s.push(Buffer.from('y')).forward.toString('latin1'), '\x10y')
  })
  test('a repeated first key restarts the match', () => {
    assert.deepEqual(run(['\x10\x10\x11']), { out: '\x10', detached: true })
  })
  test('custom keys', () => {
    assert.deepEqual(run(['hello\x01b'], [1, 98]), { out: 'hello', detached: true })
    assert.deepEqual(run(['\x10\x11'], [1, 98]), { out: '\x10\x11', detached: false })
  })
})
