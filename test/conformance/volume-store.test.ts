// The volume store and its fake, held to one suite.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalVolumeStore } from '../../src/engine/volume/local.ts'
import { FakeVolumeStore } from '../../src/engine/volume/fake.ts'
import { volumeStoreSuite } from './volume-store.ts'

volumeStoreSuite('LocalVolumeStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-conf-vol-'))
  const store = new LocalVolumeStore(dir)
  await store.init()
  return {
    store,
    async write(name, bytes) {
      const v = await store.get(name)
      await writeFile(join(v.Mountpoint, 'data'), Buffer.alloc(bytes))
    },
    close: () => rm(dir, { recursive: true, force: true }),
  }
})

volumeStoreSuite('FakeVolumeStore', async () => {
  const store = new FakeVolumeStore()
  return {
    store,
    async write(name, bytes) {
      store.write(name, bytes)
    },
    async close() {},
  }
})
