import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
  utimes,
} from 'node:fs/promises'
import { after, before, describe, test } from 'node:test'
import { lgetxattr, lsetxattr, mknod, S_IFCHR } from '../sys/libc.ts'
import { changes, diffTar } from './diff.ts'
import { unpackLayer } from './unpack.ts'

let dir: string
let lower: string
let upper: string

before(async () => {
  dir = await mkdtemp('/tmp/berth-diff-')
  lower = `${dir}/lower`
  upper = `${dir}/upper`
  // The image: /bin/ls, /etc/passwd, /home/old, /keep
  for (const d of ['bin', 'etc', 'home', 'keep']) await mkdir(`${lower}/${d}`, { recursive: true })
  await writeFile(`${lower}/bin/ls`, 'ls')
  await writeFile(`${lower}/etc/passwd`, 'root:x:0:0::/root:/bin/sh\n')
  await writeFile(`${lower}/home/old`, 'old')
  // An image's directories are older than anything a container does; without this, a fast
  // run could give upper and lower dirs the same mtime and the parents would not count as changed.
  const imageTime = new Date('2020-01-01T00:00:00Z')
  for (const d of ['bin', 'etc', 'home', 'keep'])
    await utimes(`${lower}/${d}`, imageTime, imageTime)
  // What a container changed, as overlayfs leaves it in the upper directory.
  for (const d of ['bin', 'etc', 'home', 'tmp/d', 'dev', 'proc']) {
    await mkdir(`${upper}/${d}`, { recursive: true })
  }
  mknod(`${upper}/bin/ls`, S_IFCHR, 0, 0) // rm /bin/ls
  await writeFile(`${upper}/etc/passwd`, 'root:x:0:0::/root:/bin/ash\n') // modified
  await writeFile(`${upper}/etc/hostname`, '') // runtime mount point stubs
  await writeFile(`${upper}/etc/hosts`, '')
  lsetxattr(`${upper}/home`, 'trusted.overlay.opaque', Buffer.from('y')) // rm -rf /home; mkdir /home
  await writeFile(`${upper}/home/new`, 'new')
  await writeFile(`${upper}/tmp/d/f`, 'hello\n')
  await link(`${upper}/tmp/d/f`, `${upper}/tmp/d/hard`)
  await symlink('/etc/passwd', `${upper}/tmp/d/link`)
  await writeFile(`${upper}/tmp/d/cap`, 'bin')
  lsetxattr(
    `${upper}/tmp/d/cap`,
    'security.capability',
    Buffer.from('0100000200200000000000000000000000000000', 'hex'),
  )
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('changes', () => {
  test('lists A/C/D as Docker does, leaving out the runtime mount points', async () => {
    const got = await changes({ upper, lowers: [lower] })
    const text = got.map((c) => `${'CAD'[c.Kind]} ${c.Path}`)
    assert.deepEqual(text, [
      'C /bin',
      'D /bin/ls',
      'C /etc',
      'C /etc/passwd',
      'C /home',
      'A /home/new',
      'A /tmp',
      'A /tmp/d',
      'A /tmp/d/cap',
      'A /tmp/d/f',
      'A /tmp/d/hard',
      'A /tmp/d/link',
    ])
  })
})

describe('diffTar', () => {
  test('writes whiteouts, opaque dirs, hardlinks and xattrs, and they unpack back', async () => {
    const tarPath = `${dir}/layer.tar`
    const chunks: Buffer[] = []
    for await (const c of diffTar({ upper, lowers: [lower] })) chunks.push(c as Buffer)
    await writeFile(tarPath, Buffer.concat(chunks))
    const list = spawnSync('tar', ['-tvf', tarPath], { encoding: 'utf8' })
    assert.equal(list.status, 0, list.stderr)
    const names = spawnSync('tar', ['-tf', tarPath], { encoding: 'utf8' }).stdout.trim().split('\n')
    assert.deepEqual(names, [
      'bin/',
      'bin/.wh.ls',
      'etc/',
      'etc/passwd',
      'home/',
      'home/.wh..wh..opq',
      'home/new',
      'tmp/',
      'tmp/d/',
      'tmp/d/cap',
      'tmp/d/f',
      'tmp/d/hard',
      'tmp/d/link',
    ])
    assert.match(list.stdout, /tmp\/d\/hard link to tmp\/d\/f/)

    const out = `${dir}/unpacked`
    await mkdir(out)
    const { Readable } = await import('node:stream')
    await unpackLayer(Readable.from([Buffer.concat(chunks)]), out)
    assert.ok((await lstat(`${out}/bin/ls`)).isCharacterDevice(), 'whiteout back as 0/0 device')
    assert.equal(lgetxattr(`${out}/home`, 'trusted.overlay.opaque')?.toString(), 'y')
    const f = await lstat(`${out}/tmp/d/f`)
    assert.equal(f.ino, (await lstat(`${out}/tmp/d/hard`)).ino)
    assert.equal(await readlink(`${out}/tmp/d/link`), '/etc/passwd')
    assert.equal(
      lgetxattr(`${out}/tmp/d/cap`, 'security.capability')?.toString('hex'),
      '0100000200200000000000000000000000000000',
    )
    assert.equal(await readFile(`${out}/etc/passwd`, 'utf8'), 'root:x:0:0::/root:/bin/ash\n')
    await assert.rejects(lstat(`${out}/etc/hostname`), /ENOENT/)
    await assert.rejects(lstat(`${out}/dev`), /ENOENT/)
  })

  test('long and non-ASCII names survive through PAX records', async () => {
    const up = `${dir}/up2`
    const long = `${'a'.repeat(120)}/${'b'.repeat(120)}`
    await mkdir(`${up}/${long}`, { recursive: true })
    await writeFile(`${up}/${long}/ünïcödé-${'c'.repeat(110)}`, 'x')
    const chunks: Buffer[] = []
    for await (const c of diffTar({ upper: up, lowers: [] })) chunks.push(c as Buffer)
    const out = `${dir}/out2`
    await mkdir(out)
    const { Readable } = await import('node:stream')
    await unpackLayer(Readable.from([Buffer.concat(chunks)]), out)
    assert.equal(await readFile(`${out}/${long}/ünïcödé-${'c'.repeat(110)}`, 'utf8'), 'x')
  })
})

describe("mount points of a container's GPU files", () => {
  const stubs = [
    '/usr/bin/nvidia-smi',
    '/usr/lib64/libcuda.so.1',
    '/usr/lib64/libcuda.so',
    '/tmp/nvidia-mps',
    '/var/run/nvidia-persistenced/socket',
  ]
  let low: string

  /** An upper directory holding what runc leaves for the GPU mounts, plus `extra`. */
  async function upperWith(name: string, extra: (up: string) => Promise<void>) {
    const up = `${dir}/${name}`
    for (const d of ['usr/bin', 'usr/lib64', 'tmp/nvidia-mps', 'var/run/nvidia-persistenced']) {
      await mkdir(`${up}/${d}`, { recursive: true })
    }
    for (const f of ['usr/bin/nvidia-smi', 'usr/lib64/libcuda.so.1', 'usr/lib64/libcuda.so']) {
      await writeFile(`${up}/${f}`, '')
    }
    await writeFile(`${up}/var/run/nvidia-persistenced/socket`, '')
    await extra(up)
    return { upper: up, lowers: [low], stubs }
  }

  async function tarNames(dirs: Parameters<typeof diffTar>[0]): Promise<string[]> {
    const chunks: Buffer[] = []
    for await (const c of diffTar(dirs)) chunks.push(c as Buffer)
    const tarPath = `${dir}/stubs.tar`
    await writeFile(tarPath, Buffer.concat(chunks))
    const r = spawnSync('tar', ['-tf', tarPath], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    return r.stdout.split('\n').filter((l) => l !== '')
  }

  before(async () => {
    low = `${dir}/gpulower`
    await mkdir(`${low}/usr/bin`, { recursive: true })
    await writeFile(`${low}/usr/bin/ls`, 'ls')
    const imageTime = new Date('2020-01-01T00:00:00Z')
    for (const d of ['usr', 'usr/bin']) await utimes(`${low}/${d}`, imageTime, imageTime)
  })

  test('only mount points: no change, an empty layer', async () => {
    const dirs = await upperWith('gpu1', async () => {})
    assert.deepEqual(await changes(dirs), [])
    assert.deepEqual(await tarNames(dirs), [])
    // Without the record they are the container's own files, as Docker shows them.
    assert.ok((await changes({ ...dirs, stubs: [] })).some((c) => c.Path === '/usr/lib64'))
  })

  test("the container's own files beside them are kept, and a mount point that was written to", async () => {
    const dirs = await upperWith('gpu2', async (up) => {
      await writeFile(`${up}/usr/bin/mine`, 'mine')
      await writeFile(`${up}/usr/lib64/libcuda.so`, 'not empty')
    })
    assert.deepEqual(
      (await changes(dirs)).map((c) => `${'CAD'[c.Kind]} ${c.Path}`),
      ['C /usr', 'C /usr/bin', 'A /usr/bin/mine', 'A /usr/lib64', 'A /usr/lib64/libcuda.so'],
    )
    assert.deepEqual(await tarNames(dirs), [
      'usr/',
      'usr/bin/',
      'usr/bin/mine',
      'usr/lib64/',
      'usr/lib64/libcuda.so',
    ])
  })
})
