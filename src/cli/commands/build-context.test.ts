// The scan `berth build` syncs a context by: every path's stat key exactly as Node's public
// lstat (nanosecond times as BigInts) would write it, whichever lstat made it.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { lstatSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { listing, scanDirectory, scanStat } from './build-context.ts'

function keyOf(path: string): string {
  const st = lstatSync(path, { bigint: true })
  const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'
  return `${kind}:${st.mode}:${st.size}:${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}`
}

test('the scan keys every path as lstat says, leaves out ignored paths and special files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-scan-'))
  try {
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n')
    await mkdir(join(dir, 'src/deep'), { recursive: true })
    await writeFile(join(dir, 'src/a.js'), 'a')
    await writeFile(join(dir, 'src/deep/b.js'), 'bb', { mode: 0o600 })
    // Times before 1970 and with nanoseconds that need their leading zeros.
    execFileSync('touch', ['-h', '-d', '1960-01-01 00:00:00.25', join(dir, 'src/deep')])
    execFileSync('touch', ['-d', '1970-01-01 00:00:01.000000001Z', join(dir, 'src/a.js')])
    await symlink('a.js', join(dir, 'src/link'))
    await writeFile(join(dir, 'skip.log'), 'x')
    await writeFile(join(dir, '.dockerignore'), '*.log\n')
    execFileSync('mkfifo', [join(dir, 'fifo')])
    const s = await scanDirectory(dir, '')
    const l = listing(s)
    const expected = [
      '.dockerignore',
      'Dockerfile',
      'src',
      'src/a.js',
      'src/deep',
      'src/deep/b.js',
      'src/link',
    ]
    assert.deepEqual(Object.keys(l), expected)
    for (const rel of expected) assert.equal(l[rel], keyOf(join(dir, rel)), rel)
    const b = s.items.find((i) => i.rel === 'src/deep/b.js')!
    assert.deepEqual([b.kind, b.mode & 0o7777, b.size], ['f', 0o600, 2])
    assert.match(l['src/deep']!, /:-\d+:/)
    assert.match(l['src/a.js']!, /:1000000001:/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test("on this Node the scan reads the fs binding's stat array (the cheap way), keyed as lstat", () => {
  const { fast, stat } = scanStat()
  // Node 20, which berth runs on, has it; another Node falls back to lstatSync, still exact.
  assert.equal(fast, process.versions.node.startsWith('20.'))
  for (const p of ['/', '/proc/self', process.execPath, tmpdir()])
    assert.equal(stat(p, p).key, keyOf(p))
})
