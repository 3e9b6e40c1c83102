// An image store kept in memory, for tests (the API's fake engine among them): the real store's
// logic (LocalImageStore) over in-memory records, content and layers, so it behaves as the
// real one does in every respect test/conformance/image-store.ts checks, without a data root.
import { MemoryBlobStore } from '../content/fake.ts'
import type { Digest } from '../digest.ts'
import type { EventSink } from '../events/types.ts'
import { MemoryLayerStore } from '../layer/fake.ts'
import { LocalImageStore } from './local.ts'
import type { Platform } from './manifest.ts'
import type { ImageMetadataStore, ImageRecord } from './records.ts'
import type { ImageUsage } from './types.ts'

/** Records and references in memory; each write replaces the whole value, as on disk. */
export class MemoryImageMetadata implements ImageMetadataStore {
  private readonly records = new Map<Digest, string>()
  private refs = '{}'

  async read(): Promise<{ records: ImageRecord[]; refs: Record<string, string> }> {
    return {
      records: [...this.records.values()].map((r) => JSON.parse(r) as ImageRecord),
      refs: JSON.parse(this.refs) as Record<string, string>,
    }
  }

  async writeRecord(r: ImageRecord): Promise<void> {
    this.records.set(r.id, JSON.stringify(r))
  }

  async deleteRecord(id: Digest): Promise<void> {
    this.records.delete(id)
  }

  async writeRefs(refs: Record<string, string>): Promise<void> {
    this.refs = JSON.stringify(refs)
  }
}

/** Which containers use which image, as a test sets it. */
export class FakeUsage implements ImageUsage {
  readonly using = new Map<Digest, { id: string; running: boolean }[]>()
  async containersUsing(id: Digest): Promise<{ id: string; running: boolean }[]> {
    return [...(this.using.get(id) ?? [])].sort((a, b) => Number(b.running) - Number(a.running))
  }
}

export interface MemoryImageStoreParts {
  store: LocalImageStore
  blobs: MemoryBlobStore
  layers: MemoryLayerStore
  metadata: MemoryImageMetadata
  usage: ImageUsage
  /** The store as a restarted daemon would see it: a new one over the same parts. */
  reopen(): Promise<LocalImageStore>
}

/** A ready (init()ed) image store in memory, and its parts. */
export async function memoryImageStore(
  opts: { usage?: ImageUsage; events?: EventSink; platform?: Platform } = {},
): Promise<MemoryImageStoreParts> {
  const blobs = new MemoryBlobStore()
  const layers = new MemoryLayerStore()
  const metadata = new MemoryImageMetadata()
  const usage = opts.usage ?? new FakeUsage()
  const open = async () => {
    const store = new LocalImageStore({
      metadata,
      blobs,
      layers,
      usage,
      ...(opts.events ? { events: opts.events } : {}),
      ...(opts.platform ? { platform: opts.platform } : {}),
    })
    await store.init()
    return store
  }
  return { store: await open(), blobs, layers, metadata, usage, reopen: open }
}
