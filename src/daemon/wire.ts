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
import { ImageCommitter } from '../engine/image/commit.ts'
import { LocalImageStore } from '../engine/image/local.ts'
import { OverlayDiffer } from '../engine/layer/diff.ts'
import { LocalLayerStore } from '../engine/layer/local.ts'
import { mountOverlay, unmount } from '../engine/layer/mount.ts'
import type { Mount } from '../engine/layer/types.ts'
import { rootProfile } from '../engine/host/profile.ts'
import { networked } from '../engine/container/network.ts'
import { BridgeNetworking } from '../engine/network/bridge.ts'
import { hostFacts, localDevices } from '../engine/runtime/host.ts'
import { LocalTaskRunner } from '../engine/task/runner.ts'
import { ConmonRuntime } from '../engine/runtime/conmon.ts'
import { ConmonExec } from '../engine/runtime/exec.ts'
import { readLog } from '../engine/runtime/logs.ts'
import { ociSpec } from '../engine/runtime/spec.ts'
import { resolveUser } from '../engine/runtime/user.ts'
import { LocalVolumeStore } from '../engine/volume/local.ts'
import { HostSystem } from '../engine/system/host.ts'
import type { Logger } from './log.ts'

export async function createEngine(opts: {
  dataRoot: string
  logger: Logger
}): Promise<Engine & { close(): Promise<void> }> {
  const { dataRoot, logger } = opts
  await mkdir(dataRoot, { recursive: true, mode: 0o711 })
  // The host's facts and choices (cgroups, ID mappings, the runtime's root), decided once here.
  const host = rootProfile(dataRoot, await hostFacts())
  const blobs = new LocalBlobStore(join(dataRoot, 'content'))
  const layers = new LocalLayerStore(join(dataRoot, 'layers'))
  const runtime = new ConmonRuntime({ stateDir: host.runtimeDir })
  const volumes = new LocalVolumeStore(join(dataRoot, 'volumes'), logger)
  const events = new EventBus()
  // The image store asks the container service who uses an image; the service is
  // made after the store, so the question is forwarded when it is asked.
  const images: LocalImageStore = new LocalImageStore({
    dir: join(dataRoot, 'images'),
    blobs,
    layers,
    usage: { containersUsing: (id: Digest) => containers.containersUsing(id) },
    events,
  })
  const mount = async (m: Mount): Promise<void> => mountOverlay(m)
  // Detached, so that a busy mount can never leave the rootfs under a directory being deleted.
  const unmountDetached = async (target: string): Promise<void> => unmount(target, { detach: true })
  const tasks = new LocalTaskRunner({
    runtime,
    host,
    spec: ociSpec,
    mount,
    unmount: unmountDetached,
    resolveUser,
    logger,
  })
  // The bridge with NAT, published ports and user networks (netavark does the plumbing); it
  // looks containers up among the containers (made just below) for `container:NAME`, links,
  // and connect and disconnect, which run under the container's lock.
  const bridge = new BridgeNetworking({
    root: join(dataRoot, 'network'),
    logger,
    peers: {
      peer: (ref) => {
        const c = containers.store.get(ref)
        return {
          id: c.id,
          dir: containers.store.containerDir(c.id),
          running: c.state.Running,
          pid: c.state.Pid,
        }
      },
    },
    containers: {
      get: async (ref) => {
        const c = containers.store.get(ref)
        return {
          container: networked(c, containers.store.containerDir(c.id)),
          running: c.state.Running,
        }
      },
      locked: (id, fn) => containers.locked(id, fn),
    },
  })
  const network = bridge.manager
  const containers: ContainerService = new ContainerService({
    dir: join(dataRoot, 'containers'),
    images,
    layers,
    runtime,
    tasks,
    network,
    host,
    devices: localDevices,
    readLog,
    mount,
    unmount: unmountDetached,
    logger,
    volumes,
    events,
  })
  const lifecycle = new ContainerLifecycle({ containers, runtime, logger })
  const execs = new ExecService({
    containers,
    runtime: new ConmonExec(runtime),
    containerDir: (id) => containers.store.containerDir(id),
    resolveUser,
    hostCapabilities: async () => host.facts.capabilities,
    logger,
  })
  const files = new ContainerFiles({
    containers,
    containerDir: (id) => containers.store.containerDir(id),
    locked: (id, fn) => containers.locked(id, fn),
    layers,
    differ: new OverlayDiffer(layers),
    // Commit is the image side's: it takes the diff while the runtime holds the container frozen.
    commits: new ImageCommitter({
      images,
      ingest: images.ingest,
      freezer: { pause: (id) => runtime.pause(id), resume: (id) => runtime.resume(id) },
      events,
    }),
    mount: async (m) => mountOverlay(m),
    unmount: async (target) => unmount(target),
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
  // Before the containers: their reconcile tells the network which of them still run.
  await bridge.init()
  await containers.init()

  return {
    dataRoot,
    images,
    containers,
    execs,
    files,
    volumes,
    lifecycle,
    events,
    networks: bridge.api,
    system: new HostSystem({
      layerDir: join(dataRoot, 'layers'),
      // The drivers wired here: local volumes; the network manager names its own.
      plugins: { volume: ['local'], log: ['json-file'] },
      networks: network,
    }),
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
