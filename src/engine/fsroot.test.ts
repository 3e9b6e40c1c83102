import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, mkdir, symlink, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { resolveInRoot } from './fsroot.ts'

test('resolveInRoot keeps every path inside the root', async () => {
  const root = await mkdtemp(join(tmpdir(), 'fsroot-'))
  try {
    await mkdir(join(root, 'etc'))
    await writeFile(join(root, 'etc/passwd'), 'x')
    await symlink('/etc', join(root, 'abs'))
    await symlink('../../../../etc', join(root, 'etc/up'))
    await symlink('loop2', join(root, 'loop1'))
    await symlink('loop1', join(root, 'loop2'))
    await symlink('etc/passwd', join(root, 'rel'))
    const cases: [string, string][] = [
      ['/etc/passwd', 'etc/passwd'],
      ['../../etc/passwd', 'etc/passwd'],
      ['/abs/passwd', 'etc/passwd'],
      ['/etc/up/passwd', 'etc/passwd'],
      ['/rel', 'etc/passwd'],
      ['/new/dir/file', 'new/dir/file'],
      ['/', ''],
    ]
    for (const [input, want] of cases) {
      assert.equal(await resolveInRoot(root, input), join(root, want), input)
    }
    await assert.rejects(resolveInRoot(root, '/loop1/x'), /too many levels/)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})
