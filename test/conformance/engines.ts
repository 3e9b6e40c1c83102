// The two engines the container-side suites run on: the real one as berthd wires it (runc,
// conmon, overlayfs, a temp data root), and the fakes the API tests use, both with the busybox
// image imported the same way (scripts/make-busybox-rootfs.sh) and their events recorded.
import { createReadStream } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { createEngine } from '../../src/daemon/wire.ts'
import type {
  ContainerApi,
  ContainerFilesApi,
  ExecApi,
  LifecycleApi,
} from '../../src/engine/container/types.ts'
import { FakeContainers } from '../../src/engine/container/fake.ts'
import { isolateNetwork } from '../../src/engine/network/testing.ts'
import { FakeExecs } from '../../src/engine/container/fake-exec.ts'
import { FakeFiles } from '../../src/engine/container/fake-files.ts'
import { FakeLifecycle } from '../../src/engine/container/fake-lifecycle.ts'
import { EventBus } from '../../src/engine/events/bus.ts'
import type { EngineEvent, EventsApi } from '../../src/engine/events/types.ts'
import { ImageCommitter } from '../../src/engine/image/commit.ts'
import { memoryImageStore } from '../../src/engine/image/fake.ts'
import type { ImageReader } from '../../src/engine/image/types.ts'
import { nullLogger } from '../../src/engine/logger.ts'
import { busyboxTar, removeTree } from '../e2e/harness.ts'

export const IMAGE = 'busybox:latest'

/** One engine's container side, its images, and what it emitted. */
export interface ContainerEngine {
  containers: ContainerApi
  execs: ExecApi
  lifecycle: LifecycleApi
  files: ContainerFilesApi
  images: ImageReader
  /** The busybox image (IMAGE): its ID and size. */
  image: { id: string; size: number }
  /** Every event emitted so far, oldest first. */
  events(): EngineEvent[]
  close(): Promise<void>
}

function recorder(bus: EventsApi): { events(): EngineEvent[]; stop(): void } {
  const seen: EngineEvent[] = []
  // Recorded as the bus delivers (its match runs in emit), so an event emitted before a call
  // answers is seen when the call answers, not some turns of the event loop later.
  const sub = bus.subscribe({ match: (e) => (seen.push(e), false) })
  return { events: () => [...seen], stop: () => sub.close() }
}

async function importBusybox(images: {
  importRootfs: ContainerEngineImages['importRootfs']
}): Promise<{ id: string; size: number }> {
  const img = await images.importRootfs(createReadStream(await busyboxTar()), {
    changes: ['CMD ["sh"]'],
    tag: IMAGE,
  })
  return { id: img.id, size: img.size }
}

type ContainerEngineImages = Awaited<ReturnType<typeof memoryImageStore>>['store']

/** The engine berthd runs, on a data root of its own. */
export async function realEngine(): Promise<ContainerEngine> {
  // Its containers' default bridge lives in a namespace of this process's own, not the host's.
  await isolateNetwork()
  const dir = await mkdtemp('/tmp/bt-conf-')
  const engine = await createEngine({ dataRoot: dir, logger: nullLogger })
  const rec = recorder(engine.events)
  try {
    const image = await importBusybox(engine.images)
    return {
      containers: engine.containers,
      execs: engine.execs,
      lifecycle: engine.lifecycle,
      files: engine.files,
      images: engine.images,
      image,
      events: rec.events,
      async close() {
        for (const c of await engine.containers.list()) {
          await engine.containers.remove(c.id, { force: true, volumes: true })
        }
        await (engine.containers as unknown as { settle(): Promise<void> }).settle()
        rec.stop()
        await removeTree(dir)
      },
    }
  } catch (err) {
    rec.stop()
    await removeTree(dir)
    throw err
  }
}

/** The fakes of src/api/testing.ts, over the in-memory image store. */
export async function fakeEngine(): Promise<ContainerEngine> {
  const bus = new EventBus()
  const rec = recorder(bus)
  const m = await memoryImageStore({ events: bus })
  const image = await importBusybox(m.store)
  const containers = new FakeContainers({ images: m.store, events: bus })
  return {
    containers,
    execs: new FakeExecs(containers),
    lifecycle: new FakeLifecycle(containers),
    files: new FakeFiles(
      containers,
      new ImageCommitter({
        images: m.store,
        ingest: m.store.ingest,
        freezer: {
          pause: (id) => containers.freeze(id, true),
          resume: (id) => containers.freeze(id, false),
        },
        events: bus,
      }),
    ),
    images: m.store,
    image,
    events: rec.events,
    async close() {
      for (const c of await containers.list()) {
        await containers.remove(c.id, { force: true, volumes: true })
      }
      rec.stop()
    },
  }
}
