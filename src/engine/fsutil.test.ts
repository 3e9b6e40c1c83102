import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { copySmallFileKeeping, spreadNewDirectories } from './fsutil.ts'

const EXT4_SUPER_MAGIC = 0xef53

// The layer store marks its tmp/ so ext4 spreads new layers over block groups: lsattr shows the
// mark (T), a second call keeps it, and a filesystem without such flags is left alone.
test('spreadNewDirectories marks a directory chattr +T on ext4, and only says so there', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spread-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const ext4 = statfsSync(dir).type === EXT4_SUPER_MAGIC
  assert.equal(await spreadNewDirectories(dir), ext4)
  assert.equal(await spreadNewDirectories(dir), ext4)
  if (ext4) {
    const attrs = execFileSync('lsattr', ['-d', dir], { encoding: 'utf8' }).split(' ')[0]!
    assert.match(attrs, /T/)
  }
  await assert.rejects(spreadNewDirectories(join(dir, 'missing')), { code: 'ENOENT' })
  mkdirSync('/dev/shm/spread-test', { recursive: true })
  t.after(() => rmSync('/dev/shm/spread-test', { recursive: true, force: true }))
  assert.equal(await spreadNewDirectories('/dev/shm/spread-test'), false)
})

// The copy reads a file with the size its caller's lstat gave: a file that grew since is read
// whole, or left to the other copy when it grew too big; the mode is the source's either way.
test('copySmallFileKeeping copies what the file holds now, with its mode', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keep-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const src = join(dir, 'src')
  writeFileSync(src, 'hello, world\n', { mode: 0o640 })
  const st = { size: 5, uid: process.getuid!(), gid: process.getgid!(), mode: 0o100640 }
  const data = copySmallFileKeeping(src, join(dir, 'a'), st)
  assert.equal(data?.data.toString(), 'hello, world\n')
  assert.deepEqual(data?.xattrs, [])
  assert.equal(execFileSync('cat', [join(dir, 'a')], { encoding: 'utf8' }), 'hello, world\n')
  assert.equal(execFileSync('stat', ['-c', '%a', join(dir, 'a')], { encoding: 'utf8' }), '640\n')
  const empty = join(dir, 'empty')
  writeFileSync(empty, '')
  assert.equal(copySmallFileKeeping(empty, join(dir, 'b'), { ...st, size: 0 })?.data.length, 0)
  // Set-ID bits and bits the umask takes come through too.
  writeFileSync(src, 'x', { mode: 0o777 })
  execFileSync('chmod', ['4777', src])
  copySmallFileKeeping(src, join(dir, 'c'), { ...st, size: 1, mode: 0o104777 })
  assert.equal(execFileSync('stat', ['-c', '%a', join(dir, 'c')], { encoding: 'utf8' }), '4777\n')
  writeFileSync(src, Buffer.alloc(300 * 1024))
  assert.equal(copySmallFileKeeping(src, join(dir, 'd'), st), undefined)
})
