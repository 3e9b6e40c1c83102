// The VolumeStore conformance suite: what every implementation (LocalVolumeStore, and the fake
// the API tests use) must do, in Docker's words. volume-store.test.ts runs it on each.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Conflict, InvalidArgument, NotFound } from '../../src/engine/errors.ts'
import { ANONYMOUS_LABEL, type VolumeStore } from '../../src/engine/volume/types.ts'

export interface VolumeStoreFixture {
  store: VolumeStore
  /** Puts `bytes` bytes of data in the volume, as a container writing to it would. */
  write(name: string, bytes: number): Promise<void>
  close(): Promise<void>
}

function words(cls: new (...a: never[]) => Error, message: string | RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof cls, `${String(err)} is a ${cls.name}`)
    if (typeof message === 'string') assert.equal(err.message, message)
    else assert.match(err.message, message)
    return true
  }
}

export function volumeStoreSuite(name: string, make: () => Promise<VolumeStoreFixture>): void {
  const withStore = (fn: (f: VolumeStoreFixture) => Promise<void>) => async () => {
    const f = await make()
    try {
      await fn(f)
    } finally {
      await f.close()
    }
  }

  describe(`VolumeStore conformance: ${name}`, () => {
    test(
      "create answers Docker's shape, and again the same volume for the same name",
      withStore(async ({ store }) => {
        const v = await store.create({ name: 'data', labels: { a: 'b' } })
        assert.equal(v.Name, 'data')
        assert.equal(v.Driver, 'local')
        assert.equal(v.Scope, 'local')
        assert.deepEqual(v.Labels, { a: 'b' })
        assert.equal(v.Options, null)
        assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
        assert.match(v.Mountpoint, /\/data\/_data$/)
        const again = await store.create({ name: 'data', labels: { other: 'x' } })
        assert.deepEqual(again, v)
        assert.deepEqual(await store.get('data'), v)
        const opts = await store.create({
          name: 'dev',
          options: { type: 'tmpfs', device: 'tmpfs' },
        })
        assert.deepEqual(opts.Options, { type: 'tmpfs', device: 'tmpfs' })
      }),
    )

    test(
      "names, drivers and options are checked in Docker's words",
      withStore(async ({ store }) => {
        await assert.rejects(
          store.create({ name: 'a' }),
          words(
            InvalidArgument,
            'create a: volume name is too short, names should be at least two alphanumeric characters',
          ),
        )
        await assert.rejects(
          store.create({ name: 'a/b' }),
          words(InvalidArgument, /^create a\/b: "a\/b" includes invalid characters/),
        )
        await assert.rejects(
          store.create({ name: 'vv', driver: 'nfs' }),
          words(NotFound, 'create vv: error looking up volume plugin nfs: plugin "nfs" not found'),
        )
        await assert.rejects(
          store.create({ name: 'vv', options: { bogus: '1' } }),
          words(InvalidArgument, 'create vv: invalid option: "bogus"'),
        )
        await assert.rejects(
          store.create({ name: 'vv', options: { size: '1g' } }),
          words(InvalidArgument, 'create vv: quota size requested but no quota support'),
        )
        await assert.rejects(
          store.create({ name: 'vv', options: { device: '/dev/x' } }),
          words(InvalidArgument, 'create vv: missing required option: "type"'),
        )
        assert.deepEqual(await store.list(), [])
      }),
    )

    test(
      'a volume without a name gets 64 hex characters and the anonymous label',
      withStore(async ({ store }) => {
        const v = await store.create({ labels: { k: 'v' } })
        assert.match(v.Name, /^[0-9a-f]{64}$/)
        assert.deepEqual(v.Labels, { k: 'v', [ANONYMOUS_LABEL]: '' })
      }),
    )

    test(
      'get and refs: users are recorded and released; a missing volume is not found',
      withStore(async ({ store }) => {
        await assert.rejects(store.get('nope'), words(NotFound, 'get nope: no such volume'))
        await store.create({ name: 'shared', ref: 'c1' })
        await store.get('shared', 'c2')
        assert.deepEqual(store.refs('shared').sort(), ['c1', 'c2'])
        store.release('shared', 'c1')
        store.release('shared', 'c9')
        assert.deepEqual(store.refs('shared'), ['c2'])
        assert.deepEqual(store.refs('nope'), [])
      }),
    )

    test(
      'list: sorted by name, filtered by name, label, dangling and driver',
      withStore(async ({ store }) => {
        await store.create({ name: 'web-data', labels: { app: 'web', tier: 'front' } })
        await store.create({ name: 'db-data', labels: { app: 'db' }, ref: 'c1' })
        await store.create({ name: 'cache' })
        const names = async (f?: Record<string, string[]>) =>
          (await store.list(f)).map((v) => v.Name)
        assert.deepEqual(await names(), ['cache', 'db-data', 'web-data'])
        assert.deepEqual(await names({ name: ['data$'] }), ['db-data', 'web-data'])
        assert.deepEqual(await names({ name: ['cache'] }), ['cache'])
        assert.deepEqual(await names({ label: ['app'] }), ['db-data', 'web-data'])
        assert.deepEqual(await names({ label: ['app=web', 'tier=front'] }), ['web-data'])
        assert.deepEqual(await names({ dangling: ['true'] }), ['cache', 'web-data'])
        assert.deepEqual(await names({ dangling: ['0'] }), ['db-data'])
        assert.deepEqual(await names({ driver: ['local'] }), ['cache', 'db-data', 'web-data'])
        assert.deepEqual(await names({ driver: ['nfs'] }), [])
        await assert.rejects(
          store.list({ until: ['1h'] }),
          words(InvalidArgument, "invalid filter 'until'"),
        )
        await assert.rejects(
          store.list({ dangling: ['maybe'] }),
          words(InvalidArgument, "invalid filter 'dangling=[maybe]'"),
        )
      }),
    )

    test(
      'remove: refused while in use, a missing one forgiven only with force',
      withStore(async ({ store }) => {
        await store.create({ name: 'busy', ref: 'c1' })
        await assert.rejects(
          store.remove('busy'),
          words(Conflict, 'remove busy: volume is in use - [c1]'),
        )
        store.release('busy', 'c1')
        await store.remove('busy')
        await assert.rejects(store.get('busy'), NotFound)
        await assert.rejects(store.remove('busy'), words(NotFound, 'get busy: no such volume'))
        await store.remove('busy', { force: true })
      }),
    )

    test(
      'prune: unused anonymous volumes, all unused ones with all=true, never those with options',
      withStore(async ({ store, write }) => {
        const anon = await store.create({})
        const anonUsed = await store.create({ ref: 'c1' })
        await store.create({ name: 'named', labels: { keep: 'no' } })
        await store.create({ name: 'kept', labels: { keep: 'yes' } })
        await store.create({ name: 'withopts', options: { type: 'tmpfs', device: 'tmpfs' } })
        await write(anon.Name, 5)
        assert.deepEqual(await store.prune(), { VolumesDeleted: [anon.Name], SpaceReclaimed: 5 })
        const r = await store.prune({ all: ['true'], 'label!': ['keep=yes'] })
        assert.deepEqual(r.VolumesDeleted, ['named'])
        assert.deepEqual(
          (await store.list()).map((v) => v.Name).sort(),
          [anonUsed.Name, 'kept', 'withopts'].sort(),
        )
        await assert.rejects(
          store.prune({ until: ['1h'] }),
          words(InvalidArgument, "invalid filter 'until'"),
        )
        await assert.rejects(
          store.prune({ all: ['maybe'] }),
          words(
            InvalidArgument,
            `invalid filter 'all': strconv.ParseBool: parsing "maybe": invalid syntax`,
          ),
        )
        await assert.rejects(
          store.prune({ all: ['1', '0'] }),
          words(InvalidArgument, "invalid filter 'all=1 0': only one value is expected"),
        )
      }),
    )

    test(
      'usage: sizes and reference counts',
      withStore(async ({ store, write }) => {
        await store.create({ name: 'sized', ref: 'c1' })
        await store.get('sized', 'c2')
        await store.create({ name: 'empty' })
        await write('sized', 1234)
        const u = await store.usage()
        assert.deepEqual(
          u.map((v) => [v.Name, v.UsageData]),
          [
            ['empty', { Size: 0, RefCount: 0 }],
            ['sized', { Size: 1234, RefCount: 2 }],
          ],
        )
      }),
    )

    test(
      'mount gives the host path and records the user; unmount is idempotent',
      withStore(async ({ store }) => {
        const v = await store.create({ name: 'm1' })
        assert.equal(await store.mount('m1', 'c1'), v.Mountpoint)
        assert.deepEqual(store.refs('m1'), ['c1'])
        await store.unmount('m1', 'c1')
        await store.unmount('m1', 'c1')
        await assert.rejects(store.mount('nope', 'c1'), words(NotFound, 'get nope: no such volume'))
      }),
    )
  })
}
