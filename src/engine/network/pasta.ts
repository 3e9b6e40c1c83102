// Rootless networking behind the network seam: each container on the default network gets a
// network namespace of its own connected to the host by pasta (Debian's passt), a user-mode
// network stack that needs no privilege on the host. pasta copies the host's addresses and
// routes into the namespace, forwards the container's traffic through ordinary sockets, and
// publishes ports (-p) by listening on the host's addresses itself. `none`, `host` and
// `container:NAME` are LocalNetworks' as they are. The namespace is bind-mounted on a file
// under the data root and pasta runs in the background, so both outlive berthd.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgument, Internal } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { writeOwnEtcFiles } from './etc.ts'
import { execTool } from './exec.ts'
import {
  HostPorts,
  PortUnavailable,
  ephemeralRange,
  probePort,
  type PortProbe,
} from './hostports.ts'
import { LocalNetworks, emptyNetworkSettings } from './modes.ts'
import { createNetns, isNetnsMounted, removeNetns } from './netns.ts'
import { pastaFailure } from './rootlessns.ts'
import { portMap, portRequests, type PortMapping, type PortRequest } from './ports.ts'
import type {
  NetworkResource,
  NetworkedContainer,
  NetworkManager,
  NetworkPeers,
  NetworkPlan,
  NetworkSettings,
  PreparedNetwork,
} from './types.ts'

export interface PastaDeps {
  /** Where the namespaces' files and pasta's pid files live (under the data root). */
  root: string
  peers: NetworkPeers
  logger: Logger
  /** pasta's path (/usr/bin/pasta unless a test says otherwise). */
  pasta?: string
  /** How a host port is tried before pasta listens on it (a bind test unless a test says otherwise). */
  probe?: PortProbe
}

type HostConfig = NetworkedContainer['hostConfig']

/** Why pasta refuses a network it does not make (RootlessNetworks sends user networks to the bridge). */
export const PASTA_NETWORKS_ONLY =
  'pasta connects containers to the default network only: host, none and container:NAME are the others it knows'

function onDefaultNetwork(hc: HostConfig): boolean {
  const mode = hc.NetworkMode || 'default'
  return mode === 'default' || mode === 'bridge'
}

/**
 * The ports a container asks to publish. A host port, a range or none at all (`-p CTR`, `-P`)
 * are all fine: berthd picks the free port itself and hands pasta the exact one.
 */
export function pastaRequests(
  c: Pick<NetworkedContainer, 'exposedPorts' | 'hostConfig'>,
): PortRequest[] {
  const hc = c.hostConfig
  const requests = portRequests(c.exposedPorts, hc.PortBindings, hc.PublishAllPorts)
  if (requests.some((r) => r.proto === 'sctp'))
    throw new InvalidArgument('berth without root cannot publish sctp ports')
  return requests
}

/** pasta's command line for a container's namespace and ports (pure; table-tested). */
export function pastaArgs(netns: string, pidFile: string, ports: PortMapping[]): string[] {
  const args = ['--config-net', '--quiet', '--netns', netns, '--pid', pidFile]
  // pasta forwards nothing when told `none`, and every bound port by default otherwise.
  const tcp = ports.filter((p) => p.proto === 'tcp')
  const udp = ports.filter((p) => p.proto === 'udp')
  const spec = (p: PortMapping): string =>
    `${p.hostIp ? `${p.hostIp}/` : ''}${p.hostPort}:${p.containerPort}`
  args.push('-t', tcp.length > 0 ? tcp.map(spec).join(',') : 'none')
  args.push('-u', udp.length > 0 ? udp.map(spec).join(',') : 'none')
  // Nothing from the container's side to the host's loopback: published ports only.
  args.push('-T', 'none', '-U', 'none')
  return args
}

export class PastaNetworks implements NetworkManager {
  private readonly local: LocalNetworks
  private readonly pasta: string
  private hostPorts: HostPorts | undefined

  constructor(private readonly deps: PastaDeps) {
    this.local = new LocalNetworks({ peers: deps.peers })
    this.pasta = deps.pasta ?? '/usr/bin/pasta'
  }

  drivers(): string[] {
    return ['pasta', ...this.local.drivers()]
  }

  private netnsPath(id: string): string {
    return join(this.deps.root, `${id}.netns`)
  }

  private pidPath(id: string): string {
    return join(this.deps.root, `${id}.pasta.pid`)
  }

  /** The host ports chosen for a container, kept beside its namespace for settings and restarts. */
  private portsPath(id: string): string {
    return join(this.deps.root, `${id}.ports.json`)
  }

  private async ports(): Promise<HostPorts> {
    this.hostPorts ??= new HostPorts(await ephemeralRange(), this.deps.probe ?? probePort)
    return this.hostPorts
  }

  private async chosenPorts(id: string): Promise<PortMapping[]> {
    const text = await readFile(this.portsPath(id), 'utf8').catch(() => '')
    return text === '' ? [] : (JSON.parse(text) as PortMapping[])
  }

  /** Chooses the host ports (a bind test on each, as the bridge does) and records them. */
  private async allocate(c: NetworkedContainer): Promise<PortMapping[]> {
    const ports = await this.ports()
    try {
      const chosen = await ports.allocate(c.id, pastaRequests(c), '0.0.0.0')
      await writeFile(this.portsPath(c.id), JSON.stringify(chosen))
      return chosen
    } catch (err) {
      ports.release(c.id)
      if (err instanceof PortUnavailable) {
        // Ports below the host's unprivileged start (1024 by default) need root of the host.
        const low = /permission denied$/.test(err.message)
          ? ' (berth without root cannot publish host ports below net.ipv4.ip_unprivileged_port_start; an administrator can lower it)'
          : ''
        throw new Internal(
          `driver failed programming external connectivity on endpoint ${c.name} (${c.id}): ${err.message}${low}`,
        )
      }
      throw err
    }
  }

  async plan(c: NetworkedContainer): Promise<NetworkPlan> {
    const mode = c.hostConfig.NetworkMode || 'default'
    const builtin = ['none', 'host'].includes(mode) || mode.startsWith('container:')
    if (!onDefaultNetwork(c.hostConfig) && !builtin) {
      throw new InvalidArgument(PASTA_NETWORKS_ONLY)
    }
    if (!onDefaultNetwork(c.hostConfig)) return this.local.plan(c)
    pastaRequests(c)
    const hostname = c.hostname || c.id.slice(0, 12)
    await writeOwnEtcFiles(c.dir, hostname)
    return { warnings: [], hostname }
  }

  async prepare(c: NetworkedContainer): Promise<PreparedNetwork> {
    if (!onDefaultNetwork(c.hostConfig)) return this.local.prepare(c)
    await mkdir(this.deps.root, { recursive: true, mode: 0o700 })
    await this.release(c)
    const ports = await this.allocate(c)
    const netns = this.netnsPath(c.id)
    await createNetns(netns)
    const r = await execTool([this.pasta, ...pastaArgs(netns, this.pidPath(c.id), ports)])
    if (r.code !== 0) {
      await this.release(c)
      throw new Internal(
        `cannot connect the container to the network with pasta: ${pastaFailure(r.stderr)}`,
      )
    }
    return { netnsPath: netns, etcDir: c.dir }
  }

  async release(c: NetworkedContainer): Promise<void> {
    const pidFile = this.pidPath(c.id)
    const text = await readFile(pidFile, 'utf8').catch(() => '')
    const pid = Number(text.trim())
    if (Number.isInteger(pid) && pid > 0) {
      // pasta also ends by itself once the namespace is gone; the pid file proves it is ours.
      try {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8')
        if (cmdline.includes(this.netnsPath(c.id))) process.kill(pid, 'SIGTERM')
      } catch {
        // already gone
      }
    }
    await rm(pidFile, { force: true })
    this.hostPorts?.release(c.id)
    await rm(this.portsPath(c.id), { force: true })
    await removeNetns(this.netnsPath(c.id))
  }

  async remove(c: NetworkedContainer): Promise<void> {
    await this.release(c)
  }

  async reconcile(running: NetworkedContainer[], all: NetworkedContainer[]): Promise<void> {
    const live = new Set(running.map((c) => c.id))
    // A restarted berthd holds again the ports its running containers' pastas listen on.
    const ports = await this.ports()
    for (const c of running) {
      ports.release(c.id)
      ports.hold(c.id, await this.chosenPorts(c.id))
    }
    for (const c of all) {
      if (live.has(c.id)) continue
      if (await isNetnsMounted(this.netnsPath(c.id))) {
        this.deps.logger.info('reconcile: releasing the network of a stopped container', {
          id: c.id,
        })
      }
      await this.release(c)
    }
  }

  async settings(c: NetworkedContainer, running: boolean): Promise<NetworkSettings> {
    if (!onDefaultNetwork(c.hostConfig)) return this.local.settings(c, running)
    const s = emptyNetworkSettings()
    s.Ports = portMap(c.exposedPorts, running ? await this.chosenPorts(c.id) : [])
    if (running) s.SandboxKey = this.netnsPath(c.id)
    return s
  }
}

/**
 * The predefined `bridge` network as it is without root: its containers are connected by
 * pasta (each has the host's addresses copied in), so no subnet, gateway or Linux bridge.
 */
export function pastaBridgeView(n: NetworkResource): NetworkResource {
  if (n.Name !== 'bridge') return n
  return {
    ...n,
    Driver: 'pasta',
    IPAM: { Driver: 'default', Options: null, Config: [] },
    Options: {},
  }
}
