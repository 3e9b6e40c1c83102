// Builds the engine from its parts: each module gets the others only through the
// interfaces passed to its constructor.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ExecService } from '../engine/container/exec.ts'
import { ContainerFiles } from '../engine/container/files.ts'
import { ContainerService } from '../engine/container/service.ts'
import { ContainerLifecycle } from '../engine/container/lifecycle.ts'
import { EventBus } from '../engine/events/bus.ts'
import { LocalBlobStore } from '../engine/content/local.ts'
import type { Digest } from '../engine/digest.ts'
import type { Engine, EngineCounts } from '../engine/engine.ts'
import { LocalImageStore } from '../engine/image/local.ts'
import { LocalLayerStore } from '../engine/layer/local.ts'
import { mountOverlay, unmount } from '../engine/layer/mount.ts'
import { ConmonRuntime } from '../engine/runtime/conmon.ts'
import { ConmonExec, hostCapabilities } from '../engine/runtime/exec.ts'
import { readLog } from '../engine/runtime/logs.ts'
import { ociSpec } from '../engine/runtime/spec.ts'
import { resolveUser } from '../engine/runtime/user.ts'
import { LocalVolumeStore } from '../engine/volume/local.ts'
import { Internal } from '../engine/errors.ts'
import { Builder } from '../engine/builder/build.ts'
import { BuildCache } from '../engine/builder/cache.ts'
import { LocalBuildExecutor, buildImagesOver } from '../engine/builder/executor-local.ts'
import type { Logger } from './log.ts'

export async function createEngine(opts: {
  dataRoot: string
  logger: Logger
}): Promise<Engine & { close(): Promise<void> }> {
  const { dataRoot, logger } = opts
  await mkdir(dataRoot, { recursive: true, mode: 0o711 })
  const blobs = new LocalBlobStore(join(dataRoot, 'content'))
  const layers = new LocalLayerStore(join(dataRoot, 'layers'))
  const runtime = new ConmonRuntime({ stateDir: join(dataRoot, 'run') })
  const volumes = new LocalVolumeStore(join(dataRoot, 'volumes'))
  const events = new EventBus()
  // The image store asks the container service who uses an image; the service is
  // made after the store, so the question is forwarded when it is asked.
  const images: LocalImageStore = new LocalImageStore({
    dir: join(dataRoot, 'images'),
    blobs,
    layers,
    usage: { containersUsing: (id: Digest) => containers.containersUsing(id) },
  })
  const containers: ContainerService = new ContainerService({
    dir: join(dataRoot, 'containers'),
    images,
    layers,
    runtime,
    ociSpec,
    resolveUser,
    readLog,
    mount: async (m) => mountOverlay(m),
    // Detached, so that a busy mount can never leave the rootfs under a directory being deleted.
    unmount: async (target) => unmount(target, { detach: true }),
    logger,
    volumes,
    events,
  })
  const lifecycle = new ContainerLifecycle({ containers, runtime, events, logger })
  const execs = new ExecService({
    containers,
    runtime: new ConmonExec(runtime),
    containerDir: (id) => containers.store.containerDir(id),
    resolveUser,
    hostCapabilities,
    logger,
  })
  const files = new ContainerFiles({
    containers,
    containerDir: (id) => containers.store.containerDir(id),
    locked: (id, fn) => containers.locked(id, fn),
    layers,
    images,
    blobs,
    mount: async (m) => mountOverlay(m),
    unmount: async (target) => unmount(target),
    pause: (id) => runcOrThrow(runtime, ['pause', id]),
    resume: (id) => runcOrThrow(runtime, ['resume', id]),
    resolveUser,
  })
  await blobs.init()
  await layers.init()
  await images.init()
  const collected = await images.collectGarbage()
  if (collected.blobs > 0 || collected.layers > 0) {
    logger.info(
      'reconcile: removed content that no image records (left by an interrupted operation)',
      {
        blobs: collected.blobs,
        layers: collected.layers,
      },
    )
  }
  await volumes.init()
  await containers.init()
  // The builder runs its steps through its own executor seam (today's layer store and runc).
  const buildExecutor = new LocalBuildExecutor({
    layers,
    blobs,
    dir: join(dataRoot, 'builder'),
    mount: (m) => mountOverlay(m),
    unmount: (target) => unmount(target, { detach: true }),
  })
  await buildExecutor.init()
  const buildCache = new BuildCache(join(dataRoot, 'builder', 'cache'))
  await buildCache.init()
  const builder = new Builder({
    executor: buildExecutor,
    images: buildImagesOver(images),
    cache: buildCache,
    tmpDir: join(dataRoot, 'builder', 'tmp'),
    layersInUse: async () =>
      new Set((await images.list()).flatMap((i) => i.layers.map((l) => l.diffID))),
  })
  await builder.init()

  return {
    dataRoot,
    images,
    containers,
    execs,
    files,
    volumes,
    lifecycle,
    events,
    builder,
    async counts(): Promise<EngineCounts> {
      const all = await containers.list()
      const running = all.filter((c) => c.state.Running && !c.state.Paused).length
      const paused = all.filter((c) => c.state.Paused).length
      return {
        containers: all.length,
        running,
        paused,
        stopped: all.length - running - paused,
        images: (await images.list()).length,
      }
    },
    async close(): Promise<void> {
      // Containers keep running under their monitors; nothing to stop here.
    },
  }
}

/** Freezes or thaws a container for commit (runc pause/resume). */
async function runcOrThrow(runtime: ConmonRuntime, args: string[]): Promise<void> {
  const r = await runtime.runcCmd(args)
  if (r.code !== 0) throw new Internal(`runc ${args[0]}: ${r.stderr.trim()}`)
}
