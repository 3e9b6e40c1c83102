// The image store's contract (src/engine/image/types.ts), for every implementation: the real
// one on a data root and the in-memory one the API tests use. What a client sees: references
// and IDs, Docker's rmi and prune rules and words, save and load, and the events they emit.
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { describe, test } from 'node:test'
import type { BlobStore } from '../../src/engine/content/types.ts'
import { hex, sha256 } from '../../src/engine/digest.ts'
import { Conflict, InvalidArgument, NotFound } from '../../src/engine/errors.ts'
import type { EventInput } from '../../src/engine/events/types.ts'
import type { FakeUsage } from '../../src/engine/image/fake.ts'
import type { Image, ImageStore, Progress } from '../../src/engine/image/types.ts'
import { makeTar } from '../../src/engine/layer/testkit.ts'
import type { LayerStore } from '../../src/engine/layer/types.ts'

export interface ImageStoreFixture {
  store: ImageStore
  blobs: BlobStore
  layers: LayerStore
  usage: FakeUsage
  /** What the store emitted, in order. */
  events: EventInput[]
  /** The store as a restarted daemon sees it. */
  reopen(): Promise<ImageStore>
  cleanup?(): Promise<void>
}

async function imported(s: ImageStore, file: string, tag?: string, label?: string): Promise<Image> {
  const tar = await makeTar([{ name: file, data: `content of ${file}` }])
  return s.importRootfs(Readable.from([tar]), {
    changes: label ? [`LABEL team=${label}`] : [],
    ...(tag ? { tag } : {}),
  })
}

async function bytes(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of r) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

const seen = (f: ImageStoreFixture) =>
  f.events.map((e) => [e.Action, e.Actor.ID, e.Actor.Attributes.name ?? ''])

export function imageStoreSuite(name: string, make: () => Promise<ImageStoreFixture>): void {
  describe(`ImageStore conformance: ${name}`, () => {
    const withStore = (title: string, fn: (f: ImageStoreFixture) => Promise<void>) =>
      test(title, async () => {
        const f = await make()
        try {
          await fn(f)
        } finally {
          await f.cleanup?.()
        }
      })

    withStore(
      'an image is found by name, ID, short ID and sha256:ID, after a restart too',
      async (f) => {
        const img = await imported(f.store, 'a', 'app:1', 'x')
        assert.deepEqual(img.repoTags, ['app:1'])
        assert.deepEqual(img.config.config?.Labels, { team: 'x' })
        for (const ref of [
          'app:1',
          'docker.io/library/app:1',
          img.id,
          hex(img.id),
          hex(img.id).slice(0, 12),
        ]) {
          assert.equal((await f.store.resolve(ref)).id, img.id, ref)
        }
        await assert.rejects(f.store.resolve('app'), { message: 'No such image: app:latest' })
        await assert.rejects(f.store.resolve(sha256('none')), NotFound)
        assert.deepEqual(await f.store.get(img.id), img)
        const again = await f.reopen()
        assert.deepEqual(await again.resolve('app:1'), img)
        assert.deepEqual(await again.list(), [img])
        assert.deepEqual(seen(f), [
          ['tag', img.id, 'app:1'],
          ['import', img.id, img.id],
        ])
        assert.deepEqual(f.events[0]?.Actor.Attributes, { team: 'x', name: 'app:1' })
      },
    )

    withStore('tag moves a reference, refuses digests and unknown images', async (f) => {
      const a = await imported(f.store, 'a', 'app:1')
      const b = await imported(f.store, 'b')
      f.events.length = 0
      await f.store.tag(b.id, 'app:1')
      assert.equal((await f.store.resolve('app:1')).id, b.id)
      assert.deepEqual((await f.store.get(a.id))?.repoTags, [])
      await f.store.tag('app:1', 'example.com/team/app')
      assert.deepEqual((await f.store.get(b.id))?.repoTags, [
        'app:1',
        'example.com/team/app:latest',
      ])
      await assert.rejects(f.store.tag(b.id, `app@${sha256('x')}`), InvalidArgument)
      await assert.rejects(f.store.tag('nope:1', 'x:1'), NotFound)
      assert.deepEqual(seen(f), [
        ['tag', b.id, 'app:1'],
        ['tag', b.id, 'example.com/team/app:latest'],
      ])
    })

    withStore('rmi untags, then deletes with the content no other image uses', async (f) => {
      const img = await imported(f.store, 'a', 'app:1')
      await f.store.tag('app:1', 'app:2')
      f.events.length = 0
      assert.deepEqual(await f.store.remove('app:1', { force: false, noPrune: false }), [
        { Untagged: 'app:1' },
      ])
      assert.deepEqual(await f.store.remove('app:2', { force: false, noPrune: false }), [
        { Untagged: 'app:2' },
        { Deleted: img.id },
      ])
      assert.deepEqual(await f.store.list(), [])
      assert.equal(await f.layers.has(img.layers[0]!.diffID), false)
      assert.equal(await f.blobs.has(img.layers[0]!.blob), false)
      assert.equal(await f.blobs.has(img.id), false)
      assert.deepEqual(seen(f), [
        ['untag', img.id, img.id],
        ['untag', img.id, img.id],
        ['delete', img.id, img.id],
      ])
      await assert.rejects(f.store.remove('app:2', { force: false, noPrune: false }), {
        message: 'No such image: app:2',
      })
    })

    withStore("rmi's conflicts are Docker's, in Docker's words", async (f) => {
      const img = await imported(f.store, 'a', 'x:1')
      await f.store.tag('x:1', 'y:1')
      const short = hex(img.id).slice(0, 12)
      await assert.rejects(f.store.remove(img.id, { force: false, noPrune: false }), (e: Error) => {
        assert.ok(e instanceof Conflict)
        assert.equal(
          e.message,
          `conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`,
        )
        return true
      })
      f.usage.using.set(img.id, [{ id: 'c'.repeat(64), running: true }])
      await assert.rejects(f.store.remove(img.id, { force: true, noPrune: false }), {
        message: `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container cccccccccccc`,
      })
      f.usage.using.set(img.id, [{ id: 'd'.repeat(64), running: false }])
      // One of two tags goes freely; the last one a container stands on must be forced.
      assert.deepEqual(await f.store.remove('x:1', { force: false, noPrune: false }), [
        { Untagged: 'x:1' },
      ])
      await assert.rejects(f.store.remove('y:1', { force: false, noPrune: false }), {
        message: `conflict: unable to remove repository reference "y:1" (must force) - container dddddddddddd is using its referenced image ${short}`,
      })
      f.usage.using.clear()
      const r = await f.store.remove(short, { force: false, noPrune: false })
      assert.deepEqual(r, [{ Untagged: 'y:1' }, { Deleted: img.id }])
    })

    withStore('prune removes dangling images, or every unused one, and says so', async (f) => {
      const kept = await imported(f.store, 'a', 'keep:1')
      const dangling = await imported(f.store, 'b')
      const used = await imported(f.store, 'c', 'used:1')
      f.usage.using.set(used.id, [{ id: 'e'.repeat(64), running: false }])
      f.events.length = 0
      const r = await f.store.prune({ all: false, filters: {} })
      assert.deepEqual(r.deleted, [{ Deleted: dangling.id }])
      assert.ok(r.spaceReclaimed > 0)
      assert.deepEqual(seen(f), [
        ['delete', dangling.id, dangling.id],
        ['prune', '', ''],
      ])
      assert.equal(f.events.at(-1)?.Actor.Attributes.reclaimed, String(r.spaceReclaimed))
      const all = await f.store.prune({ all: true, filters: {} })
      assert.deepEqual(all.deleted, [{ Untagged: 'keep:1' }, { Deleted: kept.id }])
      assert.deepEqual(
        (await f.store.list()).map((i) => i.id),
        [used.id],
      )
      await assert.rejects(f.store.prune({ all: false, filters: { nope: ['1'] } }), {
        message: "invalid filter 'nope'",
      })
    })

    withStore('create records a config over stored layers, and checks they agree', async (f) => {
      const base = await imported(f.store, 'a')
      const config = { ...base.config, comment: 'child', rootfs: base.config.rootfs }
      const child = await f.store.create({
        config,
        layers: base.layers,
        tags: ['child:1'],
        parent: base.id,
      })
      assert.equal(child.parent, base.id)
      assert.deepEqual(child.layers, base.layers)
      assert.equal((await f.store.resolve('child:1')).id, child.id)
      await assert.rejects(
        f.store.create({
          config: { ...config, rootfs: { type: 'layers', diff_ids: [] } },
          layers: base.layers,
        }),
        { message: 'image config rootfs.diff_ids does not match the layers given' },
      )
      // The parent has a child now: removing it by ID is refused.
      await assert.rejects(f.store.remove(base.id, { force: true, noPrune: false }), {
        message: `conflict: unable to delete ${hex(base.id).slice(0, 12)} (cannot be forced) - image has dependent child images`,
      })
    })

    withStore(
      'save then load brings back the same images and tags, with their events',
      async (f) => {
        const a = await imported(f.store, 'a', 'app:1', 'x')
        await f.store.tag('app:1', 'app:2')
        const b = await imported(f.store, 'b')
        await assert.rejects(f.store.save(['nope:1'], {}), NotFound)
        f.events.length = 0
        const archive = await bytes(await f.store.save(['app', b.id], {}))
        assert.deepEqual(seen(f), [
          ['save', a.id, a.id],
          ['save', b.id, b.id],
        ])
        const g = await make()
        try {
          const msgs: Progress[] = []
          const r = await g.store.load(Readable.from([archive]), { progress: (p) => msgs.push(p) })
          assert.deepEqual(r.loaded, ['app:1', 'app:2', b.id])
          assert.deepEqual(msgs, [
            { stream: 'Loaded image: app:1\n' },
            { stream: 'Loaded image: app:2\n' },
            { stream: `Loaded image ID: ${b.id}\n` },
          ])
          const la = await g.store.resolve('app:2')
          assert.equal(la.id, a.id)
          assert.deepEqual(la.repoTags, ['app:1', 'app:2'])
          assert.deepEqual(la.config, a.config)
          assert.deepEqual(
            la.layers.map((l) => l.diffID),
            a.layers.map((l) => l.diffID),
          )
          assert.equal((await g.store.resolve(b.id)).id, b.id)
          assert.deepEqual(seen(g), [
            ['load', a.id, a.id],
            ['load', b.id, b.id],
          ])
          // Loading over a moved tag says so.
          await g.store.tag(b.id, 'app:1')
          const moved: Progress[] = []
          await g.store.load(Readable.from([archive]), { progress: (p) => moved.push(p) })
          assert.deepEqual(moved[0], {
            stream: `The image app:1 already exists, renaming the old one with ID ${b.id} to empty string\n`,
          })
        } finally {
          await g.cleanup?.()
        }
      },
    )

    withStore('a broken archive is refused and records nothing', async (f) => {
      await assert.rejects(
        f.store.load(Readable.from([Buffer.from('not a tar at all'.repeat(64))]), {}),
        (e: Error) => e instanceof InvalidArgument && /invalid archive/.test(e.message),
      )
      const noLayer = await makeTar([
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', Layers: [] }]) },
      ])
      await assert.rejects(f.store.load(Readable.from([noLayer]), {}), /is not in the archive/)
      assert.deepEqual(await f.store.list(), [])
      const left: string[] = []
      for await (const b of f.blobs.list()) left.push(b.digest)
      assert.deepEqual(left, [])
    })
  })
}
