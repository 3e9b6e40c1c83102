import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import { copyUp } from './copyup.ts'

let tmp: string
before(async () => {
  tmp = await mkdtemp('/tmp/berth-copyup-')
})
after(async () => {
  await rm(tmp, { recursive: true, force: true })
})

describe('copyUp', () => {
  test('copies owners, modes, symlinks and hard links into an empty volume only', async () => {
    const src = await mkdtemp(join(tmp, 'src-'))
    const dst = await mkdtemp(join(tmp, 'dst-'))
    await chown(src, 1000, 1000)
    await chmod(src, 0o750)
    await writeFile(join(src, 'seed'), 'seeded\n')
    await chown(join(src, 'seed'), 1000, 1000)
    await chmod(join(src, 'seed'), 0o600)
    await symlink('/etc/passwd', join(src, 'abs-link'))
    await link(join(src, 'seed'), join(src, 'hard'))
    await mkdir(join(src, 'sub'), { mode: 0o700 })
    await chown(join(src, 'sub'), 1001, 1002)
    assert.equal(await copyUp(src, dst), true)
    const st = await stat(dst)
    assert.equal(st.uid, 1000)
    assert.equal(st.mode & 0o7777, 0o750)
    const seed = await stat(join(dst, 'seed'))
    assert.equal(seed.uid, 1000)
    assert.equal(seed.gid, 1000)
    assert.equal(seed.mode & 0o7777, 0o600)
    assert.equal(await readFile(join(dst, 'seed'), 'utf8'), 'seeded\n')
    assert.equal(seed.ino, (await stat(join(dst, 'hard'))).ino)
    assert.ok((await lstat(join(dst, 'abs-link'))).isSymbolicLink())
    assert.equal(await readlink(join(dst, 'abs-link')), '/etc/passwd')
    const sub = await stat(join(dst, 'sub'))
    assert.equal(sub.uid, 1001)
    assert.equal(sub.gid, 1002)
    // A volume with content is left alone.
    await writeFile(join(src, 'later'), 'x')
    assert.equal(await copyUp(src, dst), false)
    await assert.rejects(stat(join(dst, 'later')))
  })

  test('a missing or non-directory source copies nothing', async () => {
    const dst = await mkdtemp(join(tmp, 'dst-'))
    assert.equal(await copyUp(join(tmp, 'nope'), dst), false)
    const file = join(tmp, 'afile')
    await writeFile(file, 'x')
    assert.equal(await copyUp(file, dst), false)
  })
})
