import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, describe, test } from 'node:test'
import { goArch, goOS } from '../../lib/platform.ts'
import { LocalBlobStore } from '../content/local.ts'
import { sha256 } from '../digest.ts'
import type { EventInput } from '../events/types.ts'
import { LocalLayerStore } from '../layer/local.ts'
import { makeTar } from '../layer/testkit.ts'
import { ImageCommitter, type CommitRequest } from './commit.ts'
import { LocalImageStore } from './local.ts'
import { MEDIA } from './manifest.ts'
import { FakeUsage } from './testing.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'berth-commit-'))
  dirs.push(dir)
  const blobs = new LocalBlobStore(join(dir, 'content'))
  const layers = new LocalLayerStore(join(dir, 'layers'))
  await blobs.init()
  await layers.init()
  const events: EventInput[] = []
  const sink = { emit: (e: EventInput) => void events.push(e) }
  const images = new LocalImageStore({
    dir: join(dir, 'images'),
    blobs,
    layers,
    usage: new FakeUsage(),
  })
  await images.init()
  const log: string[] = []
  const committer = new ImageCommitter({
    images,
    ingest: images.ingest,
    freezer: {
      pause: async (id) => void log.push(`pause ${id}`),
      resume: async (id) => void log.push(`resume ${id}`),
    },
    events: sink,
  })
  return { images, committer, events, log }
}

function request(over: Partial<CommitRequest> & { tar: Buffer }): CommitRequest {
  return {
    container: {
      id: 'c'.repeat(64),
      image: sha256('gone'),
      config: { Cmd: ['sh', '-c', 'echo hi > /f'] },
      eventAttributes: { image: 'base', name: 'box', team: 'a' },
    },
    config: { Cmd: ['cat', '/f'] },
    diff: async () => Readable.from([over.tar]),
    pause: false,
    ...over,
  }
}

describe('ImageCommitter', () => {
  test('a container whose image is gone commits for the host, with Docker events', async () => {
    const t = await setup()
    const tar = await makeTar([{ name: 'f', data: 'hi\n' }])
    const img = await t.committer.commit(
      request({ tar, pause: true, repo: 'made', tag: 'v1', comment: 'why', author: 'me' }),
    )
    assert.equal(img.config.architecture, goArch())
    assert.equal(img.config.os, goOS())
    assert.deepEqual(img.config.config, { Cmd: ['cat', '/f'] })
    assert.deepEqual(img.config.container_config, { Cmd: ['sh', '-c', 'echo hi > /f'] })
    assert.equal(img.config.history?.at(-1)?.created_by, 'sh -c echo hi > /f')
    assert.equal(img.config.author, 'me')
    assert.deepEqual(img.layers, [
      {
        diffID: sha256(tar),
        blob: sha256(tar),
        mediaType: MEDIA.dockerLayer.none,
        blobSize: tar.length,
        diffSize: tar.length,
      },
    ])
    assert.deepEqual(img.repoTags, ['made:v1'])
    assert.deepEqual(t.log, [`pause ${'c'.repeat(64)}`, `resume ${'c'.repeat(64)}`])
    assert.deepEqual(
      t.events.map((e) => [e.Type, e.Action, e.Actor.Attributes]),
      [
        // dockerd's order: the container stays paused until the image and its events are out.
        ['container', 'pause', { image: 'base', name: 'box', team: 'a' }],
        ['image', 'tag', { name: 'made:v1' }],
        [
          'container',
          'commit',
          {
            image: 'base',
            name: 'box',
            team: 'a',
            comment: 'why',
            imageID: img.id,
            imageRef: 'made:v1',
          },
        ],
        ['container', 'unpause', { image: 'base', name: 'box', team: 'a' }],
      ],
    )
  })

  test('a child keeps its parent architecture and layers; an empty diff adds only history', async () => {
    const t = await setup()
    const tar = await makeTar([{ name: 'f', data: 'hi\n' }])
    const base = await t.committer.commit(request({ tar }))
    // Pretend the parent was made for another machine.
    const armConfig = { ...base.config, architecture: 'arm', variant: 'v7' }
    const arm = await t.images.create({ config: armConfig, layers: base.layers, tags: ['arm:1'] })
    const empty = await makeTar([])
    const child = await t.committer.commit(
      request({ tar: empty, container: { ...request({ tar }).container, image: arm.id } }),
    )
    assert.equal(child.config.architecture, 'arm')
    assert.equal(child.config.variant, 'v7')
    assert.equal(child.parent, arm.id)
    assert.deepEqual(child.layers, arm.layers)
    assert.deepEqual(child.config.rootfs.diff_ids, arm.config.rootfs.diff_ids)
    assert.equal(child.config.history?.length, 2)
    assert.equal(child.config.history?.at(-1)?.empty_layer, true)
    assert.equal(t.events.at(-1)?.Actor.Attributes.imageRef, '')
  })

  test('the container is thawed when reading its diff fails; a bad tag freezes nothing', async () => {
    const t = await setup()
    await assert.rejects(
      t.committer.commit({
        ...request({ tar: Buffer.alloc(0) }),
        pause: true,
        diff: async () => Promise.reject(new Error('boom')),
      }),
      /boom/,
    )
    assert.deepEqual(t.log, [`pause ${'c'.repeat(64)}`, `resume ${'c'.repeat(64)}`])
    t.log.length = 0
    await assert.rejects(
      t.committer.commit({ ...request({ tar: Buffer.alloc(0) }), pause: true, repo: 'Bad' }),
      /must be lowercase/,
    )
    assert.deepEqual(t.log, [])
    assert.deepEqual(await t.images.list(), [])
  })
})
