import { MemoryLayerStore } from '../../src/engine/layer/fake.ts'
import { tempStore } from '../../src/engine/layer/testkit.ts'
import { layerStoreSuite } from './layer-store.ts'

layerStoreSuite('LocalLayerStore', async () => {
  const t = await tempStore()
  return { store: t.store, cleanup: t.cleanup }
})

layerStoreSuite('MemoryLayerStore', async () => ({ store: new MemoryLayerStore() }))
