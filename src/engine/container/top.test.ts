import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parsePsOutput, top, validatePsArgs } from './top.ts'
import { parseSignal } from './signals.ts'
import {
  emptyStats,
  parseBlkio,
  parseIoStat,
  parseKeyValues,
  parseNetDev,
  systemCpuUsage,
} from './stats.ts'
import { runcUpdateArgs } from '../runtime/update.ts'
import { mergeUpdate, updateResources } from './lifecycle.ts'

describe('top', () => {
  test('keeps the container pids, joins overhanging fields, follows thread rows', () => {
    const out = [
      'UID   PID  PPID CMD',
      'root  1    0    /sbin/init',
      'root  42   1    sleep 1000 --flag',
      '-     -    -    thread',
      'root  43   1    other',
      '-     -    -    hidden',
      '',
    ].join('\n')
    const r = parsePsOutput(out, [42])
    assert.deepEqual(r.Titles, ['UID', 'PID', 'PPID', 'CMD'])
    assert.deepEqual(r.Processes, [
      ['root', '42', '1', 'sleep 1000 --flag'],
      ['-', '-', '-', 'thread'],
    ])
  })

  test('no PID column is an error; a renamed PID column is refused', () => {
    assert.throws(() => parsePsOutput('A B\n1 2\n', [1]), /Couldn't find PID field in ps output/)
    assert.throws(() => validatePsArgs('-o user=PID'), /specifying "user=PID" is not allowed/)
    validatePsArgs('-o pid=PID')
    validatePsArgs('aux')
  })

  test('runs the host ps for real pids', async () => {
    const r = await top([process.pid], '-o pid,comm')
    assert.deepEqual(r.Titles, ['PID', 'COMMAND'])
    assert.deepEqual(r.Processes, [[String(process.pid), 'node']])
  })
})

describe('signals', () => {
  test('names, SIG prefixes, numbers; Docker words for a bad one', () => {
    assert.equal(parseSignal('KILL'), 9)
    assert.equal(parseSignal('sigterm'), 15)
    assert.equal(parseSignal('10'), 10)
    assert.equal(parseSignal('RTMIN+2'), 36)
    assert.throws(
      () => parseSignal('FOO'),
      /^InvalidArgument: Invalid signal: FOO$|Invalid signal: FOO/,
    )
    assert.throws(() => parseSignal('0'), /Invalid signal: 0/)
  })
})

describe('stats parsing', () => {
  test('cgroup v1 and v2 files', () => {
    assert.deepEqual(parseKeyValues('cache 4096\nrss 8192\nbad x\n'), { cache: 4096, rss: 8192 })
    assert.deepEqual(parseBlkio('8:0 Read 100\n8:0 Write 7\nTotal 107\n'), [
      { major: 8, minor: 0, op: 'Read', value: 100 },
      { major: 8, minor: 0, op: 'Write', value: 7 },
    ])
    const io = parseIoStat('8:0 rbytes=5 wbytes=6 rios=1 wios=2 dbytes=0\n')
    assert.deepEqual(io.bytes, [
      { major: 8, minor: 0, op: 'read', value: 5 },
      { major: 8, minor: 0, op: 'write', value: 6 },
    ])
    assert.equal(systemCpuUsage('cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1\n'), 28 * 1e7)
  })

  test('net/dev without interfaces other than lo is no network', () => {
    const head = 'Inter-|   Receive\n face |bytes    packets\n'
    assert.equal(parseNetDev(head + '    lo: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n'), undefined)
    const n = parseNetDev(head + '  eth0: 10 2 0 0 0 0 0 0 30 4 0 0 0 0 0 0\n')
    assert.equal(n?.eth0?.rx_bytes, 10)
    assert.equal(n?.eth0?.tx_bytes, 30)
  })

  test('a stopped container has zero stats in Docker shape', () => {
    const s = emptyStats('/x', 'abc')
    assert.equal(s.read, '0001-01-01T00:00:00Z')
    assert.equal(s.name, '/x')
    assert.deepEqual(s.memory_stats, {})
    assert.equal(s.networks, undefined)
  })
})

describe('update', () => {
  test('request to HostConfig, with Docker conflicts', () => {
    const hc = mergeUpdate({ NetworkMode: 'default' }, { Memory: 64 << 20, NanoCpus: 5e8 })
    assert.equal(hc.Memory, 64 << 20)
    assert.equal(hc.NanoCpus, 5e8)
    assert.throws(
      () => mergeUpdate(hc, { CpuQuota: 1000 }),
      /CPU Quota cannot be updated as NanoCPUs has already been set/,
    )
    assert.throws(
      () => mergeUpdate({ MemorySwap: 32 << 20 }, { Memory: 64 << 20 }),
      /Memory limit should be smaller than already set memoryswap limit/,
    )
    assert.throws(
      () => mergeUpdate({ AutoRemove: true }, { RestartPolicy: { Name: 'always' } }),
      /Restart policy cannot be updated because AutoRemove is enabled/,
    )
  })

  test('runc update flags', () => {
    const r = updateResources({ Memory: 67108864, NanoCpus: 5e8, PidsLimit: 0 })
    assert.deepEqual(runcUpdateArgs(r!), [
      '--memory',
      '67108864',
      '--cpu-period',
      '100000',
      '--cpu-quota',
      '50000',
      '--pids-limit',
      '-1',
    ])
    assert.equal(updateResources({ RestartPolicy: { Name: 'always' } }), undefined)
  })
})
