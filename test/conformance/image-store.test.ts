import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalBlobStore } from '../../src/engine/content/local.ts'
import type { EventInput } from '../../src/engine/events/types.ts'
import { FakeUsage, memoryImageStore } from '../../src/engine/image/fake.ts'
import { LocalImageStore } from '../../src/engine/image/local.ts'
import { LocalLayerStore } from '../../src/engine/layer/local.ts'
import { imageStoreSuite } from './image-store.ts'

imageStoreSuite('LocalImageStore on a data root', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-conf-images-'))
  const blobs = new LocalBlobStore(join(dir, 'content'))
  const layers = new LocalLayerStore(join(dir, 'layers'))
  await blobs.init()
  await layers.init()
  const usage = new FakeUsage()
  const events: EventInput[] = []
  const open = async () => {
    const store = new LocalImageStore({
      dir: join(dir, 'images'),
      blobs,
      layers,
      usage,
      events: { emit: (e) => void events.push(e) },
    })
    await store.init()
    return store
  }
  return {
    store: await open(),
    blobs,
    layers,
    usage,
    events,
    reopen: open,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
})

imageStoreSuite('the in-memory image store', async () => {
  const usage = new FakeUsage()
  const events: EventInput[] = []
  const m = await memoryImageStore({ usage, events: { emit: (e) => void events.push(e) } })
  return { store: m.store, blobs: m.blobs, layers: m.layers, usage, events, reopen: m.reopen }
})
