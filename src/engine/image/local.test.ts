import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, beforeEach, describe, test } from 'node:test'
import { LocalBlobStore } from '../content/local.ts'
import { sha256, shortId, type Digest } from '../digest.ts'
import { Conflict, InvalidArgument, NotFound } from '../errors.ts'
import { LocalImageStore } from './local.ts'
import { FakeLayerStore, FakeUsage, makeTar } from './testing.ts'
import type { ImageConfig } from './types.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'berth-images-'))
  dirs.push(dir)
  const blobs = new LocalBlobStore(join(dir, 'content'))
  await blobs.init()
  const layers = new FakeLayerStore()
  const usage = new FakeUsage()
  const make = () =>
    new LocalImageStore({
      dir: join(dir, 'images'),
      blobs,
      layers,
      usage,
      platform: { os: 'linux', architecture: 'amd64' },
    })
  const store = make()
  await store.init()
  /** An image of one layer holding `file`, created through the public create(). */
  const image = async (
    file: string,
    tags: string[] = [],
    parent?: Digest,
    extra: Partial<ImageConfig> = {},
  ) => {
    const tar = await makeTar([{ name: file, data: `content of ${file}` }])
    const blob = await blobs.put(tar)
    const info = await layers.unpack(Readable.from([tar]))
    const config: ImageConfig = {
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      rootfs: { type: 'layers', diff_ids: [info.diffID] },
      ...extra,
    }
    return store.create({
      config,
      layers: [
        {
          diffID: info.diffID,
          blob: blob.digest,
          blobSize: blob.size,
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
        },
      ],
      tags,
      parent,
    })
  }
  return { dir, blobs, layers, usage, store, make, image }
}

describe('LocalImageStore', () => {
  let t: Awaited<ReturnType<typeof setup>>
  beforeEach(async () => {
    t = await setup()
  })

  test('create, resolve by name, ID, prefix and sha256:ID; survive a restart', async () => {
    const img = await t.image('a', ['busybox', 'example.com/x/y:1'])
    assert.deepEqual(img.repoTags, ['busybox:latest', 'example.com/x/y:1'])
    assert.equal(img.size, (await t.layers.info(img.layers[0].diffID)).size)
    for (const ref of [
      'busybox',
      'busybox:latest',
      'docker.io/library/busybox',
      img.id,
      img.id.slice(7),
      img.id.slice(0, 15),
      img.id.slice(7, 12),
      'example.com/x/y:1',
    ]) {
      assert.equal((await t.store.resolve(ref)).id, img.id, ref)
    }
    await assert.rejects(t.store.resolve('nothing'), { message: 'No such image: nothing:latest' })
    await assert.rejects(t.store.resolve('busybox:2'), NotFound)
    await assert.rejects(t.store.resolve('Busybox'), InvalidArgument)
    const again = t.make()
    await again.init()
    const re = await again.resolve('busybox')
    assert.deepEqual(re.repoTags, img.repoTags)
    assert.equal(re.addedAt, img.addedAt)
  })

  test('a name wins over an ID prefix; an ambiguous prefix is not found', async () => {
    const a = await t.image('a')
    const b = await t.image('b')
    const prefix = a.id.slice(7, 9)
    await t.store.tag(b.id, prefix)
    assert.equal((await t.store.resolve(prefix)).id, b.id)
    let i = 1
    while (a.id.slice(7, 7 + i) === b.id.slice(7, 7 + i)) i++
    if (i > 1) await assert.rejects(t.store.resolve(a.id.slice(7, 7 + i - 1)), NotFound)
  })

  test('tag moves a reference and refuses bad ones', async () => {
    const a = await t.image('a', ['x:1'])
    const b = await t.image('b')
    await t.store.tag(b.id, 'x:1')
    assert.deepEqual((await t.store.get(a.id))?.repoTags, [])
    assert.deepEqual((await t.store.get(b.id))?.repoTags, ['x:1'])
    await assert.rejects(t.store.tag(b.id, 'Bad'), InvalidArgument)
    await assert.rejects(t.store.tag(b.id, `x@sha256:${'a'.repeat(64)}`), InvalidArgument)
    await assert.rejects(t.store.tag('nope', 'y'), NotFound)
  })

  test('rmi by name untags, then deletes the last reference and its layers and blobs', async () => {
    const img = await t.image('a', ['x:1', 'x:2'])
    assert.deepEqual(await t.store.remove('x:1', { force: false, noPrune: false }), [
      { Untagged: 'x:1' },
    ])
    const out = await t.store.remove('x:2', { force: false, noPrune: false })
    assert.deepEqual(out, [{ Untagged: 'x:2' }, { Deleted: img.id }])
    assert.equal(await t.store.get(img.id), undefined)
    assert.equal(await t.layers.has(img.layers[0].diffID), false)
    assert.equal(await t.blobs.has(img.layers[0].blob), false)
    assert.equal(await t.blobs.has(img.id), false)
    const again = t.make()
    await again.init()
    assert.deepEqual(await again.list(), [])
  })

  test('rmi keeps layers another image shares', async () => {
    const a = await t.image('same', ['a'])
    const b = await t.image('same', ['b'], undefined, { comment: 'other config' })
    assert.notEqual(a.id, b.id)
    await t.store.remove('a', { force: false, noPrune: false })
    assert.equal(await t.layers.has(b.layers[0].diffID), true)
    assert.equal(await t.blobs.has(b.layers[0].blob), true)
  })

  test('collectGarbage removes content no image records, and only that', async () => {
    await t.image('kept', ['kept:1'])
    const tar = await makeTar([{ name: 'orphan', data: 'left by a crash' }])
    const orphanBlob = await t.blobs.put(tar)
    const orphanLayer = await t.layers.unpack(Readable.from([tar]))
    const before = await t.store.resolve('kept:1')
    assert.deepEqual(await t.store.collectGarbage(), { blobs: 1, layers: 1 })
    assert.equal(await t.blobs.has(orphanBlob.digest), false)
    assert.equal(await t.layers.has(orphanLayer.diffID), false)
    const after = await t.store.resolve('kept:1')
    assert.equal(await t.blobs.has(after.id), true)
    assert.equal(await t.layers.has(before.layers[0]!.diffID), true)
    assert.deepEqual(await t.store.collectGarbage(), { blobs: 0, layers: 0 })
  })

  test('rmi by ID with several tags needs force', async () => {
    const img = await t.image('a', ['x:1', 'y:1'])
    await assert.rejects(
      t.store.remove(img.id.slice(7, 19), { force: false, noPrune: false }),
      (err: Error) => {
        assert.ok(err instanceof Conflict)
        assert.equal(
          err.message,
          `conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`,
        )
        return true
      },
    )
    const out = await t.store.remove(img.id, { force: true, noPrune: false })
    assert.deepEqual(out, [{ Untagged: 'x:1' }, { Untagged: 'y:1' }, { Deleted: img.id }])
  })

  test('rmi by ID with one tag untags and deletes', async () => {
    const img = await t.image('a', ['x:1'])
    assert.deepEqual(await t.store.remove(shortId(img.id), { force: false, noPrune: false }), [
      { Untagged: 'x:1' },
      { Deleted: img.id },
    ])
  })

  test('rmi refuses images that containers use, in Docker words', async () => {
    const img = await t.image('a', ['x:1'])
    const ctr = 'c'.repeat(64)
    t.usage.using.set(img.id, [{ id: ctr, running: false }])
    await assert.rejects(t.store.remove('x:1', { force: false, noPrune: false }), {
      message: `conflict: unable to remove repository reference "x:1" (must force) - container cccccccccccc is using its referenced image ${shortId(img.id)}`,
    })
    await assert.rejects(t.store.remove(img.id, { force: false, noPrune: false }), {
      message: `conflict: unable to delete ${shortId(img.id)} (must be forced) - image is being used by stopped container cccccccccccc`,
    })
    t.usage.using.set(img.id, [{ id: ctr, running: true }])
    await assert.rejects(t.store.remove(img.id, { force: true, noPrune: false }), {
      message: `conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image is being used by running container cccccccccccc`,
    })
    // Forcing a name while a container runs only untags.
    assert.deepEqual(await t.store.remove('x:1', { force: true, noPrune: false }), [
      { Untagged: 'x:1' },
    ])
    assert.ok(await t.store.get(img.id))
    // A forced rmi of a stopped container's image keeps the layer for the container.
    t.usage.using.set(img.id, [{ id: ctr, running: false }])
    assert.deepEqual(await t.store.remove(img.id, { force: true, noPrune: false }), [
      { Deleted: img.id },
    ])
    assert.equal(await t.layers.has(img.layers[0].diffID), true)
  })

  test('rmi refuses a parent with children and prunes dangling parents', async () => {
    const parent = await t.image('p')
    const child = await t.image('c', ['child'], parent.id)
    assert.equal(child.parent, parent.id)
    await assert.rejects(t.store.remove(parent.id, { force: true, noPrune: false }), {
      message: `conflict: unable to delete ${shortId(parent.id)} (cannot be forced) - image has dependent child images`,
    })
    const out = await t.store.remove('child', { force: false, noPrune: false })
    assert.deepEqual(out, [
      { Untagged: 'child:latest' },
      { Deleted: child.id },
      { Deleted: parent.id },
    ])
  })

  test('prune removes dangling images, or all unused ones', async () => {
    const dangling = await t.image('d')
    const tagged = await t.image('t', ['keep'], undefined, { config: { Labels: { a: 'b' } } })
    const used = await t.image('u')
    t.usage.using.set(used.id, [{ id: 'e'.repeat(64), running: false }])
    const r1 = await t.store.prune({ all: false, filters: {} })
    assert.deepEqual(r1.deleted, [{ Deleted: dangling.id }])
    assert.ok(r1.spaceReclaimed > 0)
    const r2 = await t.store.prune({ all: true, filters: { label: ['a=c'] } })
    assert.deepEqual(r2.deleted, [])
    const r3 = await t.store.prune({
      all: false,
      filters: { dangling: ['false'], label: ['a=b'], until: ['2025-01-01T00:00:00Z'] },
    })
    assert.deepEqual(r3.deleted, [{ Untagged: 'keep:latest' }, { Deleted: tagged.id }])
    assert.ok(await t.store.get(used.id))
    await assert.rejects(t.store.prune({ all: false, filters: { bogus: ['x'] } }), InvalidArgument)
  })

  test('create refuses a config that does not match the layers', async () => {
    await assert.rejects(
      t.store.create({
        config: {
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: [sha256('x')] },
        },
        layers: [],
      }),
      InvalidArgument,
    )
  })
})
