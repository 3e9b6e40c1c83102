import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Conflict, Internal, InvalidArgument, NotFound } from '../errors.ts'
import { LocalVolumeStore, mountFlags } from './local.ts'
import { ANONYMOUS_LABEL } from './types.ts'

let tmp: string
before(async () => {
  tmp = await mkdtemp('/tmp/berth-vol-')
})
after(async () => {
  await rm(tmp, { recursive: true, force: true })
})

async function store(): Promise<LocalVolumeStore> {
  const s = new LocalVolumeStore(await mkdtemp(join(tmp, 's-')))
  await s.init()
  return s
}

describe('LocalVolumeStore', () => {
  test('create lays out <dir>/<name>/_data and inspect shows Docker shape', async () => {
    const s = await store()
    const v = await s.create({ name: 'data1', labels: { a: 'b' } })
    assert.equal(v.Name, 'data1')
    assert.equal(v.Driver, 'local')
    assert.equal(v.Scope, 'local')
    assert.equal(v.Mountpoint, join(s.dir, 'data1', '_data'))
    assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    assert.deepEqual(v.Labels, { a: 'b' })
    assert.equal(v.Options, null)
    assert.equal((await stat(v.Mountpoint)).mode & 0o777, 0o755)
    assert.equal((await stat(join(s.dir, 'data1'))).mode & 0o777, 0o701)
    assert.deepEqual(await s.get('data1'), v)
    // Idempotent: the same volume comes back, labels unchanged.
    assert.deepEqual(await s.create({ name: 'data1', labels: { c: 'd' } }), v)
  })

  test('names follow Docker grammar and words', async () => {
    const s = await store()
    await assert.rejects(s.create({ name: 'a' }), (e: Error) => {
      assert.ok(e instanceof InvalidArgument)
      assert.equal(
        e.message,
        'create a: volume name is too short, names should be at least two alphanumeric characters',
      )
      return true
    })
    for (const bad of ['_x', 'rel/dir', 'bad name', '.x']) {
      await assert.rejects(s.create({ name: bad }), (e: Error) => {
        assert.equal(
          e.message,
          `create ${bad}: "${bad}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
        )
        return true
      })
    }
    await assert.rejects(s.create({ name: 'xx', driver: 'foo' }), (e: Error) => {
      assert.ok(e instanceof NotFound)
      assert.equal(
        e.message,
        'create xx: error looking up volume plugin foo: plugin "foo" not found',
      )
      return true
    })
    await assert.rejects(
      s.create({ name: 'xx', options: { bogus: '1' } }),
      /invalid option: "bogus"/,
    )
    await assert.rejects(
      s.create({ name: 'xx', options: { type: 'tmpfs' } }),
      /create xx: missing required option: "device"/,
    )
    assert.deepEqual(await readdir(s.dir), [])
  })

  test('anonymous volumes get 64 hex names and the anonymous label', async () => {
    const s = await store()
    const v = await s.create({})
    assert.match(v.Name, /^[0-9a-f]{64}$/)
    assert.deepEqual(v.Labels, { [ANONYMOUS_LABEL]: '' })
  })

  test('list filters: name, label, dangling, driver; bad filters refused', async () => {
    const s = await store()
    await s.create({ name: 'web-data', labels: { tier: 'web' } })
    await s.create({ name: 'db-data', labels: { tier: 'db', keep: '' }, ref: 'c1' })
    const names = async (f: Record<string, string[]>) => (await s.list(f)).map((v) => v.Name)
    assert.deepEqual(await names({}), ['db-data', 'web-data'])
    assert.deepEqual(await names({ name: ['web'] }), ['web-data'])
    assert.deepEqual(await names({ name: ['^db'] }), ['db-data'])
    assert.deepEqual(await names({ label: ['tier=db'] }), ['db-data'])
    assert.deepEqual(await names({ label: ['keep'] }), ['db-data'])
    assert.deepEqual(await names({ dangling: ['true'] }), ['web-data'])
    assert.deepEqual(await names({ dangling: ['0'] }), ['db-data'])
    assert.deepEqual(await names({ driver: ['local'] }), ['db-data', 'web-data'])
    assert.deepEqual(await names({ driver: ['loc'] }), [])
    await assert.rejects(s.list({ foo: ['bar'] }), { message: "invalid filter 'foo'" })
    await assert.rejects(s.list({ dangling: ['maybe'] }), {
      message: "invalid filter 'dangling=[maybe]'",
    })
  })

  test('remove refuses a volume in use, in Docker words; force only forgives a missing one', async () => {
    const s = await store()
    await s.create({ name: 'used', ref: 'abc' })
    await assert.rejects(s.remove('used'), (e: Error) => {
      assert.ok(e instanceof Conflict)
      assert.equal(e.message, 'remove used: volume is in use - [abc]')
      return true
    })
    await assert.rejects(s.remove('used', { force: true }), Conflict)
    s.release('used', 'abc')
    await s.remove('used')
    await assert.rejects(s.get('used'), { message: 'get used: no such volume' })
    await assert.rejects(s.remove('used'), { message: 'get used: no such volume' })
    await s.remove('used', { force: true })
    assert.deepEqual(await readdir(s.dir), [])
  })

  test('prune: anonymous unused ones by default, all unused with all=true, never options', async () => {
    const s = await store()
    const anon = await s.create({})
    const anonUsed = await s.create({ ref: 'c1' })
    await s.create({ name: 'named' })
    await s.create({ name: 'withopts', options: { type: 'tmpfs', device: 'tmpfs' } })
    await writeFile(join(anon.Mountpoint, 'f'), 'hello')
    const r1 = await s.prune()
    assert.deepEqual(r1, { VolumesDeleted: [anon.Name], SpaceReclaimed: 5 })
    const r2 = await s.prune({ all: ['true'] })
    assert.deepEqual(r2.VolumesDeleted, ['named'])
    assert.deepEqual((await s.list()).map((v) => v.Name).sort(), [anonUsed.Name, 'withopts'].sort())
    await assert.rejects(s.prune({ until: ['1h'] }), { message: "invalid filter 'until'" })
  })

  test('a restarted store finds its volumes again, Docker-laid-out dirs included', async () => {
    const s = await store()
    await s.create({ name: 'keep', labels: { x: 'y' } })
    await mkdir(join(s.dir, 'restored', '_data'), { recursive: true })
    await mkdir(join(s.dir, '.tmp-junk'))
    const s2 = new LocalVolumeStore(s.dir)
    await s2.init()
    assert.deepEqual((await s2.get('keep')).Labels, { x: 'y' })
    assert.equal((await s2.get('restored')).Labels, null)
    assert.ok(!(await readdir(s.dir)).includes('.tmp-junk'))
  })

  test('an unreadable meta.json is reported in the log and the answer, never lost', async () => {
    const s = await store()
    await s.create({ name: 'dev', options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } })
    await s.create({ name: 'gone', labels: { a: 'b' } })
    await s.create({ name: 'plain' })
    // A torn meta.json, and one whose volume lost its _data too.
    await writeFile(join(s.dir, 'dev', 'meta.json'), '{"Name": "dev", "Opti')
    await writeFile(join(s.dir, 'gone', 'meta.json'), '[]')
    await rm(join(s.dir, 'gone', '_data'), { recursive: true })
    const warnings: string[] = []
    const s2 = new LocalVolumeStore(s.dir, { warn: (m) => void warnings.push(m) })
    await s2.init()
    // Both are still there, and say what is wrong.
    assert.deepEqual(
      (await s2.list()).map((v) => v.Name),
      ['dev', 'gone', 'plain'],
    )
    const dev = await s2.get('dev')
    assert.match(dev.Status?.Error ?? '', /^cannot read .*\/dev\/meta\.json: /)
    assert.match((await s2.get('gone')).Status?.Error ?? '', /not a JSON object/)
    assert.equal((await s2.get('plain')).Status, undefined)
    assert.equal(warnings.length, 2)
    assert.match(warnings.join('\n'), /volume dev: cannot read/)
    assert.match(warnings.join('\n'), /volume gone: cannot read/)
    // Not mounted without its options, and not pruned as if it had none.
    await assert.rejects(s2.mount('dev', 'c1'), (err: Error) => err instanceof Internal)
    assert.deepEqual(s2.refs('dev'), [])
    const pruned = await s2.prune({ all: ['true'] })
    assert.deepEqual(pruned.VolumesDeleted, ['plain'])
    // Removing it is how a user gets rid of it.
    await s2.remove('dev')
    assert.deepEqual(
      (await s2.list()).map((v) => v.Name),
      ['gone'],
    )
  })

  test('mountFlags splits flags from data', () => {
    assert.deepEqual(mountFlags('ro,size=10m,nosuid'), { flags: 1 | 2, data: 'size=10m' })
    assert.deepEqual(mountFlags(''), { flags: 0, data: '' })
  })
})
