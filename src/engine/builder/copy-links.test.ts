// COPY's hard links from the build context (copyInto with a LinkPlan, then placeLinks): which
// files are linked, which are copied, and that the context's files are never changed. The
// mounted view and the upper directory are one plain directory here (no overlay), as after the
// executor gives up its mount.
import assert from 'node:assert/strict'
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import type { WrittenFile } from '../layer/types.ts'
import { llistxattr } from '../sys/fsat.ts'
import { lgetxattr, lsetxattr, mknod, S_IFCHR } from '../sys/libc.ts'
import { copyInto, LinkPlan, parseChmod, placeLinks } from './copy.ts'
import { placeCopies } from './copy-step.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function tree(files: Record<string, string>): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'copylinks-'))
  dirs.push(d)
  for (const [name, body] of Object.entries(files)) {
    await mkdir(join(d, name, '..'), { recursive: true })
    await writeFile(join(d, name), body)
    await chmod(join(d, name), 0o644)
  }
  return d
}

async function copy(
  ctx: string,
  srcs: string[],
  dest: string,
  extra: Partial<Parameters<typeof copyInto>[0]> = {},
): Promise<{ root: string; plan: LinkPlan }> {
  const root = await tree({})
  const plan = new LinkPlan()
  await copyInto({
    destRoot: root,
    dest,
    srcRoot: ctx,
    srcs: srcs.map((s) => ({ name: s, followed: s })),
    chown: { uid: 0, gid: 0 },
    unpack: false,
    links: plan,
    ...extra,
  })
  await placeLinks(plan, root)
  return { root, plan }
}

test('files that keep their owner and mode are linked; a later edit of the context does not reach them', async () => {
  const ctx = await tree({ 'src/a.js': 'a', 'src/sub/b.js': 'b', 'c.txt': 'c' })
  const { root, plan } = await copy(ctx, ['src', 'c.txt'], '/app/')
  assert.equal(plan.files.size, 3)
  for (const [rel, src] of [
    ['app/a.js', 'src/a.js'],
    ['app/sub/b.js', 'src/sub/b.js'],
    ['app/c.txt', 'c.txt'],
  ] as const) {
    const [d, s] = [await lstat(join(root, rel)), await lstat(join(ctx, src))]
    assert.equal(d.ino, s.ino, `${rel} is a link of ${src}`)
    assert.equal(d.mode, s.mode)
  }
  // The context replaces a file by a new one (rename or unlink and create): the copy keeps its bytes.
  await rm(join(ctx, 'src/a.js'))
  await writeFile(join(ctx, 'src/a.js'), 'edited')
  assert.equal(await readFile(join(root, 'app/a.js'), 'utf8'), 'a')
  // Directories are made, never linked, and carry the source's mode.
  assert.equal((await lstat(join(root, 'app/sub'))).isDirectory(), true)
})

test('--chmod and --chown copy the file and leave the context as it was', async () => {
  const ctx = await tree({ 'a.txt': 'a' })
  const before = await lstat(join(ctx, 'a.txt'))
  const m = await copy(ctx, ['a.txt'], '/m', { chmod: parseChmod('600') })
  const o = await copy(ctx, ['a.txt'], '/o', { chown: { uid: 7, gid: 8 } })
  assert.equal(m.plan.files.size + o.plan.files.size, 0)
  const ms = await lstat(join(m.root, 'm'))
  const os = await lstat(join(o.root, 'o'))
  assert.notEqual(ms.ino, before.ino)
  assert.notEqual(os.ino, before.ino)
  assert.equal(ms.mode & 0o7777, 0o600)
  assert.deepEqual([os.uid, os.gid], [7, 8])
  const after = await lstat(join(ctx, 'a.txt'))
  assert.deepEqual(
    [after.ino, after.mode, after.uid, after.gid, after.mtimeMs, after.nlink],
    [before.ino, before.mode, before.uid, before.gid, before.mtimeMs, before.nlink],
  )
})

test('a file reached twice is copied the second time; a hard link of the context stays one', async () => {
  const ctx = await tree({ 'a.txt': 'a', 'h1.txt': 'h' })
  await symlink('a.txt', join(ctx, 'l'))
  const { link } = await import('node:fs/promises')
  await link(join(ctx, 'h1.txt'), join(ctx, 'h2.txt'))
  const root = await tree({})
  const plan = new LinkPlan()
  await copyInto({
    destRoot: root,
    dest: '/d/',
    srcRoot: ctx,
    srcs: [
      { name: 'a.txt', followed: 'a.txt' },
      { name: 'l', followed: 'a.txt' },
      { name: 'h1.txt', followed: 'h1.txt' },
      { name: 'h2.txt', followed: 'h2.txt' },
    ],
    chown: { uid: 0, gid: 0 },
    unpack: false,
    links: plan,
  })
  await placeLinks(plan, root)
  const [a, l, h1, h2] = await Promise.all(
    ['a.txt', 'l', 'h1.txt', 'h2.txt'].map((n) => lstat(join(root, 'd', n))),
  )
  assert.notEqual(a!.ino, l!.ino, 'two names of one followed file are two files, as a copy makes')
  assert.equal(await readFile(join(root, 'd/l'), 'utf8'), 'a')
  assert.equal(h1!.ino, h2!.ino, "the context's own hard link is kept")
})

test('a linked file replaces what an earlier source put there; a directory cannot replace it', async () => {
  const one = await tree({ 'x/f': 'one' })
  const two = await tree({ 'x/f': 'two', 'y/f/g': 'dir' })
  const root = await tree({})
  const plan = new LinkPlan()
  const base = { destRoot: root, chown: { uid: 0, gid: 0 }, unpack: false, links: plan }
  await copyInto({ ...base, dest: '/out/', srcRoot: one, srcs: [{ name: 'x', followed: 'x' }] })
  await copyInto({ ...base, dest: '/out/', srcRoot: two, srcs: [{ name: 'x', followed: 'x' }] })
  await assert.rejects(
    copyInto({ ...base, dest: '/out/', srcRoot: two, srcs: [{ name: 'y', followed: 'y' }] }),
    /cannot copy to non-directory: \/out\/f/,
  )
  await placeLinks(plan, root)
  assert.equal(await readFile(join(root, 'out/f'), 'utf8'), 'two')
})

for (const keep of [false, true]) {
  test(`for an adopted upper directory the planned files are copied with what a link shows${keep ? ', small ones read once and kept for the tar' : ''}`, async () => {
    // x is large enough to be copied through the thread pool; run is small and set-user-ID.
    const ctx = await tree({
      'src/a.js': 'a',
      'src/run': '#!/bin/sh\n',
      'src/x': 'x'.repeat(300 * 1024),
    })
    await chmod(join(ctx, 'src/x'), 0o4755)
    await chmod(join(ctx, 'src/run'), 0o4755)
    lsetxattr(join(ctx, 'src/a.js'), 'user.note', Buffer.from('kept'))
    const old = new Date('2001-02-03T04:05:06Z')
    await utimes(join(ctx, 'src/a.js'), old, old)
    const root = await tree({})
    await mkdir(join(root, 'app'))
    mknod(join(root, 'app/a.js'), S_IFCHR, 0, 0) // a lower layer's file, deleted by the copy
    const plan = new LinkPlan()
    await copyInto({
      destRoot: root,
      dest: '/app/',
      srcRoot: ctx,
      srcs: [{ name: 'src', followed: 'src' }],
      chown: { uid: 0, gid: 0 },
      unpack: false,
      links: plan,
    })
    assert.equal(plan.files.size, 3)
    const written = new Map<string, WrittenFile>()
    await placeCopies(plan, root, keep ? { written } : {})
    for (const [rel, src] of [
      ['app/a.js', 'src/a.js'],
      ['app/run', 'src/run'],
      ['app/x', 'src/x'],
    ] as const) {
      const [d, s] = [await lstat(join(root, rel)), await lstat(join(ctx, src))]
      assert.notEqual(d.ino, s.ino, `${rel} is a file of its own`)
      assert.equal(s.nlink, 1, 'the context keeps its names only')
      assert.equal(d.mode, s.mode)
      assert.deepEqual([d.uid, d.gid], [s.uid, s.gid])
      // The layer's tar keeps whole seconds.
      assert.equal(Math.floor(d.mtimeMs / 1000), Math.floor(s.mtimeMs / 1000))
      assert.equal(await readFile(join(root, rel), 'utf8'), await readFile(join(ctx, src), 'utf8'))
    }
    assert.equal(lgetxattr(join(root, 'app/a.js'), 'user.note')?.toString(), 'kept')
    // What was kept is what was written; a file for the thread pool is not read through berthd.
    assert.deepEqual(
      Object.fromEntries([...written].map(([k, v]) => [k, v.data.toString()])),
      keep ? { '/app/a.js': 'a', '/app/run': '#!/bin/sh\n' } : {},
    )
    // With the xattrs each copy has, so the tar need not list them again.
    assert.deepEqual(
      Object.fromEntries([...written].map(([k, v]) => [k, v.xattrs])),
      keep ? { '/app/a.js': ['user.note'], '/app/run': [] } : {},
    )
  })
}

test('a copy into a directory with a default ACL has its xattrs listed by the tar', async (t) => {
  const ctx = await tree({ 'one/a.js': 'a', 'two/a.js': 'b' })
  const root = await tree({})
  await mkdir(join(root, 'app'))
  await mkdir(join(root, 'plain'))
  // user::rwx, user:1000:r-x, group::r-x, mask::r-x, other::r-x: a new file gets an access ACL.
  const acl = Buffer.alloc(4 + 5 * 8)
  acl.writeUInt32LE(2, 0)
  const entries: [number, number, number][] = [
    [0x01, 7, 0xffffffff],
    [0x02, 5, 1000],
    [0x04, 5, 0xffffffff],
    [0x10, 5, 0xffffffff],
    [0x20, 5, 0xffffffff],
  ]
  entries.forEach(([tag, perm, id], i) => {
    acl.writeUInt16LE(tag, 4 + i * 8)
    acl.writeUInt16LE(perm, 6 + i * 8)
    acl.writeUInt32LE(id, 8 + i * 8)
  })
  try {
    lsetxattr(join(root, 'app'), 'system.posix_acl_default', acl)
  } catch (err) {
    t.skip(`no ACLs on this filesystem: ${String(err)}`)
    return
  }
  const plan = new LinkPlan()
  for (const [dest, src] of [
    ['/plain/', 'one'],
    ['/app/', 'two'],
  ] as const) {
    await copyInto({
      destRoot: root,
      dest,
      srcRoot: ctx,
      srcs: [{ name: src, followed: src }],
      chown: { uid: 0, gid: 0 },
      unpack: false,
      links: plan,
    })
  }
  const written = new Map<string, WrittenFile>()
  await placeCopies(plan, root, { written })
  assert.deepEqual(written.get('/plain/a.js')?.xattrs, [])
  assert.ok(llistxattr(join(root, 'app/a.js')).includes('system.posix_acl_access'))
  assert.equal(written.get('/app/a.js')?.data.toString(), 'b')
  assert.equal(written.get('/app/a.js')?.xattrs, undefined)
})
