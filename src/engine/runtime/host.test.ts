import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { devMajorMinor } from '../sys/libc.ts'
import { parseCapBnd, parseProcLimits } from './host.ts'

describe('host facts', () => {
  test('hard limits from /proc/self/limits, unlimited left out', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max cpu time              unlimited            unlimited            seconds   ',
      'Max processes             96364                96364                processes ',
      'Max open files            1024                 20000                files     ',
      'Max locked memory         8388608              8388608              bytes     ',
    ].join('\n')
    assert.deepEqual(parseProcLimits(text), { nproc: 96364, nofile: 20000, memlock: 8388608 })
  })

  test('the bounding set from /proc/self/status', () => {
    assert.equal(
      parseCapBnd('Name:\tx\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n'),
      '000001fffeffffff',
    )
  })

  test('dev_t splits as glibc does', () => {
    assert.deepEqual(devMajorMinor(0x103n), { major: 1, minor: 3 })
    assert.deepEqual(devMajorMinor((259n << 8n) | 5n), { major: 259, minor: 5 })
    // glibc's makedev, for numbers past the old 8-bit split
    const makedev = (ma: bigint, mi: bigint): bigint =>
      ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n)
    assert.deepEqual(devMajorMinor(makedev(0x1002n, 0x123n)), { major: 0x1002, minor: 0x123 })
  })
})
