import assert from 'node:assert/strict'
import { link, mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { mountOverlay, unmount } from './mount.ts'
import { makeTar, streamOf, tempStore } from './testkit.ts'
import { topPaths } from './usage.ts'

describe('rwUsage: what a container wrote, read from its upper directory', () => {
  test('counts files, bytes and deletions; leaves out stubs and mount points', async () => {
    const t = await tempStore()
    const target = join(t.root, 'rootfs')
    let mounted = false
    try {
      const image = await t.store.unpack(
        streamOf(
          await makeTar([
            { name: 'etc/', type: 'directory' },
            { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
            { name: 'bin/', type: 'directory' },
            { name: 'bin/vi', data: 'vi' },
            { name: 'root/', type: 'directory' },
          ]),
        ),
      )
      await t.store.createRW('c1', [image.diffID])
      const empty = await t.store.rwUsage('c1', new Set())
      assert.deepEqual(empty, { bytes: 0, files: 0, deleted: 0, lastChange: 0, top: [] })

      await mkdir(target)
      mountOverlay(await t.store.rootfsMount('c1', target))
      mounted = true
      const before = Date.now()
      // What the runtime makes: mount point stubs and directories for volumes and binds.
      for (const f of ['etc/hostname', 'etc/hosts', 'etc/resolv.conf']) {
        await writeFile(join(target, f), '')
      }
      await mkdir(join(target, 'data'))
      await mkdir(join(target, 'home/user/vol'), { recursive: true })
      // What the container did.
      await mkdir(join(target, 'root/work/data'), { recursive: true })
      await writeFile(join(target, 'root/work/data/a.bin'), Buffer.alloc(300_000))
      await writeFile(join(target, 'root/work/data/b.bin'), Buffer.alloc(200_000))
      await link(join(target, 'root/work/data/a.bin'), join(target, 'root/work/a.link'))
      await writeFile(join(target, 'tmp.log'), 'x'.repeat(1000))
      await symlink('/root/work', join(target, 'work'))
      await writeFile(join(target, 'etc/passwd'), 'root:x:0:0::/root:/bin/bash\n')
      await rm(join(target, 'bin/vi'))
      // Written into a mount point while nothing was mounted on it: the mount hides it.
      await writeFile(join(target, 'data/hidden'), 'y'.repeat(5000))
      unmount(target)
      mounted = false

      const u = await t.store.rwUsage('c1', new Set(['/data', '/home/user/vol']))
      assert.equal(u.bytes, 300_000 + 200_000 + 1000 + 28)
      // a.bin, b.bin, a.link, tmp.log, the symlink, passwd.
      assert.equal(u.files, 6)
      assert.equal(u.deleted, 1)
      assert.ok(
        u.lastChange >= before - 1000 && u.lastChange <= Date.now() + 1000,
        `${u.lastChange}`,
      )
      // The linked file counts where the walk (in byte order) meets it first.
      assert.deepEqual(u.top, [
        { path: '/root/work/a.link', bytes: 300_000 },
        { path: '/root/work/data/b.bin', bytes: 200_000 },
        { path: '/tmp.log', bytes: 1000 },
        { path: '/etc/passwd', bytes: 28 },
      ])
    } finally {
      if (mounted) unmount(target)
      await t.cleanup()
    }
  })
})

describe('topPaths', () => {
  type N = { bytes: number; children?: Map<string, N> }
  const dir = (kids: Record<string, N>): N => ({
    bytes: Object.values(kids).reduce((s, k) => s + k.bytes, 0),
    children: new Map(Object.entries(kids)),
  })
  const file = (bytes: number): N => ({ bytes })

  test('a single chain opens to where the bytes are', () => {
    const root = dir({ home: dir({ me: dir({ proj: dir({ a: file(5), b: file(7) }) }) }) })
    assert.deepEqual(topPaths(root, 5), [
      { path: '/home/me/proj/b', bytes: 7 },
      { path: '/home/me/proj/a', bytes: 5 },
    ])
  })

  test('a directory of many parts is named whole rather than split past n lines', () => {
    const many: Record<string, N> = {}
    for (let i = 0; i < 20; i++) many[`f${i}`] = file(10)
    const root = dir({ srv: dir({ data: dir(many) }), tmp: dir({ x: file(50) }), e: file(1) })
    assert.deepEqual(topPaths(root, 5), [
      { path: '/srv/data', bytes: 200 },
      { path: '/tmp/x', bytes: 50 },
      { path: '/e', bytes: 1 },
    ])
  })

  test('at most n places, biggest first; empty places are not named', () => {
    const root = dir({
      a: file(1),
      b: file(2),
      c: file(3),
      d: file(4),
      e: file(5),
      f: file(6),
      z: file(0),
    })
    assert.deepEqual(
      topPaths(root, 3).map((p) => p.path),
      ['/f', '/e', '/d'],
    )
  })
})
