// The state the bridge's parts share (records, catalog, plumbing, host ports, boot), its options and its queue.
import { join } from 'node:path'
import { InvalidArgument } from '../errors.ts'
import { NetworkCatalog } from './catalog.ts'
import type { HostPorts, PortProbe } from './hostports.ts'
import { DEFAULT_AARDVARK, DEFAULT_NETAVARK } from './netavark.ts'
import { Plumbing } from './plumbing.ts'
import type { Logger } from '../logger.ts'
import { LocalNetworks } from './modes.ts'
import { NetworkFiles, type Mode } from './store.ts'
import type { NetworkContainers, NetworkPeers } from './types.ts'
import type { EventSink } from '../events/types.ts'

export interface BridgeOptions {
  /** Where networks, container records, namespaces and aardvark-dns's config live. */
  root: string
  containers: NetworkContainers
  /** How `container:NAME` finds the namespace it joins (its process's). */
  peers: NetworkPeers
  logger: Logger
  /** The host's name, for `--network host` (os.hostname() unless a test says otherwise). */
  hostname?: () => string
  /** The plumbing's programs and place (the name is what did this before, netavark). */
  netavark?: {
    /** aardvark-dns's binary (Debian: /usr/lib/podman/aardvark-dns). */
    aardvark?: string
    /** netavark's, for set-ups an older berthd made with it (Debian: /usr/lib/podman/netavark). */
    binary?: string
    /** The network namespace the bridges live in, when not berthd's (berth without root). */
    netns?: string
  }
  /** The default bridge's device (berth0). */
  defaultBridge?: string
  /** The default bridge's subnet; by default the first of berth's pool the host does not use. */
  defaultSubnet?: string
  /**
   * The default bridge has IPv6 (dockerd's --ipv6): its subnet (--fixed-cidr-v6), '' for a
   * random unique local /64. Absent: IPv4 only.
   */
  defaultSubnet6?: string
  /** The host's files a container's own are made from. */
  hostFiles?: { resolvConf: string; hosts: string }
  /** How a host port is tested before it is taken (tests replace it). */
  probe?: PortProbe
  /** Where network create, destroy, prune, connect and disconnect are told, as dockerd's events. */
  events?: EventSink
}

/** Serialises the steps that change what berth holds (addresses, ports, records). */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve()
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn)
    this.tail = p.catch(() => undefined)
    return p
  }
}

/** Docker's NetworkMode, with the network it names when it names one. */
export function modeOf(networkMode: string | undefined): { mode: Mode; network?: string } {
  const m = networkMode || 'default'
  if (m === 'default' || m === 'bridge') return { mode: { kind: 'bridge' }, network: 'bridge' }
  if (m === 'host') return { mode: { kind: 'host' } }
  if (m === 'none') return { mode: { kind: 'none' } }
  if (m.startsWith('container:')) {
    const ref = m.slice('container:'.length)
    if (ref === '') throw new InvalidArgument(`invalid network mode: ${m}`)
    return { mode: { kind: 'container', ref } }
  }
  return { mode: { kind: 'bridge' }, network: m }
}

/** What every part of the bridge reads and changes; BridgeNetworking makes one and passes it on. */
export class BridgeContext {
  readonly files: NetworkFiles
  readonly catalog: NetworkCatalog
  readonly plumbing: Plumbing
  readonly serial = new Serial()
  ports!: HostPorts
  boot = ''
  unavailable: Error | undefined
  readonly hostFiles: { resolvConf: string; hosts: string }
  /** host, none and container:NAME need nothing made on the host: today's modes do them. */
  readonly local: LocalNetworks

  constructor(readonly opts: BridgeOptions) {
    this.local = new LocalNetworks({ peers: opts.peers })
    this.files = new NetworkFiles(opts.root)
    this.catalog = new NetworkCatalog(this.files, opts)
    this.plumbing = new Plumbing({
      aardvark: opts.netavark?.aardvark ?? DEFAULT_AARDVARK,
      // Where netavark kept them: running containers' names survive an upgrade of berth.
      aardvarkDir: join(opts.root, 'netavark', 'aardvark-dns'),
      ...(opts.netavark?.netns
        ? { netns: opts.netavark.netns }
        : {
            // Where an older berthd ran netavark (rootful only): see Plumbing.madeByNetavark.
            netavark: {
              binary: opts.netavark?.binary ?? DEFAULT_NETAVARK,
              configDir: join(opts.root, 'netavark'),
              lockFile: join(opts.root, 'netavark.lock'),
            },
          }),
    })
    this.hostFiles = opts.hostFiles ?? { resolvConf: '/etc/resolv.conf', hosts: '/etc/hosts' }
  }
}
