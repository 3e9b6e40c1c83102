// The scan `berth build` syncs a context by: every path's stat key made from exactly what Node's
// public lstat (nanosecond times as BigInts) says, whichever lstat made it.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { lstatSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { listing, scanDirectory, scanStat } from './build-context.ts'

/** The key: mode, size, dev, ino, and each time's seconds and nanoseconds, as float64s in base64. */
function keyOf(path: string): string {
  const st = lstatSync(path, { bigint: true })
  const split = (ns: bigint) => {
    let s = ns / 1_000_000_000n
    if (s * 1_000_000_000n > ns) s -= 1n // seconds round down before 1970; nanoseconds count up
    return [s, ns - s * 1_000_000_000n]
  }
  const fields = [st.mode, st.size, st.dev, st.ino, ...split(st.mtimeNs), ...split(st.ctimeNs), 0n]
  return Buffer.from(new Float64Array(fields.map(Number)).buffer).toString('base64')
}

/** A key's nine numbers back. */
function fieldsOf(key: string): number[] {
  const b = Buffer.from(key, 'base64')
  return [...new Float64Array(b.buffer, b.byteOffset, b.length / 8)]
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
    // 1960-01-01 00:00:00.25 UTC+0 or local: seconds below zero, a quarter second above them
    const deep = fieldsOf(l['src/deep']!)
    assert.ok(deep[4]! < 0, `${deep[4]}`)
    assert.equal(deep[5], 250_000_000)
    assert.deepEqual(fieldsOf(l['src/a.js']!).slice(4, 6), [1, 1])
    assert.equal(fieldsOf(l['src/deep/b.js']!)[1], 2)
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

test("the scan's digest changes with any kept path's stat or the set of paths, and only then", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-scan-'))
  try {
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n')
    await mkdir(join(dir, 'src'))
    await writeFile(join(dir, 'src/a.js'), 'a')
    await writeFile(join(dir, 'skip.log'), 'x')
    await writeFile(join(dir, '.dockerignore'), '*.log\n')
    const digest = async () => (await scanDirectory(dir, '')).digest()
    const first = await digest()
    assert.match(first, /^[0-9a-f]{64}$/)
    assert.equal(await digest(), first)
    // An ignored path is not sent: its change is none of the digest's.
    await writeFile(join(dir, 'skip.log'), 'xy')
    await writeFile(join(dir, 'more.log'), 'z')
    assert.equal(await digest(), first)
    // The same size, only the time moved: another digest (the listing's key changes too).
    execFileSync('touch', ['-d', '2001-01-01 00:00:00.5Z', join(dir, 'src/a.js')])
    const touched = await digest()
    assert.notEqual(touched, first)
    await writeFile(join(dir, 'src/b.js'), '')
    const added = await digest()
    assert.notEqual(added, touched)
    await rm(join(dir, 'src/b.js'))
    const removed = await digest()
    assert.notEqual(removed, added)
    execFileSync('chmod', ['600', join(dir, 'src/a.js')])
    assert.notEqual(await digest(), removed)
    // The listing is still made, on demand, keyed as lstat says.
    const s = await scanDirectory(dir, '')
    assert.equal(listing(s)['src/a.js'], keyOf(join(dir, 'src/a.js')))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
