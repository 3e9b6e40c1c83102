// Builds the engine from its parts: each module gets the others only through the
// interfaces passed to its constructor.
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ExecService } from '../engine/container/exec.ts'
import { ContainerFiles } from '../engine/container/files.ts'
import { readGpuRecord } from '../engine/container/gpu.ts'
import { ContainerService } from '../engine/container/service.ts'
import { ContainerLifecycle } from '../engine/container/lifecycle.ts'
import { EventBus } from '../engine/events/bus.ts'
import { HealthMonitor } from '../engine/health/monitor.ts'
import { ExecProbeRunner } from '../engine/health/probe.ts'
import { LocalBlobStore } from '../engine/content/local.ts'
import type { Digest } from '../engine/digest.ts'
import type { EngineCounts } from '../engine/engine.ts'
import { LocalGpus } from '../engine/gpu/local.ts'
import { ImageCommitter } from '../engine/image/commit.ts'
import { LocalImageStore } from '../engine/image/local.ts'
import { OverlayDiffer } from '../engine/layer/diff.ts'
import { LocalLayerStore } from '../engine/layer/local.ts'
import { mountOverlay, unmount } from '../engine/layer/mount.ts'
import type { Mount } from '../engine/layer/types.ts'
import { maxMappedId, rootProfile, rootlessProfile } from '../engine/host/profile.ts'
import { rootlessCgroups } from '../engine/host/cgroups.ts'
import { networked } from '../engine/container/network.ts'
import { BridgeNetworking } from '../engine/network/bridge.ts'
import { PastaNetworks, pastaBridgeView } from '../engine/network/pasta.ts'
import { RootlessNetworks, onUserNetwork, rootlessNetworkApi } from '../engine/network/rootless.ts'
import { RootlessNetns } from '../engine/network/rootlessns.ts'
import { hostFacts, localDevices } from '../engine/runtime/host.ts'
import { PullLeases } from '../engine/registry/leases.ts'
import { proxiesFromEnv } from '../engine/registry/proxy.ts'
import { RegistryService } from '../engine/registry/service.ts'
import { LocalTaskRunner } from '../engine/task/runner.ts'
import { ConmonRuntime } from '../engine/runtime/conmon.ts'
import { LOG_DRIVERS } from '../engine/container/logconfig.ts'
import { ConmonExec } from '../engine/runtime/exec.ts'
import { readLog } from '../engine/runtime/logs.ts'
import { ociSpec } from '../engine/runtime/spec.ts'
import { resolveUser } from '../engine/runtime/user.ts'
import { LocalVolumeStore } from '../engine/volume/local.ts'
import { Builder } from '../engine/builder/build.ts'
import { BuildCache } from '../engine/builder/cache.ts'
import { TaskExecutor, stepUserLookup } from '../engine/builder/executor.ts'
import { buildImagesOver, pullerOver } from '../engine/builder/images.ts'
import { ContextStore } from '../engine/builder/context-store.ts'
import { emitImageEvent } from '../engine/image/events.ts'
import { overlayDirs, stepDiffTar, stepLayer } from '../engine/layer/diff.ts'
import { prepareUpper } from '../engine/layer/adopt.ts'
import { LayerIngester } from '../engine/image/ingest.ts'
import { HostSystem } from '../engine/system/host.ts'
import { DiskUsageReport } from '../engine/system/df.ts'

/**
 * Tests' fake host root for GPU discovery and CDI specs (an internal setting, not a flag: a
 * real host's devices and driver files are under /).
 */
export const GPU_ROOT_ENV = 'BERTH_TEST_GPU_ROOT'

import { BERTH_VERSION } from '../api/version.ts'
import type { ClosableEngine, EngineOptions } from './run.ts'

/** How long a stopping daemon waits for removed containers' cleanups (network releases). */
const SHUTDOWN_CLEANUP_MS = 20_000
/** How long a stopping daemon waits for cancelled builds to release their snapshots. */
const SHUTDOWN_BUILD_MS = 20_000

export async function createEngine(opts: EngineOptions): Promise<ClosableEngine> {
  const { dataRoot, logger } = opts
  await mkdir(dataRoot, { recursive: true, mode: 0o711 })
  // The host's facts and choices (cgroups, ID mappings, the runtime's root), decided once here.
  const gpuRoot = process.env[GPU_ROOT_ENV] || undefined
  const facts = await hostFacts()
  const host = opts.rootless
    ? rootlessProfile(
        opts.rootless.execRoot,
        facts,
        // Limits where cgroup v2 controllers are delegated to the user, refused with why elsewhere.
        await rootlessCgroups(),
        {
          ...(gpuRoot ? { gpuRoot } : {}),
          maxGid: maxMappedId(await readFile('/proc/self/gid_map', 'utf8')),
        },
      )
    : rootProfile(dataRoot, facts, gpuRoot ? { gpuRoot } : {})
  const gpus = new LocalGpus({
    hostRoot: host.gpuRoot,
    fromEnv: opts.gpusFromEnv === true,
    ...(opts.cdiSpecDirs ? { cdiSpecDirs: opts.cdiSpecDirs } : {}),
  })
  const blobs = new LocalBlobStore(join(dataRoot, 'content'))
  const layers = new LocalLayerStore(join(dataRoot, 'layers'))
  const runtime = new ConmonRuntime({ stateDir: host.runtimeDir })
  const events = new EventBus()
  const volumes = new LocalVolumeStore(join(dataRoot, 'volumes'), logger, events)
  // What pulls under way (or cut short) hold: the image store's GC and rmi leave it alone.
  const leases = new PullLeases(join(dataRoot, 'registry', 'leases'))
  // The image store asks the container service who uses an image; the service is
  // made after the store, so the question is forwarded when it is asked.
  const images: LocalImageStore = new LocalImageStore({
    dir: join(dataRoot, 'images'),
    blobs,
    layers,
    usage: { containersUsing: (id: Digest) => containers.containersUsing(id) },
    events,
    // The build cache keeps its layers through garbage collection and image removal.
    roots: [{ held: () => builder.held() }],
    retained: leases,
  })
  const reg = opts.registry ?? {}
  const registry = new RegistryService({
    dir: join(dataRoot, 'registry'),
    leases,
    blobs,
    layers,
    ingest: images.ingest,
    images,
    events,
    logger,
    options: {
      insecureRegistries: reg.insecureRegistries ?? [],
      ...(reg.mirrors ? { mirrors: reg.mirrors } : {}),
      // Settings given to the daemon win over its environment, each on its own (Docker 23+).
      proxies: { ...proxiesFromEnv(), ...reg.proxies },
      ...(reg.certsDir ? { certsDir: reg.certsDir } : {}),
      userAgent: `berth/${BERTH_VERSION}`,
    },
    ...(reg.maxConcurrentDownloads ? { maxConcurrentDownloads: reg.maxConcurrentDownloads } : {}),
    ...(reg.maxConcurrentUploads ? { maxConcurrentUploads: reg.maxConcurrentUploads } : {}),
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
  // The bridge with NAT, published ports and user networks (berth's own ip and nft plumbing); it
  // looks containers up among the containers (made just below) for `container:NAME`, links,
  // and connect and disconnect, which run under the container's lock.
  // How a network finds another container (`container:NAME`, links).
  const peers = {
    peer: (ref: string) => {
      const c = containers.store.get(ref)
      return {
        id: c.id,
        dir: containers.store.containerDir(c.id),
        running: c.state.Running,
        pid: c.state.Pid,
      }
    },
  }
  // Rootless: user-defined networks live in the user's own network namespace (made on first use).
  const rootlessNetns = opts.rootless
    ? new RootlessNetns({ dir: join(dataRoot, 'network-rootless'), logger })
    : undefined
  const bridge = new BridgeNetworking({
    root: join(dataRoot, 'network'),
    ...(rootlessNetns ? { netavark: { netns: rootlessNetns.path } } : {}),
    ...(opts.defaultSubnet6 !== undefined ? { defaultSubnet6: opts.defaultSubnet6 } : {}),
    logger,
    events,
    peers,
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
  // Rootless: pasta connects each default-network container's namespace to the host and
  // publishes its ports; user networks are the bridge's, in the rootless namespace, with their
  // ports forwarded in by berth-portfwd (built beside berthd.mjs).
  const network = rootlessNetns
    ? new RootlessNetworks({
        pasta: new PastaNetworks({ root: join(dataRoot, 'network-pasta'), logger, peers }),
        bridge: bridge.manager,
        netns: rootlessNetns,
        dir: join(dataRoot, 'network-rootless'),
        forwarder: {
          node: process.execPath,
          script: fileURLToPath(new URL('./berth-portfwd.mjs', import.meta.url)),
        },
        logger,
        // The predefined networks' records are the bridge's; `bridge` is shown as pasta's.
        events: {
          sink: events,
          predefined: async (name) => pastaBridgeView(await bridge.api.inspect(name)),
        },
      })
    : bridge.manager
  const containers: ContainerService = new ContainerService({
    dir: join(dataRoot, 'containers'),
    images,
    layers,
    runtime,
    tasks,
    network,
    host,
    gpus,
    devices: localDevices,
    readLog,
    mount,
    unmount: unmountDetached,
    logger,
    volumes,
    events,
    keepRemovedMs: opts.keepRemovedMs ?? 0,
  })
  const lifecycle = new ContainerLifecycle({ containers, runtime, logger })
  const execs = new ExecService({
    containers,
    runtime: new ConmonExec(runtime),
    containerDir: (id) => containers.store.containerDir(id),
    resolveUser,
    hostCapabilities: async () => host.facts.capabilities,
    logger,
    events,
  })
  // Health checks: probes are execs; results go into the container's state. The checker
  // follows every state change, and picks up the running containers once they are loaded.
  const health = new HealthMonitor({
    runner: new ExecProbeRunner({ execs, kill: (pid, sig) => process.kill(pid, sig) }),
    recorder: {
      record: async (id, startedAt, update) => {
        // A container removed meanwhile has no state to keep the result in.
        const c = containers.store.list().find((x) => x.id === id)
        return c ? containers.states.recordHealth(c, startedAt, update) : undefined
      },
    },
    logger,
  })
  containers.states.observe((c) => health.sync(c))
  const files = new ContainerFiles({
    containers,
    containerDir: (id) => containers.store.containerDir(id),
    locked: (id, fn) => containers.locked(id, fn),
    layers,
    // A container's GPU files' mount points are not its changes.
    differ: new OverlayDiffer(layers, async (id) => {
      const record = await readGpuRecord(containers.store.containerDir(id))
      return record?.mountTargets ?? []
    }),
    // Commit is the image side's: it takes the diff while the runtime holds the container frozen.
    commits: new ImageCommitter({
      images,
      ingest: images.ingest,
      freezer: {
        available: host.freezer,
        pause: (id) => runtime.pause(id),
        resume: (id) => runtime.resume(id),
      },
      events,
    }),
    mount: async (m) => mountOverlay(m),
    unmount: async (target) => unmount(target),
    resolveUser,
    changes: {
      changing: (id) => containers.tracker.changing(id),
      settled: (c) => containers.tracker.settled(c),
      committed: (id, image, at) => containers.tracker.committed(id, image, at),
    },
  })
  // Builds: RUN steps are tasks in networks the seam prepares; layers come in through ingest.
  const buildExecutor = new TaskExecutor({
    layers,
    blobs,
    ingest: images.ingest,
    tasks: new LocalTaskRunner({
      runtime,
      host,
      spec: ociSpec,
      mount,
      unmount: unmountDetached,
      resolveUser: stepUserLookup(resolveUser),
      logger,
    }),
    networks: network,
    diff: { dirs: overlayDirs, tar: stepDiffTar },
    // A step's upper directory becomes its layer by rename (no unpack of its tar).
    adoption: {
      layer: stepLayer,
      prepare: prepareUpper,
      store: (dir, info) => layers.adopt(dir, info),
      ingest: new LayerIngester({ blobs, layers }),
    },
    mount,
    unmount: unmountDetached,
    resolveUser,
    dir: join(dataRoot, 'builder'),
    logger,
  })
  const builder: Builder = new Builder({
    executor: buildExecutor,
    images: buildImagesOver(images, {
      onTag: (img, tag) => emitImageEvent(events, 'tag', img.id, tag, img),
    }),
    cache: new BuildCache(join(dataRoot, 'builder', 'cache')),
    tmpDir: join(dataRoot, 'builder', 'tmp'),
    imageLayers: async () =>
      new Set((await images.list()).flatMap((i) => i.layers.map((l) => l.diffID))),
    content: images,
    // FROM of an image that is not here is pulled, as docker build does.
    puller: pullerOver(registry),
    // berth build's synced contexts (only what changed is sent again).
    contexts: new ContextStore(join(dataRoot, 'builder', 'contexts')),
  })
  await blobs.init()
  await layers.init()
  await images.init()
  // Leases first: the collection must see what interrupted pulls completed.
  await registry.init()
  await buildExecutor.init()
  await builder.init()
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
  for (const c of await containers.list()) health.sync(c)
  // What serves --gpus, said once (read in the background: it never delays the start).
  void gpus.inventory().then(
    (inv) => {
      if (inv.provider !== 'none') {
        logger.info('GPUs found', {
          by: inv.provider,
          gpus: inv.gpus.length,
          ...(inv.driverVersion ? { driver: inv.driverVersion } : {}),
        })
      } else if (opts.gpusFromEnv) {
        logger.warn('--gpus-from-env is set but no NVIDIA GPU was found')
      }
      for (const w of inv.warnings) logger.warn(`GPU: ${w}`)
    },
    (err: unknown) => logger.warn('reading the GPUs failed', { error: String(err) }),
  )

  return {
    dataRoot,
    images,
    containers,
    guard: containers,
    execs,
    files,
    volumes,
    lifecycle,
    events,
    builder,
    diskUsage: new DiskUsageReport({
      images,
      layerSize: async (d) => (await layers.info(d)).size,
      containers,
      volumes,
      builder,
    }),
    registry,
    // Rootless: the default network is pasta's; only containers on user networks are connected.
    networks: opts.rootless
      ? rootlessNetworkApi(bridge.api, (ref) => {
          const mode = containers.store.get(ref).hostConfig.NetworkMode
          return !onUserNetwork(mode)
        })
      : bridge.api,
    system: new HostSystem({
      layerDir: join(dataRoot, 'layers'),
      // The drivers wired here: local volumes; the network manager names its own.
      plugins: { volume: ['local'], log: [...LOG_DRIVERS] },
      networks: network,
      gpus,
      ...(opts.rootless
        ? { rootless: true, resourceLimits: host.noResourceLimits === undefined }
        : {}),
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
    async interrupt(): Promise<void> {
      // A build's snapshots are overlay mounts under the data root: a daemon gone before they
      // are released leaves them mounted until its next start.
      if (!(await builder.close(SHUTDOWN_BUILD_MS))) {
        logger.warn('shutdown: cancelled builds still winding down, left to the next start')
      }
    },
    async close(): Promise<void> {
      health.close()
      // A `run --rm` container's network is released after its record went: let those
      // releases finish (a bridge or rule left otherwise waits for the next daemon).
      if (!(await containers.drainCleanups(SHUTDOWN_CLEANUP_MS))) {
        logger.warn(
          'shutdown: cleanups of removed containers still running, left to the next start',
        )
      }
      // Containers keep running under their monitors; only the trash's timer stops.
      containers.removed.close()
      // Containers keep running under their monitors; only idle registry connections close.
      await registry.close()
    },
  }
}
