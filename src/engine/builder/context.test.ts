import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, describe, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import tar from 'tar-stream'
import { BuildContext } from './context.ts'

type Entry = {
  name: string
  type?: 'file' | 'directory' | 'symlink' | 'link'
  body?: string
  linkname?: string
  mode?: number
}

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack()
  for (const e of entries) {
    const { body, ...h } = e
    pack.entry({ mode: 0o644, ...h }, body ?? '')
  }
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const c of pack) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

const dirs: string[] = []
async function unpack(buf: Buffer): Promise<BuildContext> {
  const d = await mkdtemp(join(tmpdir(), 'bb-context-'))
  dirs.push(d)
  return BuildContext.fromTar(Readable.from([buf]), join(d, 'ctx'))
}

after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

describe('build context', () => {
  const files: Entry[] = [
    { name: 'Dockerfile', body: 'FROM busybox\n' },
    { name: 'src/', type: 'directory', mode: 0o750 },
    { name: 'src/a.txt', body: 'a', mode: 0o600 },
    { name: 'src/b.md', body: 'b' },
    { name: 'src/link', type: 'symlink', linkname: 'a.txt' },
    { name: 'src/hard', type: 'link', linkname: 'src/a.txt' },
    { name: 'escape', type: 'symlink', linkname: '/../../etc/passwd' },
  ]

  test('files, modes, links and content hashes come through a plain or gzip tar', async () => {
    for (const buf of [await tarOf(files), gzipSync(await tarOf(files))]) {
      const ctx = await unpack(buf)
      assert.equal(await ctx.readText('Dockerfile'), 'FROM busybox\n')
      assert.equal((await stat(join(ctx.root, 'src'))).mode & 0o7777, 0o750)
      assert.equal((await stat(join(ctx.root, 'src/a.txt'))).mode & 0o7777, 0o600)
      assert.equal(ctx.entry('src/a.txt')?.sha256, createHash('sha256').update('a').digest('hex'))
      assert.equal(ctx.entry('src/hard')?.sha256, ctx.entry('src/a.txt')?.sha256)
      assert.equal(await readFile(join(ctx.root, 'src/hard'), 'utf8'), 'a')
    }
  })

  test('sources: globs, symlinks followed inside the context only, .. clamped', async () => {
    const ctx = await unpack(await tarOf(files))
    assert.deepEqual(ctx.sources('src/*.txt'), ['src/a.txt'])
    assert.deepEqual(ctx.sources('src/link'), ['src/a.txt'])
    assert.deepEqual(ctx.sources('../src/../src/a.txt'), ['src/a.txt'])
    assert.throws(() => ctx.sources('escape'), {
      message: 'failed to compute cache key: "/escape" not found: not found',
    })
    assert.deepEqual(ctx.sources('nothing*'), [])
  })

  test('.dockerignore: left-out sources are missing, and digests change only with content', async () => {
    const ctx = await unpack(await tarOf([...files, { name: '.dockerignore', body: '*/*.md\n' }]))
    await ctx.loadIgnore('Dockerfile')
    assert.throws(() => ctx.sources('src/b.md'), /"\/src\/b.md" not found/)
    const before = ctx.digest('src')
    const other = await unpack(
      await tarOf([
        ...files.map((f) => (f.name === 'src/b.md' ? { ...f, body: 'changed' } : f)),
        { name: '.dockerignore', body: '*/*.md\n' },
      ]),
    )
    await other.loadIgnore('Dockerfile')
    assert.equal(other.digest('src'), before, 'a left-out file does not change the digest')
    const changed = await unpack(
      await tarOf(files.map((f) => (f.name === 'src/a.txt' ? { ...f, body: 'A' } : f))),
    )
    assert.notEqual(changed.digest('src'), (await unpack(await tarOf(files))).digest('src'))
  })

  test('a tar without its end (as the docker CLI sends one) is whole; one cut inside a file is not', async () => {
    const whole = await tarOf([
      { name: 'Dockerfile', body: 'FROM busybox\n' },
      { name: 'x', body: 'abc' },
    ])
    // The last file's data without its padding and without the two zero blocks.
    const noTrailer = whole.subarray(0, 512 * 3 + 3)
    const ctx = await unpack(noTrailer)
    assert.equal(await readFile(join(ctx.root, 'x'), 'utf8'), 'abc')
    await assert.rejects(unpack(whole.subarray(0, 512 * 3 + 1)), /unexpected EOF/)
  })

  test('entries that climb out of the context are refused', async () => {
    await assert.rejects(
      unpack(await tarOf([{ name: '../../outside', body: 'x' }])),
      /is outside it/,
    )
    await assert.rejects(
      unpack(
        await tarOf([
          { name: 'l', type: 'symlink', linkname: '/etc' },
          { name: 'l/passwd', body: 'x' },
        ]),
      ),
      /which is not a directory/,
    )
  })
})

test('a restored context orders its paths by their UTF-8 bytes, ASCII or not (the digest COPY keys use)', () => {
  const names = ['a-b', 'a/b', 'a', 'b\u00e9', 'b\uffff', 'b\u{1f600}', 'B', 'a.b']
  const entries = names.map(
    (n): [string, { type: 'file'; mode: number; size: number; sha256: string }] => [
      n,
      { type: 'file', mode: 0o644, size: 1, sha256: n.length.toString(16).padStart(64, '0') },
    ],
  )
  const expected = (list: string[]) => {
    const h = createHash('sha256')
    h.update(`\0dir\0${(0o755).toString(8)}\0\0`)
    for (const n of [...list].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))) {
      h.update(`${n}\0file\0${(0o644).toString(8)}\0${n.length.toString(16).padStart(64, '0')}\0`)
    }
    return h.digest('hex')
  }
  // U+FFFF sorts before U+1F600 in UTF-8 and after it in UTF-16: the bytes decide.
  assert.equal(BuildContext.restore('/nonexistent', entries).digest(''), expected(names))
  const ascii = entries.filter(([n]) => /^[ -~]*$/.test(n))
  assert.equal(
    BuildContext.restore('/nonexistent', [...ascii].reverse()).digest(''),
    expected(ascii.map(([n]) => n)),
  )
})
