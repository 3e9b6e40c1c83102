import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { lstat, mkdir, readFile, readdir, readlink, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { describe, test } from 'node:test'
import { createGzip, gzipSync } from 'node:zlib'
import tar from 'tar-stream'
import { sha256, type Digest } from '../digest.ts'
import { Conflict, InvalidArgument, NotFound } from '../errors.ts'
import { lgetxattr } from '../sys/libc.ts'
import { decompress } from '../compression.ts'
import { LocalLayerStore } from './local.ts'
import { mountOverlay, readMountInfo, unmount } from './mount.ts'
import { makeTar, names, streamOf, tempStore, zstd, type TarEntry } from './testkit.ts'

const basic: TarEntry[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/hello', data: 'hello\n' },
  { name: 'etc/link', type: 'symlink', linkname: 'hello' },
  { name: 'etc/hard', type: 'link', linkname: 'etc/hello' },
  { name: 'bin/', type: 'directory', mode: 0o755 },
  { name: 'bin/tool', data: 'x'.repeat(5000), mode: 0o755 },
]

async function diffDir(dir: string, diffID: Digest): Promise<string> {
  return join(dir, 'sha256', diffID.slice(7), 'diff')
}

async function assertEmptyStore(dir: string): Promise<void> {
  assert.deepEqual(await names(dir, 'sha256'), [])
  assert.deepEqual(await names(dir, 'l'), [])
  assert.deepEqual(await names(dir, 'tmp'), [])
}

describe('LocalLayerStore', () => {
  test('unpacks plain, gzip and zstd layers to the same diffID and content', async () => {
    const t = await tempStore()
    try {
      const plain = await makeTar(basic)
      const want = sha256(plain)
      for (const blob of [plain, gzipSync(plain), zstd(plain), zstd(plain, ['--no-check'])]) {
        const info = await t.store.unpack(streamOf(blob), { expectedDiffID: want })
        assert.deepEqual(info, { diffID: want, size: 6 + 5000 })
      }
      const d = await diffDir(t.dir, want)
      assert.equal(await readFile(join(d, 'etc/hello'), 'utf8'), 'hello\n')
      assert.equal(await readlink(join(d, 'etc/link')), 'hello')
      const a = await stat(join(d, 'etc/hello'))
      const b = await stat(join(d, 'etc/hard'))
      assert.equal(a.ino, b.ino)
      assert.equal(a.nlink, 2)
      assert.equal((await stat(join(d, 'bin/tool'))).mode & 0o7777, 0o755)
      assert.deepEqual(await t.store.list(), [{ diffID: want, size: 5006 }])
      assert.equal(await t.store.has(want), true)
      assert.deepEqual(await t.store.info(want), { diffID: want, size: 5006 })
      const links = await names(t.dir, 'l')
      assert.equal(links.length, 1)
      assert.equal(await readlink(join(t.dir, 'l', links[0])), `../sha256/${want.slice(7)}/diff`)
      assert.deepEqual(await names(t.dir, 'tmp'), [])

      await t.store.delete(want)
      assert.equal(await t.store.has(want), false)
      await assertEmptyStore(t.dir)
      await assert.rejects(t.store.info(want), NotFound)
      await assert.rejects(t.store.delete(want), NotFound)
    } finally {
      await t.cleanup()
    }
  })

  test('zstd: multiple frames, skippable frames and a large file decode exactly', async () => {
    const t = await tempStore()
    try {
      // Random data interleaved with long zero runs: raw, compressed and RLE blocks.
      const parts: Buffer[] = []
      for (let i = 0; i < 8; i++) {
        parts.push(Buffer.from(createHash('sha512').update(String(i)).digest()).fill(i, 0, 8))
        parts.push(Buffer.alloc(300_000 + i * 1000, 0))
        parts.push(Buffer.from(Array.from({ length: 70_000 }, (_, k) => (k * 7919 + i) & 255)))
      }
      const big = Buffer.concat(parts)
      const plain = await makeTar([{ name: 'big', data: big }, ...basic])
      const half = Math.floor(plain.length / 2)
      const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3])
      const blob = Buffer.concat([
        zstd(plain.subarray(0, half), ['-19']),
        skippable,
        zstd(plain.subarray(half), ['--no-check']),
      ])
      const info = await t.store.unpack(streamOf(blob))
      assert.equal(info.diffID, sha256(plain))
      const d = await diffDir(t.dir, info.diffID)
      assert.ok((await readFile(join(d, 'big'))).equals(big))

      // A truncated stream is an invalid layer and leaves nothing.
      await t.store.delete(info.diffID)
      await assert.rejects(
        t.store.unpack(streamOf(blob.subarray(0, blob.length - 10))),
        InvalidArgument,
      )
      await assertEmptyStore(t.dir)
    } finally {
      await t.cleanup()
    }
  })

  test('a diffID mismatch or a corrupt stream leaves nothing behind', async () => {
    const t = await tempStore()
    try {
      const plain = await makeTar(basic)
      const wrong = sha256('something else')
      await assert.rejects(t.store.unpack(streamOf(plain), { expectedDiffID: wrong }), (err) => {
        assert.ok(err instanceof InvalidArgument)
        assert.match(err.message, /expected sha256:.*got sha256:/)
        return true
      })
      await assertEmptyStore(t.dir)
      const gz = gzipSync(plain)
      gz[gz.length - 20] ^= 0xff
      await assert.rejects(t.store.unpack(streamOf(gz)), InvalidArgument)
      await assertEmptyStore(t.dir)
      await assert.rejects(t.store.unpack(streamOf(plain.subarray(0, 1500))), InvalidArgument)
      await assertEmptyStore(t.dir)
      await assert.rejects(t.store.unpack(streamOf(Buffer.alloc(600, 7))), InvalidArgument)
      await assertEmptyStore(t.dir)

      // An existing layer is read again and checked, not trusted blindly.
      const info = await t.store.unpack(streamOf(plain))
      const other = await makeTar([{ name: 'x', data: 'y' }])
      await assert.rejects(
        t.store.unpack(streamOf(other), { expectedDiffID: info.diffID }),
        InvalidArgument,
      )
      assert.deepEqual(await t.store.unpack(streamOf(plain), { expectedDiffID: info.diffID }), info)
      assert.equal((await names(t.dir, 'l')).length, 1)
    } finally {
      await t.cleanup()
    }
  })

  test('an aborted unpack stops and leaves nothing', async () => {
    const t = await tempStore()
    try {
      const src = new PassThrough()
      src.write((await makeTar(basic)).subarray(0, 2048))
      const ac = new AbortController()
      const p = t.store.unpack(src, { signal: ac.signal })
      setTimeout(() => ac.abort(), 20)
      await assert.rejects(p, { name: 'AbortError' })
      await assertEmptyStore(t.dir)
    } finally {
      await t.cleanup()
    }
  })

  test('concurrent unpacks of one layer all succeed and keep one copy', async () => {
    const t = await tempStore()
    try {
      const plain = await makeTar(basic)
      const infos = await Promise.all(
        Array.from({ length: 5 }, () => t.store.unpack(streamOf(plain))),
      )
      for (const i of infos) assert.deepEqual(i, infos[0])
      assert.deepEqual(await names(t.dir, 'sha256'), [infos[0].diffID.slice(7)])
      assert.equal((await names(t.dir, 'l')).length, 1)
      assert.deepEqual(await names(t.dir, 'tmp'), [])
    } finally {
      await t.cleanup()
    }
  })

  test('files made with their final mode and owner at once match those chmod and chown make', async () => {
    const t = await tempStore()
    try {
      const plain = await makeTar([
        { name: 'plain', data: 'a', mode: 0o644 },
        { name: 'exe', data: 'b', mode: 0o755 },
        // Bits the umask would take off, and owners other than the unpacker.
        { name: 'shared', data: 'c', mode: 0o666 },
        { name: 'theirs', data: 'd', mode: 0o644, uid: 1000, gid: 1000 },
        { name: 'grp', data: 'e', mode: 0o644, gid: 50 },
        // A set-group-ID directory hands its group down; the archive's owner still wins.
        { name: 'mail/', type: 'directory', mode: 0o2775, gid: 8 },
        { name: 'mail/root', data: 'f', mode: 0o644 },
        { name: 'mail/sub/deep', data: 'g', mode: 0o600 },
        { name: 'plaindir/', type: 'directory', mode: 0o755, gid: 8 },
        { name: 'plaindir/root', data: 'h', mode: 0o640 },
      ])
      const info = await t.store.unpack(streamOf(plain))
      const d = await diffDir(t.dir, info.diffID)
      const want: Record<string, [number, number, number]> = {
        plain: [0o644, 0, 0],
        exe: [0o755, 0, 0],
        shared: [0o666, 0, 0],
        theirs: [0o644, 1000, 1000],
        grp: [0o644, 0, 50],
        'mail/root': [0o644, 0, 0],
        'mail/sub/deep': [0o600, 0, 0],
        'plaindir/root': [0o640, 0, 0],
      }
      for (const [name, [mode, uid, gid]] of Object.entries(want)) {
        const st = await lstat(join(d, name))
        assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [mode, uid, gid], name)
      }
      assert.equal((await lstat(join(d, 'mail/sub'))).mode & 0o2000, 0o2000, 'mkdir keeps set-GID')
    } finally {
      await t.cleanup()
    }
  })

  test('modes, ownership, times, xattrs and devices', async () => {
    const t = await tempStore()
    try {
      const m = new Date(1_500_000_000_000)
      const plain = await makeTar([
        { name: 'd/', type: 'directory', mode: 0o1777, uid: 7, gid: 8, mtime: m },
        { name: 'd/suid', data: '#!/bin/sh\n', mode: 0o4755, uid: 1234, gid: 5678, mtime: m },
        { name: 'd/sgid', data: '', mode: 0o2711, uid: 1, gid: 2 },
        { name: 'd/x', data: 'x', pax: { 'SCHILY.xattr.user.note': 'hi', mtime: '1500000000.25' } },
        { name: 'd/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: 'd/fifo', type: 'fifo', mode: 0o600 },
        { name: 'd/sym', type: 'symlink', linkname: '/nowhere', uid: 3, gid: 4 },
      ])
      const info = await t.store.unpack(streamOf(plain))
      const d = await diffDir(t.dir, info.diffID)
      const dir = await lstat(join(d, 'd'))
      assert.equal(dir.mode & 0o7777, 0o1777)
      assert.deepEqual([dir.uid, dir.gid], [7, 8])
      assert.equal(dir.mtimeMs, m.getTime(), 'directory times are set after its children')
      const suid = await lstat(join(d, 'd/suid'))
      assert.equal(suid.mode & 0o7777, 0o4755)
      assert.deepEqual([suid.uid, suid.gid], [1234, 5678])
      assert.equal(suid.mtimeMs, m.getTime())
      assert.equal((await lstat(join(d, 'd/sgid'))).mode & 0o7777, 0o2711)
      assert.equal(lgetxattr(join(d, 'd/x'), 'user.note')?.toString(), 'hi')
      assert.equal((await lstat(join(d, 'd/x'))).mtimeMs, 1500000000250)
      const dev = await lstat(join(d, 'd/null'))
      assert.ok(dev.isCharacterDevice())
      assert.equal(dev.rdev, 0x103)
      assert.ok((await lstat(join(d, 'd/fifo'))).isFIFO())
      const sym = await lstat(join(d, 'd/sym'))
      assert.deepEqual([sym.uid, sym.gid], [3, 4])

      // Devices can be forbidden; fifos and whiteouts are still fine.
      const dev2 = await makeTar([{ name: 'sda', type: 'block-device', devmajor: 8 }])
      await assert.rejects(
        t.store.unpack(streamOf(dev2), { allowDevices: false }),
        /invalid layer: entry "sda" is a device node/,
      )
      const wh = await makeTar([{ name: '.wh.gone' }, { name: 'p', type: 'fifo' }])
      await t.store.unpack(streamOf(wh), { allowDevices: false })
    } finally {
      await t.cleanup()
    }
  })

  test('binary xattrs from GNU tar (file capabilities) survive intact', async () => {
    const t = await tempStore()
    try {
      const src = join(t.root, 'src')
      await mkdir(src)
      await writeFile(join(src, 'ping'), 'binary')
      // cap_setuid (bit 7) makes a 0x80 byte, which a UTF-8 reading would mangle.
      execFileSync('setcap', ['cap_setuid,cap_setgid,cap_net_raw+ep', join(src, 'ping')])
      const want = lgetxattr(join(src, 'ping'), 'security.capability')
      assert.ok(want && want.includes(0xc0))
      const archive = execFileSync('tar', [
        '--xattrs',
        '--xattrs-include=*',
        '--format=posix',
        '-C',
        src,
        '-cf',
        '-',
        'ping',
      ])
      const info = await t.store.unpack(streamOf(archive))
      const got = lgetxattr(join(await diffDir(t.dir, info.diffID), 'ping'), 'security.capability')
      assert.ok(got?.equals(want))
    } finally {
      await t.cleanup()
    }
  })

  test('whiteouts and opaque dirs hide lower content in a real overlay mount', async () => {
    const t = await tempStore()
    const target = join(t.root, 'rootfs')
    await mkdir(target)
    let mounted = false
    try {
      const l1 = await t.store.unpack(
        streamOf(
          await makeTar([
            { name: 'a/file1', data: '1' },
            { name: 'a/file2', data: '2' },
            { name: 'b/old', data: 'old' },
            { name: 'c/keep', data: 'keep' },
          ]),
        ),
      )
      const l2 = await t.store.unpack(
        streamOf(
          await makeTar([
            { name: 'a/.wh.file1' },
            { name: 'b/', type: 'directory' },
            { name: 'b/.wh..wh..opq' },
            { name: 'b/new', data: 'new' },
          ]),
        ),
      )
      const d2 = await diffDir(t.dir, l2.diffID)
      const wh = await lstat(join(d2, 'a/file1'))
      assert.ok(wh.isCharacterDevice())
      assert.equal(wh.rdev, 0)
      assert.equal(lgetxattr(join(d2, 'b'), 'trusted.overlay.opaque')?.toString(), 'y')
      await assert.rejects(lstat(join(d2, 'b/.wh..wh..opq')), { code: 'ENOENT' })

      await t.store.createRW('c1', [l1.diffID, l2.diffID])
      await assert.rejects(t.store.createRW('c1', [l1.diffID]), Conflict)
      await assert.rejects(t.store.createRW('c2', [sha256('nope')]), NotFound)
      await assert.rejects(t.store.createRW('../x', []), InvalidArgument)
      const m = await t.store.rootfsMount('c1', target)
      assert.equal(m.type, 'overlay')
      assert.equal(m.destination, target)
      const lower = m.options[0].slice('lowerdir='.length).split(':')
      const l2link = await readFile(join(t.dir, 'sha256', l2.diffID.slice(7), 'link'), 'utf8')
      assert.equal(lower[0], join(t.dir, 'l', l2link), 'top layer first')
      assert.equal(m.options[1], `upperdir=${join(t.dir, 'rw/c1/upper')}`)
      assert.equal(m.options[2], `workdir=${join(t.dir, 'rw/c1/work')}`)
      await assert.rejects(t.store.delete(l1.diffID), Conflict)

      mountOverlay(m)
      mounted = true
      assert.deepEqual((await readdir(join(target, 'a'))).sort(), ['file2'])
      assert.deepEqual((await readdir(join(target, 'b'))).sort(), ['new'])
      assert.equal(await readFile(join(target, 'c/keep'), 'utf8'), 'keep')
      await writeFile(join(target, 'c/added'), 'z'.repeat(1000))
      assert.equal(await t.store.rwSize('c1'), 1000)

      // removeRW detaches the mount that still uses the layer.
      await t.store.removeRW('c1')
      mounted = false
      assert.ok(!(await readMountInfo()).some((x) => x.mountPoint === target))
      assert.deepEqual(await names(t.dir, 'rw'), [])
      await t.store.removeRW('c1')
      await assert.rejects(t.store.rootfsMount('c1', target), NotFound)
      await t.store.delete(l1.diffID)
    } finally {
      if (mounted) unmount(target, { detach: true })
      await t.cleanup()
    }
  })

  test('an image without layers mounts over an empty lower dir', async () => {
    const t = await tempStore()
    const target = join(t.root, 'rootfs')
    await mkdir(target)
    try {
      await t.store.createRW('empty', [])
      const m = await t.store.rootfsMount('empty', target)
      assert.equal(m.options[0], `lowerdir=${join(t.dir, 'rw/empty/empty')}`)
      mountOverlay(m)
      try {
        assert.deepEqual(await readdir(target), [])
      } finally {
        unmount(target)
      }
      await t.store.removeRW('empty')
    } finally {
      await t.cleanup()
    }
  })

  for (const count of [45, 100]) {
    test(`an image of ${count} layers mounts`, async () => {
      const t = await tempStore()
      const target = join(t.root, 'rootfs')
      await mkdir(target)
      try {
        const ids: Digest[] = []
        for (let i = 0; i < count; i++) {
          const l = await makeTar([
            { name: `f${i}`, data: String(i) },
            { name: 'top', data: String(i) },
          ])
          ids.push((await t.store.unpack(streamOf(l))).diffID)
        }
        await t.store.createRW('many', ids)
        const m = await t.store.rootfsMount('many', target)
        // Without short links the options would not fit in the page mount(2) takes.
        assert.ok(ids.map((d) => join(t.dir, 'sha256', d.slice(7), 'diff')).join(':').length > 4096)
        // With 100 even the short links do not fit: mountOverlay names them relative to l/.
        if (count === 100) assert.ok(m.options.join(',').length > 4096)
        mountOverlay(m)
        try {
          assert.equal(await readFile(join(target, 'top'), 'utf8'), String(count - 1))
          assert.equal((await readdir(target)).length, count + 1)
        } finally {
          unmount(target)
        }
        await t.store.removeRW('many')
      } finally {
        await t.cleanup()
      }
    })
  }

  test('init sweeps half-made layers and repairs short links', async () => {
    const t = await tempStore()
    try {
      const info = await t.store.unpack(streamOf(await makeTar(basic)))
      const [short] = await names(t.dir, 'l')
      await mkdir(join(t.dir, 'tmp/deadbeef/diff/etc'), { recursive: true })
      await mkdir(join(t.dir, 'sha256', 'f'.repeat(64)))
      await writeFile(join(t.dir, 'l/STALE'), '')
      await import('node:fs/promises').then((fs) => fs.unlink(join(t.dir, 'l', short)))
      const again = new LocalLayerStore(t.dir)
      await again.init()
      assert.deepEqual(await names(t.dir, 'tmp'), [])
      assert.deepEqual(await names(t.dir, 'l'), [short])
      assert.deepEqual(await names(t.dir, 'sha256'), [info.diffID.slice(7)])
      assert.deepEqual(await again.list(), [info])
    } finally {
      await t.cleanup()
    }
  })

  test('a large layer streams without blocking the event loop', async () => {
    const t = await tempStore()
    try {
      const size = 50 * 1024 * 1024
      const pack = tar.pack()
      const h = createHash('sha256')
      const fill = async (): Promise<void> => {
        const entry = pack.entry({ name: 'big', size, mode: 0o644 })
        const chunk = Buffer.alloc(64 * 1024)
        for (let off = 0; off < size; off += chunk.length) {
          chunk.fill(off & 255, 0, 100)
          h.update(chunk)
          if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()))
        }
        entry.end(null)
        pack.finalize()
      }
      const gz = Readable.from(pack as AsyncIterable<Buffer>).pipe(createGzip({ level: 1 }))
      let last = performance.now()
      let worst = 0
      const timer = setInterval(() => {
        const now = performance.now()
        worst = Math.max(worst, now - last)
        last = now
      }, 5)
      try {
        const [info] = await Promise.all([t.store.unpack(gz), fill()])
        assert.equal(info.size, size)
      } finally {
        clearInterval(timer)
      }
      assert.ok(worst < 200, `event loop stalled for ${worst.toFixed(0)} ms`)
      const on = await readFile(join(await diffDir(t.dir, (await t.store.list())[0].diffID), 'big'))
      assert.equal(createHash('sha256').update(on).digest('hex'), h.digest('hex'))
    } finally {
      await t.cleanup()
    }
  })

  test('a zstd bomb is decoded in bounded pieces', { timeout: 30_000 }, async () => {
    // 256 MiB of zeros compress to a few KiB; fzstd alone would inflate them in one call.
    const size = 256 * 1024 * 1024
    const blob = execFileSync('sh', ['-c', `head -c ${size} /dev/zero | zstd -q -c`])
    assert.ok(blob.length < 20_000)
    const base = process.memoryUsage().arrayBuffers
    const it = decompress(Readable.from([blob]))
    let total = 0
    let biggest = 0
    const first = await it.next()
    assert.ok(!first.done)
    assert.ok(process.memoryUsage().arrayBuffers - base < 32 * 1024 * 1024)
    total += first.value.length
    for await (const c of it) {
      total += c.length
      biggest = Math.max(biggest, c.length)
    }
    assert.equal(total, size)
    assert.ok(biggest <= 128 * 1024, `a piece of ${biggest} bytes`)
  })

  test('a zstd window larger than zstd allows by default is refused', async () => {
    // Frame header: magic, FHD 0 (no single segment), window descriptor 2^31.
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (31 - 10) << 3, 1, 0, 0])
    await assert.rejects(async () => {
      for await (const _ of decompress(Readable.from([frame]))) {
        // nothing should come out
      }
    }, /window of 2147483648 bytes/)
  })

  // Layers are made in tmp/: marked (chattr +T), each lands in a block group of its own instead
  // of beside the others, where ext4 without a journal makes every new inode pay for the ones
  // recently freed there. Where the filesystem has no such flag, init goes on without it.
  test('init marks tmp/ as the top of a directory hierarchy where the filesystem can', async () => {
    const t = await tempStore()
    try {
      const flags = (p: string) => execFileSync('lsattr', ['-d', p], { encoding: 'utf8' })
      const probe = join(t.root, 'probe')
      await mkdir(probe)
      let supported = true
      try {
        execFileSync('chattr', ['+T', probe], { stdio: 'ignore' })
      } catch {
        supported = false
      }
      assert.equal(/^\S*T/.test(flags(join(t.dir, 'tmp'))), supported)
      // Again on an existing store: still marked, nothing else changed.
      await t.store.init()
      assert.equal(/^\S*T/.test(flags(join(t.dir, 'tmp'))), supported)
      assert.deepEqual(await names(t.dir, 'tmp'), [])
    } finally {
      await t.cleanup()
    }
  })
})
