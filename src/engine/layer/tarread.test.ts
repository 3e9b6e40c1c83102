import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, symlink, writeFile, link } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, test } from 'node:test'
import tar from 'tar-stream'
import { TarFormatError, TarReader, type TarHeader } from './tarread.ts'

interface Seen {
  name: string
  type: string | null
  mode: number | null
  uid: number | null
  gid: number | null
  size: number
  mtime: number | null
  linkname: string | null
  data: string
}

/** What TarReader reads of `buf`, fed in pieces of `step` bytes. */
function readAll(buf: Buffer, step: number): Seen[] {
  const out: Seen[] = []
  let cur: { h: TarHeader; parts: Buffer[] } | undefined
  const r = new TarReader({
    header: (h) => (cur = { h, parts: [] }),
    data: (c) => cur!.parts.push(Buffer.from(c)),
    end: () => {
      const { h, parts } = cur!
      out.push({
        name: h.name,
        type: h.type,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        size: h.size,
        mtime: h.mtime,
        linkname: h.linkname,
        data: Buffer.concat(parts).toString('base64'),
      })
    },
  })
  for (let i = 0; i < buf.length; i += step) {
    // A scratch copy, overwritten after each push: the reader keeps nothing of it.
    const piece = Buffer.from(buf.subarray(i, i + step))
    r.push(piece)
    piece.fill(0xaa)
  }
  r.finish()
  return out
}

/** What tar-stream reads of `buf` (the reader berth used before, and the oracle here). */
async function oracle(buf: Buffer): Promise<Seen[]> {
  const out: Seen[] = []
  const ex = tar.extract()
  Readable.from([buf]).pipe(ex)
  for await (const e of ex) {
    const parts: Buffer[] = []
    for await (const c of e) parts.push(c as Buffer)
    const h = e.header
    out.push({
      name: h.name,
      type: h.type ?? null,
      mode: h.mode ?? null,
      uid: h.uid ?? null,
      gid: h.gid ?? null,
      size: h.size ?? 0,
      mtime: h.mtime ? h.mtime.getTime() / 1000 : null,
      linkname: h.linkname ?? null,
      data: Buffer.concat(parts).toString('base64'),
    })
  }
  return out
}

/** A tree with long names (PAX or GNU records; for ustar, names that need its prefix field). */
async function gnuTar(format: string): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'tarread-'))
  try {
    const ustar = format === 'ustar'
    const deep = join(dir, 'd', 'a'.repeat(60), 'b'.repeat(ustar ? 60 : 90), 'c'.repeat(40))
    await mkdir(deep, { recursive: true })
    await writeFile(join(deep, ustar ? 'f' : 'é-' + 'long'.repeat(30)), 'x'.repeat(70_000))
    await writeFile(join(dir, 'd', 'small'), 'hello\n')
    // A long name whose first 100 bytes end in a slash: a file all the same.
    await mkdir(join(dir, 'd', 'q'.repeat(97)))
    await writeFile(join(dir, 'd', 'q'.repeat(97), 'cut-at-slash'), 'data after a cut name\n')
    await writeFile(join(dir, 'd', 'empty'), '')
    await link(join(dir, 'd', 'small'), join(dir, 'd', 'hard'))
    await symlink('../' + 'z'.repeat(ustar ? 90 : 120), join(dir, 'd', 'sym'))
    const r = spawnSync(
      'tar',
      [`--format=${format}`, '--numeric-owner', '-C', dir, '-cf', '-', 'd'],
      { maxBuffer: 1 << 26 },
    )
    assert.equal(r.status, 0, r.stderr.toString())
    return r.stdout
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe('TarReader', () => {
  for (const format of ['posix', 'gnu', 'ustar']) {
    test(`reads GNU tar's ${format} format as tar-stream does, however the bytes are split`, async () => {
      const buf = await gnuTar(format)
      const want = await oracle(buf)
      assert.ok(want.length >= 6)
      for (const step of [1, 7, 511, 512, 513, 4096, 65_536, buf.length]) {
        assert.deepEqual(readAll(buf, step), want, `pieces of ${step} bytes`)
      }
    })
  }

  test('a bad checksum, an unknown format and a cut archive are refused in tar-stream’s words', async () => {
    const buf = await gnuTar('posix')
    const bad = Buffer.from(buf)
    bad[0] ^= 1
    assert.throws(() => readAll(bad, 512), /Invalid tar header\. Maybe the tar is corrupted/)
    const unknown = Buffer.from(buf)
    unknown.write('nope!!', 257, 'latin1')
    // Keep the checksum right, so that only the magic is wrong.
    let sum = 8 * 32
    for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += unknown[i]!
    unknown.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1')
    assert.throws(() => readAll(unknown, 512), /unknown format/)
    for (const cut of [100, 1500, buf.length - 2048 - 100]) {
      assert.throws(
        () => readAll(buf.subarray(0, cut), 512),
        (err) => {
          assert.ok(err instanceof TarFormatError)
          assert.match(err.message, /Unexpected end of data/)
          return true
        },
      )
    }
  })
})
