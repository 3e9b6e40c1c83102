// The network modes berth has before the bridge: a private network namespace with only
// loopback (`default`/`bridge`, and `none`), the host's (`host`), and another container's
// (`container:NAME`). The first implementation of the network seam (types.ts). Anything else
// is refused in Docker's words rather than ignored, so that nobody believes a port is
// published when it is not.
import { hostname as osHostname } from 'node:os'
import { Conflict, InvalidArgument, NotFound } from '../errors.ts'
import { writeHostEtcFiles, writeOwnEtcFiles } from './etc.ts'
import type {
  NetworkedContainer,
  NetworkManager,
  NetworkPeers,
  NetworkPlan,
  NetworkSettings,
  PreparedNetwork,
} from './types.ts'

export type ModePlan =
  | { kind: 'private' }
  | { kind: 'host' }
  | { kind: 'container'; ref: string }
  /** A named network; berth has none yet, so starting the container fails (moby's words). */
  | { kind: 'named'; name: string }

type HostConfig = NetworkedContainer['hostConfig']

function publishesPorts(hc: HostConfig): boolean {
  const bindings = hc.PortBindings
  const hasBindings =
    typeof bindings === 'object' && bindings !== null && Object.keys(bindings).length > 0
  return hasBindings || hc.PublishAllPorts === true
}

/** The mode of a container's network, checked at create; warnings go back to the client. */
export function modePlan(hc: HostConfig): { plan: ModePlan; warnings: string[] } {
  const mode = hc.NetworkMode || 'default'
  const ports = publishesPorts(hc)
  if (mode === 'default' || mode === 'bridge') {
    if (ports) {
      throw new InvalidArgument(
        'port publishing (-p, -P) needs the bridge network, which this berthd does not have yet; use --network host to reach a server in a container',
      )
    }
    return { plan: { kind: 'private' }, warnings: [] }
  }
  if (mode === 'none') {
    if (ports) {
      throw new InvalidArgument(
        'conflicting options: port publishing and the container type network mode',
      )
    }
    return { plan: { kind: 'private' }, warnings: [] }
  }
  if (mode === 'host') {
    const warnings = ports ? ['Published ports are discarded when using host network mode'] : []
    return { plan: { kind: 'host' }, warnings }
  }
  if (mode.startsWith('container:')) {
    const ref = mode.slice('container:'.length)
    if (ref === '') throw new InvalidArgument(`invalid network mode: ${mode}`)
    if (ports) {
      throw new InvalidArgument(
        'conflicting options: port publishing and the container type network mode',
      )
    }
    return { plan: { kind: 'container', ref }, warnings: [] }
  }
  // Like dockerd, which connects networks at start: create succeeds, start says not found.
  return { plan: { kind: 'named', name: mode }, warnings: [] }
}

export function networkNotFound(name: string): NotFound {
  return new NotFound(`network ${name} not found`)
}

/** Joining another container's network needs that container running (moby's words). */
export function notRunningToJoin(id: string): Conflict {
  return new Conflict(`cannot join network of a non running container: ${id}`)
}

/** Docker's NetworkSettings of a container with no network endpoint. */
export function emptyNetworkSettings(): NetworkSettings {
  return {
    Bridge: '',
    SandboxID: '',
    SandboxKey: '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: {},
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: '',
    Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    MacAddress: '',
    Networks: {},
  }
}

export interface LocalNetworksDeps {
  peers: NetworkPeers
  /** The host's name, for `--network host` (os.hostname() unless a test says otherwise). */
  hostname?: () => string
}

/**
 * Today's modes behind the network seam. Nothing is made on the host: a private namespace is
 * the runtime's (it goes with the container's process), the host's and another container's
 * already exist. So release, remove and reconcile have nothing to undo.
 */
export class LocalNetworks implements NetworkManager {
  constructor(private readonly deps: LocalNetworksDeps) {}

  /** `host`, and `none`, whose driver Docker calls null; the private namespace has no driver. */
  drivers(): string[] {
    return ['host', 'null']
  }

  async plan(c: NetworkedContainer): Promise<NetworkPlan> {
    const { plan, warnings } = modePlan(c.hostConfig)
    // With the host's network a container also takes the host's name, as Docker does.
    const hostname =
      c.hostname ||
      (plan.kind === 'host' ? (this.deps.hostname ?? osHostname)() : c.id.slice(0, 12))
    if (plan.kind === 'host') await writeHostEtcFiles(c.dir, hostname)
    else await writeOwnEtcFiles(c.dir, hostname)
    return { warnings, hostname }
  }

  /**
   * The namespace a container's network lives in, and whose /etc/hosts, /etc/resolv.conf and
   * /etc/hostname it sees: its own, the host's, or (container:NAME) another running container's.
   */
  async prepare(c: NetworkedContainer): Promise<PreparedNetwork> {
    const { plan } = modePlan(c.hostConfig)
    switch (plan.kind) {
      case 'named':
        throw networkNotFound(plan.name)
      case 'host':
        return { hostNetwork: true, etcDir: c.dir }
      case 'container': {
        const target = this.deps.peers.peer(plan.ref)
        if (!target.running || target.pid <= 0) throw notRunningToJoin(target.id)
        return { netnsPath: `/proc/${target.pid}/ns/net`, etcDir: target.dir }
      }
      case 'private':
        return { etcDir: c.dir }
    }
  }

  async release(_c: NetworkedContainer): Promise<void> {}

  async remove(_c: NetworkedContainer): Promise<void> {}

  async reconcile(_running: NetworkedContainer[], _all: NetworkedContainer[]): Promise<void> {}

  async settings(_c: NetworkedContainer, _running: boolean): Promise<NetworkSettings> {
    return emptyNetworkSettings()
  }
}
