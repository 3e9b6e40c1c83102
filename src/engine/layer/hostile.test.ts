// Archives built to escape the layer directory. Each must be refused with InvalidArgument, write
// nothing outside the layer, and leave no layer (nor temp dir, nor short link) behind.
import assert from 'node:assert/strict'
import { lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import { makeTar, names, streamOf, tempStore, type TarEntry, type TempStore } from './testkit.ts'

let t: TempStore
let sentinel: string
let sentinelFile: string

before(async () => {
  t = await tempStore()
  sentinel = join(t.root, 'outside')
  await mkdir(sentinel)
  sentinelFile = join(sentinel, 'keep')
  await writeFile(sentinelFile, 'untouched')
})

after(async () => {
  await t.cleanup()
})

async function snapshot(): Promise<string> {
  const st = await stat(sentinel)
  const passwd = await stat('/etc/passwd')
  return JSON.stringify([
    (await readdir(sentinel)).sort(),
    st.mtimeMs,
    await readFile(sentinelFile, 'utf8'),
    passwd.nlink,
    passwd.mtimeMs,
    (await readdir(t.root)).sort(),
  ])
}

async function refused(entries: TarEntry[], message: RegExp, allowDevices = true): Promise<void> {
  const before = await snapshot()
  await assert.rejects(
    t.store.unpack(streamOf(await makeTar(entries)), { allowDevices }),
    (err: unknown) => {
      assert.ok(err instanceof InvalidArgument, `not InvalidArgument: ${String(err)}`)
      assert.match(err.message, message)
      return true
    },
  )
  assert.equal(await snapshot(), before, 'something outside the layer changed')
  assert.deepEqual(await t.store.list(), [])
  assert.deepEqual(await names(t.dir, 'sha256'), [])
  assert.deepEqual(await names(t.dir, 'l'), [])
  assert.deepEqual(await names(t.dir, 'tmp'), [])
}

describe('hostile layers', () => {
  test('../x escapes the root', async () => {
    await refused(
      [{ name: '../x', data: 'pwned' }],
      /^invalid layer: entry "\.\.\/x" escapes the layer root$/,
    )
  })

  test('a/../../x escapes the root', async () => {
    await refused([{ name: 'a/../../x', data: 'pwned' }], /entry "a\/\.\.\/\.\.\/x" escapes/)
  })

  test('a deep climb aimed at the sentinel escapes the root', async () => {
    const up = '../'.repeat(12)
    await refused(
      [{ name: `${up}${sentinel.slice(1)}/pwned`, data: 'x' }],
      /escapes the layer root/,
    )
    await refused([{ name: `/../${sentinel.slice(1)}/pwned`, data: 'x' }], /escapes the layer root/)
  })

  test('/abs/x lands inside the layer', async () => {
    const info = await t.store.unpack(
      streamOf(
        await makeTar([
          { name: `/${sentinel.slice(1)}/pwned`, data: 'inside' },
          { name: 'a/../b', data: 'b' },
        ]),
      ),
    )
    const diff = join(t.dir, 'sha256', info.diffID.slice(7), 'diff')
    assert.equal(await readFile(join(diff, sentinel, 'pwned'), 'utf8'), 'inside')
    assert.equal(await readFile(join(diff, 'b'), 'utf8'), 'b')
    assert.deepEqual(await readdir(sentinel), ['keep'])
    await t.store.delete(info.diffID)
  })

  test('writing through a symlink to an absolute path is refused', async () => {
    await refused(
      [
        { name: 'evil', type: 'symlink', linkname: sentinel },
        { name: 'evil/pwned', data: 'x' },
      ],
      /entry "evil\/pwned" passes through the symlink "evil"/,
    )
  })

  test('directories and devices through a symlink are refused too', async () => {
    const evil = { name: 'evil', type: 'symlink', linkname: sentinel } as const
    await refused([evil, { name: 'evil/d/', type: 'directory' }], /passes through the symlink/)
    await refused([evil, { name: 'evil/p', type: 'fifo' }], /passes through the symlink/)
    await refused([evil, { name: 'evil/s', type: 'symlink', linkname: 'x' }], /passes through/)
    await refused([evil, { name: 'evil/.wh.keep' }], /passes through the symlink/)
    await refused([evil, { name: 'evil/.wh..wh..opq' }], /passes through the symlink/)
  })

  test('replacing a symlink with a file replaces the link, not its target', async () => {
    const info = await t.store.unpack(
      streamOf(
        await makeTar([
          { name: 'evil', type: 'symlink', linkname: sentinelFile },
          { name: 'evil', data: 'replaced' },
        ]),
      ),
    )
    assert.equal(await readFile(sentinelFile, 'utf8'), 'untouched')
    const diff = join(t.dir, 'sha256', info.diffID.slice(7), 'diff')
    assert.ok((await lstat(join(diff, 'evil'))).isFile())
    await t.store.delete(info.diffID)
  })

  test('symlinks to .. chains are never followed', async () => {
    await refused(
      [
        { name: 'd/', type: 'directory' },
        { name: 'd/up', type: 'symlink', linkname: '..' },
        { name: 'd/up/up/x', data: 'x' },
      ],
      /entry "d\/up\/up\/x" passes through the symlink "d\/up"/,
    )
    await refused(
      [
        { name: 'a', type: 'symlink', linkname: '../../../../../../../../..' },
        { name: `a${sentinel}/pwned`, data: 'x' },
      ],
      /passes through the symlink "a"/,
    )
    await refused(
      [
        { name: 'x', type: 'symlink', linkname: '.' },
        { name: 'x/x/x/f', data: 'x' },
      ],
      /passes through the symlink "x"/,
    )
  })

  test('a file, then a symlink replacing its parent dir, then a file under it', async () => {
    await refused(
      [
        { name: 'd/', type: 'directory' },
        { name: 'd/f', data: 'ok' },
        { name: 'd', type: 'symlink', linkname: sentinel },
        { name: 'd/g', data: 'pwned' },
      ],
      /entry "d\/g" passes through the symlink "d"/,
    )
  })

  test('hardlinks out of the layer are refused', async () => {
    await refused(
      [{ name: 'pw', type: 'link', linkname: '/etc/passwd' }],
      /hardlink "pw" -> "\/etc\/passwd": target is not in the layer/,
    )
    await refused(
      [{ name: 'x', type: 'link', linkname: '../../x' }],
      /hardlink "x" -> "\.\.\/\.\.\/x" escapes the layer root/,
    )
    await refused(
      [{ name: 'x', type: 'link', linkname: `${'../'.repeat(10)}${sentinelFile.slice(1)}` }],
      /escapes the layer root/,
    )
  })

  test('hardlinks through a symlink are refused', async () => {
    await refused(
      [
        { name: 's', type: 'symlink', linkname: '/etc' },
        { name: 'h', type: 'link', linkname: 's/passwd' },
      ],
      /hardlink "h" -> "s\/passwd" passes through the symlink "s"/,
    )
    await refused(
      [
        { name: 's', type: 'symlink', linkname: sentinel },
        { name: 'h', type: 'link', linkname: 's/keep' },
      ],
      /passes through the symlink "s"/,
    )
  })

  test('a hardlink to a symlink links the symlink itself', async () => {
    const info = await t.store.unpack(
      streamOf(
        await makeTar([
          { name: 's', type: 'symlink', linkname: sentinelFile },
          { name: 'h', type: 'link', linkname: 's' },
        ]),
      ),
    )
    const diff = join(t.dir, 'sha256', info.diffID.slice(7), 'diff')
    assert.ok((await lstat(join(diff, 'h'))).isSymbolicLink())
    assert.equal((await stat(sentinelFile)).nlink, 1)
    await t.store.delete(info.diffID)
  })

  test('long (PAX) names are cleaned like short ones', async () => {
    const deep = `${'d'.repeat(90)}/`.repeat(4)
    await refused([{ name: `${deep}${'../'.repeat(5)}x`, data: 'x' }], /escapes the layer root/)
    const info = await t.store.unpack(streamOf(await makeTar([{ name: `${deep}f`, data: 'f' }])))
    const diff = join(t.dir, 'sha256', info.diffID.slice(7), 'diff')
    assert.equal(await readFile(join(diff, deep, 'f'), 'utf8'), 'f')
    await t.store.delete(info.diffID)
    // A PAX path overrides the header name.
    await refused(
      [{ name: 'innocent', data: 'x', pax: { path: '../../sneaky' } }],
      /entry "\.\.\/\.\.\/sneaky" escapes/,
    )
  })

  test('names with NUL, empty names and the root replaced by a file are refused', async () => {
    await refused([{ name: 'x', data: 'x', pax: { path: 'a\0b' } }], /has an invalid name/)
    await refused([{ name: '', data: 'x' }], /has an invalid name/)
    await refused(
      [{ name: './', data: '', type: 'symlink', linkname: '/' }],
      /replace the layer root/,
    )
  })

  test('whiteouts cannot climb or name . and ..', async () => {
    await refused([{ name: '../.wh.x' }], /escapes the layer root/)
    await refused([{ name: 'a/.wh...' }], /not a valid whiteout/)
    await refused([{ name: 'a/.wh..' }], /not a valid whiteout/)
  })

  test('device nodes are refused when the caller forbids them', async () => {
    await refused(
      [{ name: 'mem', type: 'character-device', devmajor: 1, devminor: 1 }],
      /entry "mem" is a device node/,
      false,
    )
    await refused(
      [{ name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 }],
      /entry "sda" is a device node/,
      false,
    )
  })

  test('a hardlink to a directory is refused', async () => {
    await refused(
      [
        { name: 'd/', type: 'directory' },
        { name: 'h', type: 'link', linkname: 'd' },
      ],
      /target is a directory/,
    )
  })
})
