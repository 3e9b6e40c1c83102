// The network seam: what the container lifecycle asks of networking, and nothing more.
// The container module calls it at create, start, exit, remove and daemon start; it never
// looks inside. Today's modes (a private namespace with loopback only, `host`,
// `container:NAME`) are its first implementation; the bridge with NAT, published ports and
// user-defined networks is a second one behind the same interface.

/** Docker's EndpointSettings, as inspect shows it under NetworkSettings.Networks.NAME. */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } | null
  Links: string[] | null
  Aliases: string[] | null
  MacAddress: string
  DriverOpts: Record<string, string> | null
  NetworkID: string
  EndpointID: string
  Gateway: string
  IPAddress: string
  IPPrefixLen: number
  IPv6Gateway: string
  GlobalIPv6Address: string
  GlobalIPv6PrefixLen: number
  DNSNames: string[] | null
}

/** One published port on the host (Docker's PortBinding). */
export interface PortBinding {
  HostIp: string
  HostPort: string
}

/** Docker's NetworkSettings, as inspect shows it. */
export interface NetworkSettings {
  Bridge: string
  SandboxID: string
  SandboxKey: string
  HairpinMode: boolean
  LinkLocalIPv6Address: string
  LinkLocalIPv6PrefixLen: number
  /** "80/tcp" → bindings (null when exposed but not published). */
  Ports: Record<string, PortBinding[] | null>
  SecondaryIPAddresses: null
  SecondaryIPv6Addresses: null
  EndpointID: string
  Gateway: string
  GlobalIPv6Address: string
  GlobalIPv6PrefixLen: number
  IPAddress: string
  IPPrefixLen: number
  IPv6Gateway: string
  MacAddress: string
  Networks: Record<string, EndpointSettings>
}

/**
 * What networking needs to know of a container: its identity, Docker's network-related
 * config and host config fields, and the directory where its /etc files live.
 */
export interface NetworkedContainer {
  id: string
  /** The container's name; at plan(), the name asked for ('' when berth picks one after). */
  name: string
  /** The hostname asked for ('' when none: plan() chooses one). */
  hostname: string
  domainname: string
  /**
   * The container's own directory (hostname, hosts and resolv.conf are written here). At
   * plan() it is the record being made, which becomes the container's directory once whole.
   */
  dir: string
  /** Config.ExposedPorts ("80/tcp" → {}). */
  exposedPorts: Record<string, object>
  /** Config.Env, which containers linking to this one see as ALIAS_ENV_* (legacy links). */
  env?: string[]
  /** HostConfig: NetworkMode, PortBindings, PublishAllPorts, Dns, DnsSearch, DnsOptions, ExtraHosts, Links. */
  hostConfig: {
    NetworkMode?: string
    PortBindings?: Record<string, PortBinding[] | null> | null
    PublishAllPorts?: boolean
    Dns?: string[] | null
    DnsSearch?: string[] | null
    DnsOptions?: string[] | null
    ExtraHosts?: string[] | null
    Links?: string[] | null
  }
  /** NetworkingConfig.EndpointsConfig from the create request (aliases, static IPs, MAC). */
  endpoints: Record<string, Partial<EndpointSettings>>
}

/** The files of PreparedNetwork.etcDir that the container sees at /etc/NAME. */
export const ETC_FILES = ['hostname', 'hosts', 'resolv.conf'] as const

/** Where a container's process finds its network, for the OCI spec. */
export interface PreparedNetwork {
  /** Share the host's network namespace. */
  hostNetwork?: boolean
  /** Join this existing network namespace (a bind-mounted netns file, or /proc/PID/ns/net). */
  netnsPath?: string
  /** The directory whose ETC_FILES (hostname, hosts, resolv.conf) the container sees at /etc. */
  etcDir: string
  /**
   * Environment variables of legacy links (`--link` on the default bridge), which the
   * process gets after Docker's defaults and before the container's own Env.
   */
  env?: string[]
}

/** What plan() decided at create. */
export interface NetworkPlan {
  /** Docker's warnings for the client (for example published ports discarded). */
  warnings: string[]
  /**
   * The container's hostname: the one asked for, else one the network mode gives (the host's
   * under `--network host`), else the first 12 characters of its ID.
   */
  hostname: string
}

/** Another container, as a network mode that joins it (`container:NAME`) needs it. */
export interface NetworkPeer {
  id: string
  /** Its own directory, where its /etc files are. */
  dir: string
  running: boolean
  /** Its process (0 when none): its network namespace is /proc/PID/ns/net. */
  pid: number
}

/**
 * How a network manager finds other containers, given to its constructor by the wiring.
 * NotFound in Docker's words (`No such container: REF`) when there is none.
 */
export interface NetworkPeers {
  peer(ref: string): NetworkPeer
}

/**
 * The network seam. Every method is idempotent where it says so, because a killed daemon may
 * have left any step half done; reconcile() at daemon start puts the host back in line with
 * the containers that exist.
 */
export interface NetworkManager {
  /**
   * At create: checks the container's network settings (mode, ports, networks named, static
   * addresses) and writes its /etc files. Nothing on the host changes yet. Returns Docker's
   * warnings (for example published ports discarded under `--network host`).
   */
  plan(c: NetworkedContainer): Promise<NetworkPlan>
  /**
   * At start, before the runtime creates the container: makes the namespace (and, for the
   * bridge, the interface, address, routes, NAT and port rules) and returns where it is.
   * A failure leaves nothing made.
   */
  prepare(c: NetworkedContainer): Promise<PreparedNetwork>
  /** After the container's process ended: gives back what prepare made. Idempotent. */
  release(c: NetworkedContainer): Promise<void>
  /**
   * The container's process ended and its release comes later, in the background (docker run
   * --rm): tells its network disconnects now, so that they come in dockerd's order (die,
   * disconnect, volume unmount, destroy); the release does not tell them again.
   */
  disconnected?(c: NetworkedContainer): void
  /** When the container is removed: forgets it (addresses, aliases). Idempotent. */
  remove(c: NetworkedContainer): Promise<void>
  /**
   * At daemon start: `running` are the containers whose process is alive (their networks stay
   * as they are, rebuilt where missing); everything else made for a container not among them
   * is released.
   */
  reconcile(running: NetworkedContainer[], all: NetworkedContainer[]): Promise<void>
  /** inspect's NetworkSettings for a container (running or not). */
  settings(c: NetworkedContainer, running: boolean): Promise<NetworkSettings>
  /**
   * The network drivers this manager provides, by Docker's names (`host`, `null` for
   * `--network none`, `bridge`...): what `docker info` lists under Plugins, Network.
   */
  drivers(): string[]
}

// ---- Networks as the /networks API sees them (the bridge implementation serves these) ----

/** One entry of Docker's IPAM.Config. */
export interface IpamConfig {
  Subnet?: string
  IPRange?: string
  Gateway?: string
  AuxiliaryAddresses?: Record<string, string>
}

/** A container on a network, as network inspect shows it. */
export interface NetworkEndpoint {
  Name: string
  EndpointID: string
  MacAddress: string
  IPv4Address: string
  IPv6Address: string
}

/** Docker's NetworkResource (GET /networks/{id}, and each entry of GET /networks). */
export interface NetworkResource {
  Name: string
  Id: string
  Created: string
  Scope: 'local'
  Driver: string
  EnableIPv6: boolean
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamConfig[] }
  Internal: boolean
  Attachable: boolean
  Ingress: boolean
  ConfigFrom: { Network: string }
  ConfigOnly: boolean
  Containers: Record<string, NetworkEndpoint>
  Options: Record<string, string>
  Labels: Record<string, string>
}

/** POST /networks/create's body. */
export interface NetworkCreateRequest {
  Name: string
  Driver?: string
  Scope?: string
  Internal?: boolean
  Attachable?: boolean
  Ingress?: boolean
  EnableIPv6?: boolean
  ConfigOnly?: boolean
  ConfigFrom?: { Network: string } | null
  IPAM?: {
    Driver?: string
    Config?: IpamConfig[] | null
    Options?: Record<string, string> | null
  } | null
  Options?: Record<string, string> | null
  Labels?: Record<string, string> | null
  CheckDuplicate?: boolean
}

/** Filters as the API decodes them: a key to its set of values. */
export type NetworkFilters = Record<string, string[]>

/** What the /networks routes ask of networking. */
export interface NetworkApi {
  /** Forbidden `Pool overlaps with other one on this address space`; Conflict on a taken name. */
  create(req: NetworkCreateRequest): Promise<{ Id: string; Warning: string }>
  /** Filters: driver, id, label, name, scope, type, dangling (InvalidArgument otherwise). */
  list(filters?: NetworkFilters): Promise<NetworkResource[]>
  /** By full ID, name, or unique ID prefix; NotFound `network NAME not found`. */
  inspect(ref: string): Promise<NetworkResource>
  /** Forbidden for the predefined ones; Forbidden `... has active endpoints` while in use. */
  remove(ref: string): Promise<void>
  /** Connects a container (running or not) to a user-defined or the default bridge network. */
  connect(
    ref: string,
    container: string,
    endpoint?: Partial<EndpointSettings> | null,
  ): Promise<void>
  disconnect(ref: string, container: string, force?: boolean): Promise<void>
  /** Removes user-defined networks no running container uses; filters: until, label, label!. */
  prune(filters?: NetworkFilters): Promise<{ NetworksDeleted: string[] }>
}

/** How networking finds other containers: for connect, disconnect, links and container:NAME. */
export interface NetworkContainers {
  /** By name, ID or unique ID prefix; NotFound `No such container: REF`. */
  get(ref: string): Promise<{ container: NetworkedContainer; running: boolean }>
  /** Runs fn while no lifecycle step of the container runs (connect on a running one). */
  locked<T>(id: string, fn: () => Promise<T>): Promise<T>
}
