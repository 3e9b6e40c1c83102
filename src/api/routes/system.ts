// /_ping, /version and /info, in the shapes the docker CLI and SDKs expect.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import type { GpuInventory } from '../../engine/gpu/types.ts'
import type { RegistryInfo } from '../../engine/registry/types.ts'
import type { Router, Ctx } from '../router.ts'
import { sendJson, sendText } from '../http.ts'
import {
  API_VERSION,
  BERTH_VERSION,
  BUILD_TIME,
  GIT_COMMIT,
  MIN_API_VERSION,
  goArch,
} from '../version.ts'

function ping(ctx: Ctx): void {
  const { res } = ctx
  res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate')
  res.setHeader('Pragma', 'no-cache')
  res.setHeader('Builder-Version', '1')
  res.setHeader('Swarm', 'inactive')
  sendText(ctx, 200, 'OK')
}

export function versionInfo(): Record<string, unknown> {
  const details = {
    ApiVersion: API_VERSION,
    Arch: goArch(),
    BuildTime: BUILD_TIME,
    Experimental: 'false',
    GitCommit: GIT_COMMIT,
    GoVersion: `node ${process.version}`,
    KernelVersion: os.release(),
    MinAPIVersion: MIN_API_VERSION,
    Os: 'linux',
  }
  return {
    Platform: { Name: 'berth' },
    Components: [{ Name: 'Engine', Version: BERTH_VERSION, Details: details }],
    Version: BERTH_VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: GIT_COMMIT,
    GoVersion: `node ${process.version}`,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: os.release(),
    BuildTime: BUILD_TIME,
  }
}

let osNamePromise: Promise<string> | undefined

/** PRETTY_NAME from /etc/os-release, as dockerd reports OperatingSystem. */
export function operatingSystem(): Promise<string> {
  osNamePromise ??= (async () => {
    for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
      try {
        const text = await readFile(p, 'utf8')
        const m = /^PRETTY_NAME=(.*)$/m.exec(text)
        if (m) return m[1]!.trim().replace(/^["']|["']$/g, '')
      } catch {
        // try the next location
      }
    }
    return 'Linux'
  })()
  return osNamePromise
}

/** A stable daemon ID for this host and data root, in the UUID form dockerd 23+ uses. */
function daemonId(dataRoot: string): string {
  const h = createHash('sha256').update(`${os.hostname()}\0${dataRoot}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

function localTime(d: Date): string {
  const off = -d.getTimezoneOffset()
  const pad = (n: number, w = 2): string => String(Math.abs(n)).padStart(w, '0')
  const tz = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`
  const local = new Date(d.getTime() + off * 60_000)
  return local.toISOString().replace(/\.(\d{3})Z$/, `.$1000000${tz}`)
}

/** What /info says of registries in an engine that reaches none (the API tests' fakes). */
const NO_REGISTRY_INFO: RegistryInfo = {
  RegistryConfig: {
    AllowNondistributableArtifactsCIDRs: null,
    AllowNondistributableArtifactsHostnames: null,
    InsecureRegistryCIDRs: ['::1/128', '127.0.0.0/8'],
    IndexConfigs: {
      'docker.io': { Name: 'docker.io', Mirrors: [], Secure: true, Official: true },
    },
    Mirrors: null,
  },
  HttpProxy: '',
  HttpsProxy: '',
  NoProxy: '',
}

export async function systemInfo(ctx: Ctx): Promise<Record<string, unknown>> {
  const { engine } = ctx
  const counts = await engine.counts()
  const sys = await engine.system.info()
  // berthd without root refuses limits where the cgroup controllers are not the user's.
  const limits = sys.resourceLimits !== false
  const registryInfo = engine.registry?.info?.() ?? NO_REGISTRY_INFO
  const info: Record<string, unknown> = {
    ID: daemonId(engine.dataRoot),
    Containers: counts.containers,
    ContainersRunning: counts.running,
    ContainersPaused: counts.paused,
    ContainersStopped: counts.stopped,
    Images: counts.images,
    Driver: sys.storageDriver,
    DriverStatus: sys.driverStatus,
    Plugins: {
      Volume: sys.plugins.volume,
      Network: sys.plugins.network,
      Authorization: null,
      Log: sys.plugins.log,
    },
    MemoryLimit: limits,
    SwapLimit: limits,
    CpuCfsPeriod: limits,
    CpuCfsQuota: limits,
    CPUShares: limits,
    CPUSet: limits,
    PidsLimit: limits,
    IPv4Forwarding: true,
    BridgeNfIptables: false,
    BridgeNfIp6tables: false,
    Debug: false,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: localTime(new Date()),
    LoggingDriver: 'json-file',
    CgroupDriver: sys.cgroupDriver,
    CgroupVersion: sys.cgroupVersion,
    NEventsListener: 0,
    KernelVersion: os.release(),
    OperatingSystem: await operatingSystem(),
    OSVersion: '',
    OSType: 'linux',
    Architecture: os.machine(),
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: registryInfo.RegistryConfig,
    NCPU: os.cpus().length,
    MemTotal: os.totalmem(),
    GenericResources: null,
    DockerRootDir: engine.dataRoot,
    HttpProxy: registryInfo.HttpProxy,
    HttpsProxy: registryInfo.HttpsProxy,
    NoProxy: registryInfo.NoProxy,
    Name: os.hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: BERTH_VERSION,
    // "nvidia" is runc with the GPUs a container's environment names, where there are GPUs.
    Runtimes: {
      runc: { path: 'runc' },
      ...(sys.gpus && sys.gpus.provider !== 'none' ? { nvidia: { path: 'runc' } } : {}),
    },
    DefaultRuntime: 'runc',
    Swarm: {
      NodeID: '',
      NodeAddr: '',
      LocalNodeState: 'inactive',
      ControlAvailable: false,
      Error: '',
      RemoteManagers: null,
    },
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: 'docker-init',
    ContainerdCommit: { ID: '', Expected: '' },
    RuncCommit: { ID: '', Expected: '' },
    InitCommit: { ID: '', Expected: '' },
    // Rootless Docker adds name=rootless; clients (docker info, compose) read it from here.
    SecurityOptions: ['name=seccomp,profile=builtin', ...(sys.rootless ? ['name=rootless'] : [])],
    CDISpecDirs: sys.gpus?.cdiSpecDirs ?? ['/etc/cdi', '/var/run/cdi'],
    // Docker 28's list of the devices the CDI driver (and here, GPU discovery) offers.
    DiscoveredDevices: (sys.gpus?.devices ?? []).map((d) => ({ Source: d.source, ID: d.id })),
    // berth's own: the GPUs and who provides them, for `berth info`.
    GPUs: gpuInfo(sys.gpus),
    Warnings: (sys.gpus?.warnings ?? []).map((w) => `WARNING: GPU: ${w}`),
  }
  return info
}

/** The GPUs as /info shows them: who provides them (cdi, discovery or none), and each GPU. */
function gpuInfo(inv: GpuInventory | undefined): Record<string, unknown> {
  return {
    Provider: inv?.provider ?? 'none',
    DriverVersion: inv?.driverVersion ?? '',
    Devices: (inv?.gpus ?? []).map((g) => ({
      Index: g.index,
      Minor: g.minor,
      UUID: g.uuid ?? '',
      BusID: g.busId ?? '',
      Model: g.model ?? '',
    })),
  }
}

export function systemRoutes(r: Router): void {
  r.get('/_ping', ping)
  r.head('/_ping', ping)
  r.get('/version', (ctx) => sendJson(ctx, 200, versionInfo()))
  r.get('/info', async (ctx) => sendJson(ctx, 200, await systemInfo(ctx)))
  // berth runs no managed plugins (Docker's plugin v2): the list is truthfully empty, as a
  // dockerd with none installed answers (dockerode's listPlugins, `docker plugin ls`).
  r.get('/plugins', (ctx) => sendJson(ctx, 200, []))
}
