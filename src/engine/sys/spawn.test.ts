import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SpawnError, spawnCollect } from './spawn.ts'

test('exit code and both streams, as the process left them', async () => {
  const r = await spawnCollect('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3'])
  assert.deepEqual(r, { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' })
})

test('stdin is empty, the environment and working directory are the daemon’s', async () => {
  process.env.BERTH_SPAWN_TEST = 'yes'
  try {
    const r = await spawnCollect('/bin/sh', ['-c', 'cat; echo "$BERTH_SPAWN_TEST"; pwd'])
    assert.equal(r.stdout, `yes\n${process.cwd()}\n`)
  } finally {
    delete process.env.BERTH_SPAWN_TEST
  }
})

test('signals at their defaults and unblocked: Node ignores SIGPIPE, the child does not', async () => {
  const r = await spawnCollect('/bin/sh', ['-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status'])
  const mask = (name: string): bigint =>
    BigInt(`0x${new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(r.stdout)![1]!}`)
  assert.equal(mask('SigBlk'), 0n)
  // glibc's spawn leaves its own two real-time signals (32 and 33, nptl's) ignored; a program
  // that uses them (Go's runtime, runc) installs its handlers over that.
  const nptl = (1n << 31n) | (1n << 32n)
  assert.equal(mask('SigIgn') & ~nptl, 0n)
})

test('a process killed by a signal: no code, the signal', async () => {
  const r = await spawnCollect('/bin/sh', ['-c', 'kill -TERM $$'])
  assert.equal(r.code, null)
  assert.equal(r.signal, 15)
})

test('a program that is not there: SpawnError with ENOENT’s words', async () => {
  await assert.rejects(spawnCollect('/no/such/program', []), (err: unknown) => {
    assert.ok(err instanceof SpawnError)
    assert.equal(err.errno, 2)
    assert.match(err.message, /No such file or directory/)
    return true
  })
})

test('output larger than a pipe holds, and many at once', async () => {
  const rs = await Promise.all(
    Array.from({ length: 8 }, () => spawnCollect('/bin/sh', ['-c', 'head -c 300000 /dev/zero'])),
  )
  for (const r of rs) assert.equal(r.stdout.length, 300000)
})
