// The network seam of berth without root. Containers on the default network get a namespace
// of their own joined to the host by pasta (pasta.ts); containers on user-defined networks get
// the bridge, exactly as root's berth makes it (ip, nft, aardvark-dns for names), but inside
// the user's own rootless network namespace (rootlessns.ts), whose one pasta carries their
// outbound traffic, and with their published ports forwarded in from the host (portfwd.ts).
// `none`, `host` and `container:NAME` stay with pasta's LocalNetworks.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Internal, InvalidArgument } from '../errors.ts'
import type { EventSink } from '../events/types.ts'
import type { Logger } from '../logger.ts'
import { Serial } from './context.ts'
import { startForwarder, stopForwarder, type Forward } from './portfwd.ts'
import { ownedPid, type RootlessNetns } from './rootlessns.ts'
import { pastaBridgeView, type PastaNetworks } from './pasta.ts'
import { portRequests } from './ports.ts'
import type {
  NetworkApi,
  NetworkManager,
  NetworkResource,
  NetworkPlan,
  NetworkSettings,
  NetworkedContainer,
  PreparedNetwork,
} from './types.ts'

/** Whether a NetworkMode names a user-defined network (not default, bridge, host, none, container:). */
export function onUserNetwork(networkMode: string | undefined): boolean {
  const m = networkMode || 'default'
  return !['default', 'bridge', 'host', 'none'].includes(m) && !m.startsWith('container:')
}

/**
 * The host-to-container forwards of a running container on a user network, from its settings:
 * each published TCP port to the address of its first network (the one ports are published on).
 */
export function forwardsOf(s: NetworkSettings): Forward[] {
  const target = Object.values(s.Networks).find((e) => e.IPAddress !== '')?.IPAddress
  if (!target) return []
  const out: Forward[] = []
  for (const [key, bindings] of Object.entries(s.Ports)) {
    const [port, proto] = key.split('/')
    if (proto !== 'tcp' || !bindings) continue
    for (const b of bindings) {
      out.push({
        hostIp: b.HostIp,
        hostPort: Number(b.HostPort),
        targetIp: target,
        targetPort: Number(port),
      })
    }
  }
  return out
}

export interface RootlessNetworksDeps {
  pasta: PastaNetworks
  /** The bridge's manager, its plumbing running in the rootless namespace. */
  bridge: NetworkManager
  netns: RootlessNetns
  /** Where the forwarders' pid files live. */
  dir: string
  /** node and the forwarder program (dist/berth-portfwd.mjs). */
  forwarder: { node: string; script: string }
  logger: Logger
  /**
   * Where the connect and disconnect of containers outside the user networks are told (the
   * bridge tells those of its own), with the predefined network they are on as the API shows
   * it (pasta's `bridge`, `host`, `none`).
   */
  events: {
    sink: EventSink
    predefined(name: PredefinedName): Promise<ShownNetwork>
  }
}

type PredefinedName = 'bridge' | 'host' | 'none'
type ShownNetwork = Pick<NetworkResource, 'Id' | 'Name' | 'Driver'>

/** The predefined network a container not on a user network is on; none for container:NAME. */
function predefinedOf(c: NetworkedContainer): PredefinedName | undefined {
  const m = c.hostConfig.NetworkMode || 'default'
  if (m === 'default' || m === 'bridge') return 'bridge'
  return m === 'host' || m === 'none' ? m : undefined
}

export class RootlessNetworks implements NetworkManager {
  private readonly serial = new Serial()
  /** Containers outside the user networks told connected, with the network they are on. */
  private readonly told = new Map<string, PredefinedName>()
  private readonly shown = new Map<PredefinedName, ShownNetwork>()
  /** Containers on user networks with their network made; the namespace lives while any is. */
  private readonly active = new Set<string>()

  constructor(private readonly deps: RootlessNetworksDeps) {}

  drivers(): string[] {
    return ['bridge', ...this.deps.pasta.drivers()]
  }

  private pidFile(id: string): string {
    return join(this.deps.dir, `${id}.portfwd.pid`)
  }

  /** Names the predefined network a container was told connected to, until it is told gone. */
  private connectedFile(id: string): string {
    return join(this.deps.dir, `${id}.connected`)
  }

  /** The predefined network as the API shows it (its ID, name and driver do not change). */
  private async shownNetwork(name: PredefinedName): Promise<ShownNetwork> {
    let n = this.shown.get(name)
    if (!n) {
      n = await this.deps.events.predefined(name)
      this.shown.set(name, n)
    }
    return n
  }

  private tell(action: string, n: ShownNetwork, container: string): void {
    this.deps.events.sink.emit({
      Type: 'network',
      Action: action,
      Actor: { ID: n.Id, Attributes: { container, name: n.Name, type: n.Driver } },
    })
  }

  /**
   * dockerd's `network connect` at a start, for the predefined network. What was told is kept
   * on disk too, so that the `disconnect` comes once, also for a container that exits after a
   * berthd restart, and never for one whose network was not made.
   */
  private async connected(c: NetworkedContainer): Promise<void> {
    const name = predefinedOf(c)
    if (!name) return
    const n = await this.shownNetwork(name)
    await mkdir(this.deps.dir, { recursive: true, mode: 0o700 })
    await writeFile(this.connectedFile(c.id), name)
    this.told.set(c.id, name)
    this.tell('connect', n, c.id)
  }

  /** dockerd's `network disconnect`, once, for a container told connected to a predefined one. */
  private gone(id: string): Promise<void> {
    const name = this.told.get(id)
    if (name === undefined) return Promise.resolve()
    this.told.delete(id)
    const n = this.shown.get(name)
    if (n) this.tell('disconnect', n, id)
    return rm(this.connectedFile(id), { force: true })
  }

  private async forward(c: NetworkedContainer): Promise<void> {
    const forwards = forwardsOf(await this.deps.bridge.settings(c, true))
    try {
      await startForwarder(
        {
          netns: this.deps.netns.path,
          ...this.deps.forwarder,
          pidFile: this.pidFile(c.id),
          mark: c.id,
        },
        forwards,
      )
    } catch (err) {
      throw new Internal(
        `driver failed programming external connectivity on endpoint ${c.name} (${c.id}): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
    }
  }

  /** Takes the namespace down once no container needs it. */
  private async idle(): Promise<void> {
    if (this.active.size === 0 && (await this.deps.netns.exists())) {
      this.deps.logger.info('no container on a user-defined network runs: removing their namespace')
      await this.deps.netns.stop()
    }
  }

  async plan(c: NetworkedContainer): Promise<NetworkPlan> {
    if (!onUserNetwork(c.hostConfig.NetworkMode)) return this.deps.pasta.plan(c)
    const hc = c.hostConfig
    const requests = portRequests(c.exposedPorts, hc.PortBindings, hc.PublishAllPorts)
    if (requests.some((r) => r.proto !== 'tcp')) {
      throw new InvalidArgument(
        'berth without root publishes only TCP ports of containers on user-defined networks',
      )
    }
    return this.deps.bridge.plan(c)
  }

  async prepare(c: NetworkedContainer): Promise<PreparedNetwork> {
    if (!onUserNetwork(c.hostConfig.NetworkMode)) {
      await this.gone(c.id)
      const prepared = await this.deps.pasta.prepare(c)
      // The network is made: an event that cannot be told does not fail the start.
      await this.connected(c).catch((err: unknown) => {
        this.deps.logger.warn('telling a network connect failed', { id: c.id, error: String(err) })
      })
      return prepared
    }
    return this.serial.run(async () => {
      await stopForwarder(this.pidFile(c.id), c.id)
      await this.deps.netns.ensure()
      this.active.add(c.id)
      try {
        const prepared = await this.deps.bridge.prepare(c)
        try {
          await this.forward(c)
        } catch (err) {
          await this.deps.bridge.release(c)
          throw err
        }
        return prepared
      } catch (err) {
        this.active.delete(c.id)
        await this.idle()
        throw err
      }
    })
  }

  private async releaseUser(c: NetworkedContainer, remove: boolean): Promise<void> {
    await this.serial.run(async () => {
      await stopForwarder(this.pidFile(c.id), c.id)
      if (remove) await this.deps.bridge.remove(c)
      else await this.deps.bridge.release(c)
      this.active.delete(c.id)
      await this.idle()
    })
  }

  async release(c: NetworkedContainer): Promise<void> {
    if (!onUserNetwork(c.hostConfig.NetworkMode)) {
      await this.deps.pasta.release(c)
      return this.gone(c.id)
    }
    await this.releaseUser(c, false)
  }

  /** An exited `run --rm` container's disconnects, told before its removal (see NetworkManager). */
  disconnected(c: NetworkedContainer): void {
    if (onUserNetwork(c.hostConfig.NetworkMode)) return this.deps.bridge.disconnected?.(c)
    this.gone(c.id).catch((err: unknown) => {
      this.deps.logger.warn('forgetting a network connection failed', {
        id: c.id,
        error: String(err),
      })
    })
  }

  async remove(c: NetworkedContainer): Promise<void> {
    if (!onUserNetwork(c.hostConfig.NetworkMode)) {
      await this.deps.pasta.remove(c)
      return this.gone(c.id)
    }
    await this.releaseUser(c, true)
  }

  async reconcile(running: NetworkedContainer[], all: NetworkedContainer[]): Promise<void> {
    const user = (c: NetworkedContainer): boolean => onUserNetwork(c.hostConfig.NetworkMode)
    await this.deps.pasta.reconcile(
      running.filter((c) => !user(c)),
      all.filter((c) => !user(c)),
    )
    // What an earlier berthd told connected: a container that exited meanwhile is told gone
    // now (as the bridge tells it), one still running when it exits.
    const up = new Set(running.map((c) => c.id))
    for (const c of all.filter((x) => !user(x))) {
      const name = predefinedOf(c)
      const was = await readFile(this.connectedFile(c.id), 'utf8').catch(() => '')
      if (!name || was !== name) {
        await rm(this.connectedFile(c.id), { force: true })
        continue
      }
      await this.shownNetwork(name)
      this.told.set(c.id, name)
      if (!up.has(c.id)) await this.gone(c.id)
    }
    await this.serial.run(async () => {
      const live = running.filter(user)
      const liveIds = new Set(live.map((c) => c.id))
      // Running containers keep their networks: the namespace's pasta and their forwarders
      // are started again where they died.
      if (live.length > 0) await this.deps.netns.ensure()
      for (const c of all.filter(user)) {
        if (!liveIds.has(c.id)) await stopForwarder(this.pidFile(c.id), c.id)
      }
      await this.deps.bridge.reconcile(live, all.filter(user))
      this.active.clear()
      for (const c of live) {
        this.active.add(c.id)
        if ((await ownedPid(this.pidFile(c.id), c.id)) === undefined) {
          this.deps.logger.warn(
            'the port forwarder of a running container was gone; restarting it',
            {
              id: c.id,
            },
          )
          await this.forward(c).catch((err: unknown) => {
            this.deps.logger.warn('restarting a port forwarder failed', {
              id: c.id,
              error: String(err),
            })
          })
        }
      }
      await this.idle()
    })
  }

  async settings(c: NetworkedContainer, running: boolean): Promise<NetworkSettings> {
    if (!onUserNetwork(c.hostConfig.NetworkMode)) return this.deps.pasta.settings(c, running)
    return this.deps.bridge.settings(c, running)
  }
}

/**
 * The /networks routes without root: user-defined networks are made, listed and removed as
 * root's are; the predefined `bridge` is shown as pasta makes it; only containers already on a
 * user network may be connected to another one or disconnected (one on the default network
 * has pasta's namespace, which the bridges cannot reach).
 */
export function rootlessNetworkApi(
  api: NetworkApi,
  onDefault: (container: string) => boolean,
): NetworkApi {
  const check = (container: string): void => {
    if (onDefault(container)) {
      throw new InvalidArgument(
        `berth without root cannot connect or disconnect container ${container}: it is not on a user-defined network (start it with --network NAME)`,
      )
    }
  }
  return {
    ...api,
    async connect(ref, container, ep) {
      check(container)
      return api.connect(ref, container, ep)
    },
    async disconnect(ref, container, force) {
      check(container)
      return api.disconnect(ref, container, force)
    },
    async list(filters) {
      // The driver filter sees the driver shown (pasta), not the one the records hold.
      const { driver, ...rest } = filters ?? {}
      const all = (await api.list(rest)).map(pastaBridgeView)
      return driver?.length ? all.filter((n) => driver.includes(n.Driver)) : all
    },
    async inspect(ref) {
      return pastaBridgeView(await api.inspect(ref))
    },
  }
}
