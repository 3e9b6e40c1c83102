// A step's upper directory, adopted as its layer, must be the very layer an unpack of the step's
// tar makes: both are made here from one real overlay mount and compared entry by entry.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  chmod,
  link,
  lstat,
  mkdir,
  readFile,
  rm,
  rmdir,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { Readable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { lsetxattr, mknod } from '../sys/libc.ts'
import { prepareUpper } from './adopt.ts'
import { stepLayer } from './diff.ts'
import { mountOverlay, unmount } from './mount.ts'
import { describeTree, names, tempStore, type TempStore } from './testkit.ts'

const EPOCH = 1_500_000_000 // 2017: files made now are clamped to it, older ones keep their time
const OLD = new Date('2001-01-01T00:00:00Z')
const S_IFSOCK = 0o140000

let unpacked: TempStore
let adopted: TempStore
let work: string
let ctx: string
let upper: string
let diffID: `sha256:${string}`
let unpackedSize: number
let adoptedSize: number

before(async () => {
  unpacked = await tempStore()
  adopted = await tempStore()
  // The upper directory lives in the adopting store's filesystem, as a read-write layer's does.
  work = `${adopted.root}/step`
  const lower = `${work}/lower`
  upper = `${work}/upper`
  const mnt = `${work}/mnt`
  ctx = `${work}/context`
  for (const d of ['etc', 'gone/sub', 'opq/old', 'same/deeper', 'app', 'tools']) {
    await mkdir(`${lower}/${d}`, { recursive: true })
  }
  await writeFile(`${lower}/etc/passwd`, 'root:x:0:0::/root:/bin/sh\n')
  await writeFile(`${lower}/etc/group`, 'root:x:0:\n')
  await writeFile(`${lower}/gone/sub/f`, 'gone')
  await writeFile(`${lower}/opq/old/f`, 'old')
  await writeFile(`${lower}/tools/run`, '#!/bin/sh\n')
  for (const d of ['etc', 'gone', 'gone/sub', 'opq', 'opq/old', 'same', 'same/deeper', 'app']) {
    await utimes(`${lower}/${d}`, OLD, OLD)
  }
  await mkdir(`${ctx}/src`, { recursive: true })
  await writeFile(`${ctx}/src/a.txt`, 'context file a\n')
  await link(`${ctx}/src/a.txt`, `${ctx}/src/a-again.txt`)
  await utimes(`${ctx}/src/a.txt`, OLD, OLD)
  for (const d of [upper, `${work}/work`, mnt]) await mkdir(d, { recursive: true })

  mountOverlay({
    type: 'overlay',
    source: 'overlay',
    destination: mnt,
    options: [
      `lowerdir=${lower}`,
      `upperdir=${upper}`,
      `workdir=${work}/work`,
      'volatile',
      'redirect_dir=off',
      'metacopy=off',
    ],
  })
  try {
    await writeFile(`${mnt}/etc/passwd`, 'root:x:0:0::/root:/bin/ash\n') // modified (origin xattr)
    // A second name of a copied-up file: the origin xattr is stripped once, through either name.
    await link(`${mnt}/etc/passwd`, `${mnt}/etc/passwd-again`)
    await rm(`${mnt}/etc/group`) // whiteout
    await rm(`${mnt}/gone`, { recursive: true }) // a whited-out directory
    await rm(`${mnt}/opq`, { recursive: true })
    await mkdir(`${mnt}/opq`) // opaque
    await writeFile(`${mnt}/opq/new`, 'new')
    await chmod(`${mnt}/tools/run`, 0o755) // metadata only: copied whole with metacopy off
    await utimes(`${mnt}/same/deeper`, OLD, OLD) // copied up, unchanged: not in the layer
    await mkdir(`${mnt}/new/dir`, { recursive: true })
    await writeFile(`${mnt}/new/dir/file`, 'x'.repeat(5000))
    await link(`${mnt}/new/dir/file`, `${mnt}/new/dir/hard`) // a link inside the layer
    await symlink('../etc/passwd', `${mnt}/new/link`)
    await writeFile(`${mnt}/new/xattr`, 'x')
    lsetxattr(`${mnt}/new/xattr`, 'user.note', Buffer.from('kept'))
    mknod(`${mnt}/new/sock`, S_IFSOCK | 0o755) // a tar cannot hold it
    const now = new Date()
    await utimes(`${mnt}/app`, now, now) // COPY's destination, made in the upper directory
  } finally {
    unmount(mnt)
  }
  await rmdir(mnt)
  // COPY's hard links from the kept context, placed in the upper directory directly.
  await link(`${ctx}/src/a.txt`, `${upper}/app/a.txt`)
  await link(`${ctx}/src/a-again.txt`, `${upper}/app/a-again.txt`)

  const dirs = { upper, lowers: [lower] }
  const step = await stepLayer(dirs, { epoch: EPOCH })
  assert.ok(step)
  const chunks: Buffer[] = []
  for await (const c of step.tar) chunks.push(c as Buffer)
  const tar = Buffer.concat(chunks)
  diffID = `sha256:${createHash('sha256').update(tar).digest('hex')}`
  const ref = await unpacked.store.unpack(Readable.from([tar]), { uncompressed: true })
  assert.equal(ref.diffID, diffID)
  unpackedSize = ref.size
  adoptedSize = await prepareUpper(upper, step.entries, EPOCH)
  await adopted.store.adopt(upper, { diffID, size: adoptedSize })
})

after(async () => {
  await unpacked?.cleanup()
  await adopted?.cleanup()
})

describe('adopting a step upper directory as its layer', () => {
  test('the adopted layer is what unpacking its tar makes, entry for entry', async () => {
    const hex = diffID.slice('sha256:'.length)
    const want = await describeTree(`${unpacked.dir}/sha256/${hex}/diff`)
    const got = await describeTree(`${adopted.dir}/sha256/${hex}/diff`)
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort())
    for (const [k, v] of want) assert.equal(got.get(k), v, k)
    // The cases themselves are there, so the comparison covers them.
    for (const k of [
      '/etc/group',
      '/etc/passwd-again links',
      '/gone',
      '/opq/new',
      '/tools/run',
      '/new/dir/hard links',
    ]) {
      assert.ok(got.has(k), k)
    }
    // An unchanged copied-up directory (/same) is in the tar today: diff.ts's lowerLstat stats
    // the /proc link of its O_PATH descriptor, never a directory, so no directory counts as
    // unchanged. Either way both layers hold what the tar holds, which the loop above checks.
    assert.ok(!got.has('/new/sock'), 'a socket is not part of the layer')
    assert.match(got.get('/opq')!, /trusted\.overlay\.opaque=79/)
    assert.doesNotMatch([...got.values()].join('\n'), /trusted\.overlay\.(origin|impure|uuid)/)
  })

  test('the size, the diffID and the store records are the unpack path ones', async () => {
    assert.equal(adoptedSize, unpackedSize)
    assert.deepEqual(await adopted.store.info(diffID), { diffID, size: unpackedSize })
    assert.deepEqual(await unpacked.store.info(diffID), { diffID, size: unpackedSize })
    await assert.rejects(lstat(upper), { code: 'ENOENT' }) // moved, not copied
    assert.deepEqual(await names(adopted.dir, 'tmp'), [])
    await adopted.store.init() // a restart keeps it
    assert.ok(await adopted.store.has(diffID))
  })

  test('files hard-linked from the context get their own inode, the context is untouched', async () => {
    const layer = `${adopted.dir}/sha256/${diffID.slice('sha256:'.length)}/diff`
    const c = await lstat(`${ctx}/src/a.txt`, { bigint: true })
    const a = await lstat(`${layer}/app/a.txt`, { bigint: true })
    const again = await lstat(`${layer}/app/a-again.txt`, { bigint: true })
    assert.notEqual(a.ino, c.ino)
    assert.equal(a.ino, again.ino, 'two names of one file in the layer stay one file')
    assert.equal(a.nlink, 2n)
    assert.equal(c.nlink, 2n, 'the context keeps its own two names only')
    assert.equal(c.mtimeMs, BigInt(OLD.getTime()))
    assert.equal(await readFile(`${layer}/app/a.txt`, 'utf8'), 'context file a\n')
  })
})

describe('the layer store taking a directory', () => {
  test('a layer that exists already is kept; the directory is left to its owner', async () => {
    const dir = `${adopted.root}/other`
    await mkdir(dir)
    await writeFile(`${dir}/f`, 'f')
    const info = await adopted.store.adopt(dir, { diffID, size: 1 })
    assert.deepEqual(info, { diffID, size: unpackedSize })
    assert.equal(await readFile(`${dir}/f`, 'utf8'), 'f')
  })

  test('a directory cut short before its layer was visible is no layer and goes at start', async () => {
    const half = `${adopted.dir}/tmp/cut-short`
    await mkdir(`${half}/diff`, { recursive: true })
    await writeFile(`${half}/diff/f`, 'f')
    const before = (await adopted.store.list()).map((l) => l.diffID)
    assert.deepEqual(before, [diffID])
    await adopted.store.init()
    assert.deepEqual(await names(adopted.dir, 'tmp'), [])
    assert.deepEqual(
      (await adopted.store.list()).map((l) => l.diffID),
      [diffID],
    )
  })
})
