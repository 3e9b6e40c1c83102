import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryBlobStore } from '../../src/engine/content/fake.ts'
import { LocalBlobStore } from '../../src/engine/content/local.ts'
import { blobStoreSuite } from './blob-store.ts'

blobStoreSuite('LocalBlobStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-conf-blobs-'))
  const store = new LocalBlobStore(dir)
  await store.init()
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) }
})

blobStoreSuite('MemoryBlobStore', async () => ({ store: new MemoryBlobStore() }))
