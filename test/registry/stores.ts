// A real set of stores in a temp dir (content, layers, images) with the registry service over
// them, as berthd wires them, for engine-level pull and push tests against a real registry.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalBlobStore } from '../../src/engine/content/local.ts'
import type { Digest } from '../../src/engine/digest.ts'
import { LocalImageStore } from '../../src/engine/image/local.ts'
import { LocalLayerStore } from '../../src/engine/layer/local.ts'
import { PullLeases } from '../../src/engine/registry/leases.ts'
import { RegistryService, type RegistryServiceDeps } from '../../src/engine/registry/service.ts'
import type { TransferProgress } from '../../src/engine/registry/types.ts'
import type { EventInput, EventSink } from '../../src/engine/events/types.ts'

export interface TestStores {
  dir: string
  blobs: LocalBlobStore
  layers: LocalLayerStore
  images: LocalImageStore
  registry: RegistryService
  events: EventInput[]
  /** A progress sink that records, and what it recorded. */
  progress(): { sink: (p: TransferProgress) => void; seen: TransferProgress[] }
  /** Starts over on the same directory, as a restarted berthd would (GC included). */
  reopen(): Promise<TestStores>
  close(): Promise<void>
}

export async function openStores(
  opts: Partial<Pick<RegistryServiceDeps, 'options' | 'maxConcurrentDownloads' | 'client'>> & {
    dir?: string
  } = {},
): Promise<TestStores> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'berth-reg-stores-')))
  const blobs = new LocalBlobStore(join(dir, 'content'))
  const layers = new LocalLayerStore(join(dir, 'layers'))
  const events: EventInput[] = []
  const sink: EventSink = { emit: (e) => void events.push(e) }
  // The registry's leases are what the image store keeps beside its records.
  const leases = new PullLeases(join(dir, 'registry', 'leases'))
  const images = new LocalImageStore({
    dir: join(dir, 'images'),
    blobs,
    layers,
    usage: { containersUsing: async () => [] },
    events: sink,
    retained: leases,
  })
  const registry = new RegistryService({
    leases,
    dir: join(dir, 'registry'),
    blobs,
    layers,
    ingest: images.ingest,
    images,
    events: sink,
    options: { retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 }, ...opts.options },
    ...(opts.client ? { client: opts.client } : {}),
    ...(opts.maxConcurrentDownloads ? { maxConcurrentDownloads: opts.maxConcurrentDownloads } : {}),
  })
  await blobs.init()
  await layers.init()
  await images.init()
  await registry.init()
  await images.collectGarbage()
  const stores: TestStores = {
    dir,
    blobs,
    layers,
    images,
    registry,
    events,
    progress() {
      const seen: TransferProgress[] = []
      return { sink: (p) => void seen.push(p), seen }
    },
    async reopen() {
      await registry.close()
      return openStores({ ...opts, dir })
    },
    async close() {
      await registry.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
  return stores
}

/** The statuses seen for one progress ID, in order. */
export function statusesOf(seen: TransferProgress[], id: string): string[] {
  return seen.filter((p) => p.id === id).map((p) => p.status ?? '')
}

/** Lines as the docker CLI prints them without a terminal: progress bars left out. */
export function plainLines(seen: TransferProgress[]): string[] {
  return seen
    .filter((p) => p.status !== undefined && p.progressDetail?.current === undefined)
    .map((p) => (p.id ? `${p.id}: ${p.status}` : p.status!))
}

export function hasLease(stores: TestStores, blob: Digest): boolean {
  return [...stores.registry.leases.blobs()].includes(blob)
}

export { PullLeases }

/** Opens the stores, runs fn with them and closes them, whatever fn did. */
export async function withStores<T>(
  opts: Parameters<typeof openStores>[0],
  fn: (s: TestStores) => Promise<T>,
): Promise<T> {
  const s = await openStores(opts)
  try {
    return await fn(s)
  } finally {
    await s.close()
  }
}
