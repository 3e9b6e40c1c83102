import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { enterArgs, expectedUidMap, holderArgs, subIdRange, userNsPlan } from './userns.ts'
import { InvalidArgument } from '../errors.ts'
import { maxMappedId } from './profile.ts'

test('subIdRange finds the first well-formed entry by name or by uid', () => {
  const text =
    '# comment\nann:100000:65536\nbob:x:1\n1002:300000:1000\nbob:200000:65536\nann:900000:10\n'
  assert.deepEqual(subIdRange(text, { name: 'ann', id: 1001 }), { start: 100000, count: 65536 })
  assert.deepEqual(subIdRange(text, { name: 'bob', id: 1003 }), { start: 200000, count: 65536 })
  assert.deepEqual(subIdRange(text, { name: 'cat', id: 1002 }), { start: 300000, count: 1000 })
  assert.equal(subIdRange(text, { name: 'dan', id: 1004 }), undefined)
  assert.equal(
    subIdRange('eve:5:0\n', { name: 'eve', id: 1 }),
    undefined,
    'a zero count is no range',
  )
})

test('userNsPlan names the files that lack an entry for the user', async () => {
  const d = await mkdtemp(join(tmpdir(), 'userns-'))
  try {
    const files = { subuid: join(d, 'subuid'), subgid: join(d, 'subgid') }
    await writeFile(files.subuid, 'ann:100000:65536\n')
    const who = { name: 'ann', uid: 1001, gid: 1001, group: 'ann' }
    await assert.rejects(userNsPlan(who, files), (err: unknown) => {
      assert.ok(err instanceof InvalidArgument)
      assert.match(err.message, /subordinate IDs for user "ann" \(uid 1001\)/)
      assert.match(err.message, new RegExp(`${files.subgid} has no entry`))
      assert.doesNotMatch(err.message, new RegExp(`${files.subuid} `))
      return true
    })
    await writeFile(files.subgid, 'ann:500000:1000\n')
    const plan = await userNsPlan(who, files)
    assert.deepEqual(plan.subgid, { start: 500000, count: 1000 })
    assert.deepEqual(holderArgs(plan).slice(0, 4), [
      '--user',
      '--map-root-user',
      '--map-users=100000,1,65536',
      '--map-groups=500000,1,1000',
    ])
    assert.equal(expectedUidMap(plan), '0 1001 1\n1 100000 65536')
    assert.deepEqual(enterArgs(42, ['node', 'x']), [
      '--target',
      '42',
      '--user',
      '--mount',
      '--',
      'node',
      'x',
    ])
  } finally {
    await rm(d, { recursive: true, force: true })
  }
})

test('the highest mapped ID', () => {
  assert.equal(
    maxMappedId('         0       1001          1\n         1     100000      65536\n'),
    65536,
  )
})
