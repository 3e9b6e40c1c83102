import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  chown,
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import { NotFound } from '../errors.ts'
import { combineMounts } from '../task/spec.ts'
import { LocalVolumeStore } from '../volume/local.ts'
import {
  ContainerMounts,
  mergeTmpfsOptions,
  parseBind,
  parseMountSpec,
  parseVolumesFrom,
  validMountMode,
  withMountPropagation,
} from './mounts.ts'
import type { Container, MountPoint } from './types.ts'

let tmp: string
before(async () => {
  tmp = await mkdtemp('/tmp/berth-mounts-')
})
after(async () => {
  await rm(tmp, { recursive: true, force: true })
})

describe('parsing', () => {
  test('parseBind: Docker shapes for binds and volumes', async () => {
    const table: [string, Partial<MountPoint>][] = [
      [
        '/h:/c',
        {
          Type: 'bind',
          Source: '/h',
          Destination: '/c',
          Mode: '',
          RW: true,
          Propagation: 'rprivate',
        },
      ],
      ['/h:/c:ro', { Type: 'bind', Mode: 'ro', RW: false, Propagation: 'rprivate' }],
      ['/h:/c:rw,z', { Type: 'bind', Mode: 'rw,z', RW: true }],
      ['/h:/c:rslave', { Type: 'bind', Propagation: 'rslave' }],
      ['/h/../x/:/c/', { Source: '/x', Destination: '/c' }],
      ['name:/c', { Type: 'volume', Name: 'name', Mode: '', RW: true, copyData: true }],
      ['name:/c:nocopy', { Type: 'volume', copyData: false, Mode: 'nocopy' }],
      ['/c', { Type: 'volume', Destination: '/c', Name: undefined }],
    ]
    for (const [raw, want] of table) {
      const mp = await parseBind(raw)
      for (const [k, v] of Object.entries(want)) {
        assert.deepEqual(mp[k as keyof MountPoint], v, `${raw}: ${k}`)
      }
    }
  })

  test('parseBind: errors in Docker words', async () => {
    const table: [string, string][] = [
      [
        '/h:x',
        `invalid volume specification: '/h:x': invalid mount config for type "bind": invalid mount path: 'x' mount path must be absolute`,
      ],
      ['/h:/c:bogus', 'invalid mode: bogus'],
      ['a:b:c:d', "invalid volume specification: 'a:b:c:d'"],
      [':/c', "invalid volume specification: ':/c'"],
      ['/c:rw', "invalid volume specification: '/c:rw'"],
      [
        '/h:/',
        `invalid volume specification: '/h:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`,
      ],
      ['/h:/c:ro,rw', 'invalid mode: ro,rw'],
    ]
    for (const [raw, msg] of table) await assert.rejects(parseBind(raw), { message: msg }, raw)
  })

  test('parseMountSpec: --mount forms and errors', async () => {
    const src = await mkdtemp(join(tmp, 'src-'))
    const b = await parseMountSpec({
      Type: 'bind',
      Source: src,
      Target: '/m',
      ReadOnly: true,
      BindOptions: { Propagation: 'rslave' },
    })
    assert.deepEqual(b, {
      Type: 'bind',
      Source: src,
      Destination: '/m',
      Mode: '',
      RW: false,
      Propagation: 'rslave',
    })
    const t = await parseMountSpec({
      Type: 'tmpfs',
      Target: '/t',
      TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1770 },
    })
    assert.equal(t.tmpfsData, 'mode=1770,size=1m')
    const v = await parseMountSpec({
      Type: 'volume',
      Target: '/v',
      VolumeOptions: { NoCopy: true },
    })
    assert.equal(v.Name, undefined)
    assert.equal(v.copyData, false)
    await assert.rejects(parseMountSpec({ Type: 'bind', Source: '/nonexistent/x', Target: '/x' }), {
      message:
        'invalid mount config for type "bind": bind source path does not exist: /nonexistent/x',
    })
    await assert.rejects(parseMountSpec({ Type: 'bind', Source: 'rel', Target: '/x' }), {
      message: `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`,
    })
    await assert.rejects(parseMountSpec({ Type: 'tmpfs', Source: 'x', Target: '/x' }), {
      message: 'invalid mount config for type "tmpfs": field Source must not be specified',
    })
    await assert.rejects(parseMountSpec({ Type: 'volume', Source: 'v' }), {
      message: 'invalid mount config for type "volume": field Target must not be empty',
    })
    await assert.rejects(parseMountSpec({ Type: 'nfs', Target: '/x' }), {
      message: 'invalid mount config for type "nfs": mount type unknown',
    })
  })

  test('volumes-from modes, mount modes, tmpfs merge', () => {
    assert.deepEqual(parseVolumesFrom('c1'), { id: 'c1', mode: 'rw' })
    assert.deepEqual(parseVolumesFrom('c1:ro'), { id: 'c1', mode: 'ro' })
    assert.throws(() => parseVolumesFrom('c1:rslave'), { message: 'invalid mode: rslave' })
    assert.throws(() => parseVolumesFrom('c1:nocopy'), { message: 'invalid mode: nocopy' })
    assert.equal(validMountMode('ro,z,rshared,nocopy,cached'), true)
    assert.equal(validMountMode('ro,Z,z'), false)
    assert.deepEqual(mergeTmpfsOptions(['noexec', 'nosuid', 'size=1m', 'exec', 'size=2m']), [
      'nosuid',
      'exec',
      'size=2m',
    ])
  })
})

function fakeContainer(id: string, mountPoints: MountPoint[]): Container {
  return { id, mountPoints } as unknown as Container
}

describe('ContainerMounts', () => {
  test('resolve, populate, prepare and release with real volumes', async () => {
    const volumes = new LocalVolumeStore(await mkdtemp(join(tmp, 'vols-')))
    await volumes.init()
    const host = await mkdtemp(join(tmp, 'host-'))
    const containers = new Map<string, Container>()
    const mounts = new ContainerMounts({
      volumes,
      container: (ref) => {
        const c = containers.get(ref)
        if (!c) throw new NotFound(`No such container: ${ref}`)
        return c
      },
      withRootfs: async (_id, _rootfs, fn) => fn(),
    })
    const id = 'a'.repeat(64)
    const points = await mounts.resolve(
      id,
      { Image: 'x', Volumes: { '/seeded': {}, '/named': {} } },
      { Binds: [`${host}/new:/b:ro`, 'named:/named'], Mounts: [{ Type: 'tmpfs', Target: '/t' }] },
    )
    const byDest = new Map(points.map((p) => [p.Destination, p]))
    assert.equal(byDest.get('/named')?.Name, 'named')
    assert.equal(byDest.get('/named')?.Mode, 'z')
    const anon = byDest.get('/seeded') as MountPoint
    assert.match(anon.Name ?? '', /^[0-9a-f]{64}$/)
    assert.equal(anon.anonymous, true)
    assert.deepEqual(volumes.refs('named'), [id])

    // Copy-up from the "image" (a plain directory standing in for the rootfs), safely:
    // a symlink in it pointing at the host does not lead the copy outside.
    const rootfs = await mkdtemp(join(tmp, 'rootfs-'))
    await mkdir(join(rootfs, 'data'))
    await writeFile(join(rootfs, 'data', 'seed'), 'seeded')
    await chown(join(rootfs, 'data', 'seed'), 1000, 1000)
    await chmod(join(rootfs, 'data', 'seed'), 0o600)
    await symlink('/data', join(rootfs, 'seeded'))
    await symlink('/etc', join(rootfs, 'named'))
    await mounts.populate(id, points, rootfs)
    const seeded = join(anon.Source, 'seed')
    assert.equal(await readFile(seeded, 'utf8'), 'seeded')
    assert.equal((await stat(seeded)).uid, 1000)
    assert.equal((await stat(seeded)).mode & 0o777, 0o600)
    // /named -> /etc resolves to <rootfs>/etc, which does not exist: nothing copied from the host.
    assert.deepEqual(
      await volumes.usage().then((vs) => vs.find((v) => v.Name === 'named')?.UsageData),
      {
        Size: 0,
        RefCount: 1,
      },
    )

    const c = fakeContainer(id, points)
    containers.set('src', c)
    const oci = await mounts.prepare(c, rootfs)
    assert.deepEqual(oci.map((m) => m.destination).sort(), ['/b', '/named', '/seeded', '/t'])
    const bind = oci.find((m) => m.destination === '/b')
    assert.deepEqual(bind?.options, ['rbind', 'ro', 'rprivate'])
    assert.ok((await stat(join(host, 'new'))).isDirectory(), 'a -v host dir is created at start')
    const tmpfs = oci.find((m) => m.destination === '/t')
    assert.deepEqual(tmpfs?.options, ['noexec', 'nosuid', 'nodev', 'rprivate'])
    assert.ok((await lstat(join(rootfs, 'b'))).isDirectory(), 'mount point made inside the rootfs')

    // --volumes-from copies the mount points, read-only with :ro, and takes references.
    const id2 = 'b'.repeat(64)
    const from = await mounts.resolve(id2, { Image: 'x' }, { VolumesFrom: ['src:ro'] })
    assert.equal(from.length, 4)
    assert.ok(from.every((m) => !m.RW))
    assert.deepEqual(volumes.refs('named').sort(), [id, id2].sort())
    await assert.rejects(
      mounts.resolve('c'.repeat(64), { Image: 'x' }, { VolumesFrom: ['nope'] }),
      {
        message: 'No such container: nope',
      },
    )

    // rm -v of the first: named stays, the anonymous one is still used by the second.
    await mounts.release(id, points, true)
    assert.ok(await volumes.get('named'))
    assert.ok(await volumes.get(anon.Name as string))
    await mounts.release(id2, from, true)
    await assert.rejects(volumes.get(anon.Name as string), NotFound)
    assert.ok(await volumes.get('named'))
    assert.deepEqual(volumes.refs('named'), [])
  })

  test('a failed resolve releases what it took and removes anonymous volumes it made', async () => {
    const volumes = new LocalVolumeStore(await mkdtemp(join(tmp, 'vols-')))
    await volumes.init()
    const mounts = new ContainerMounts({
      volumes,
      container: () => {
        throw new NotFound('x')
      },
      withRootfs: async (_i, _r, fn) => fn(),
    })
    await assert.rejects(
      mounts.resolve('d'.repeat(64), { Image: 'x' }, { Binds: ['keep:/a', '/anon', '/h:/a'] }),
      { message: 'Duplicate mount point: /a' },
    )
    assert.deepEqual(
      (await volumes.list()).map((v) => v.Name),
      ['keep'],
    )
    assert.deepEqual(volumes.refs('keep'), [])
    await assert.rejects(
      mounts.resolve('d'.repeat(64), { Image: 'x' }, { Binds: ['rel/dir:/x'] }),
      /create rel\/dir: "rel\/dir" includes invalid characters/,
    )
  })

  test('an anonymous volume over a file is refused', async () => {
    const volumes = new LocalVolumeStore(await mkdtemp(join(tmp, 'vols-')))
    await volumes.init()
    const mounts = new ContainerMounts({
      volumes,
      container: () => {
        throw new NotFound('x')
      },
      withRootfs: async (_i, _r, fn) => fn(),
    })
    const rootfs = await mkdtemp(join(tmp, 'rootfs-'))
    await writeFile(join(rootfs, 'file'), 'x')
    const pts = await mounts.resolve('e'.repeat(64), { Image: 'x', Volumes: { '/file': {} } }, {})
    await assert.rejects(mounts.populate('e'.repeat(64), pts, rootfs), {
      message: `cannot mount volume over existing file, file exists ${rootfs}/file`,
    })
  })

  test('etc files give way to user mounts; shared binds set the rootfs propagation', () => {
    const m = (d: string) => ({ destination: d, type: 'bind', source: '/s', options: [] })
    assert.deepEqual(
      combineMounts([m('/etc/hosts'), m('/x')], [m('/etc/hosts'), m('/etc/hostname')]).map(
        (x) => x.destination,
      ),
      ['/etc/hosts', '/x', '/etc/hostname'],
    )
    const c = fakeContainer('x', [
      { Type: 'bind', Source: '/s', Destination: '/d', Mode: '', RW: true, Propagation: 'rshared' },
    ])
    assert.deepEqual(withMountPropagation({ linux: {} }, c), {
      linux: { rootfsPropagation: 'shared' },
    })
  })
})
