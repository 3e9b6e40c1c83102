// The bridge implementation of the network seam: Docker's default `bridge` network, user-
// defined bridge networks with names, `host`, `none` and `container:NAME`, and published
// ports. berth keeps the networks, the addresses (IPAM) and the host ports, and does the
// plumbing itself (plumbing.ts: iproute2 batches for the bridge, veth, addresses and routes,
// its own nftables table for NAT, isolation and ports; aardvark-dns for names on user-defined
// networks). Each container's namespace is a file under the data root,
// so a killed daemon leaves running containers their network and published ports.
import { HostPorts, ephemeralRange, probePort } from './hostports.ts'
import { bootId } from './netns.ts'
import type { NetworkApi, NetworkManager } from './types.ts'
import { BridgeContext, type BridgeOptions } from './context.ts'
import { settings } from './records.ts'
import { disconnected, plan, prepare, release } from './setup.ts'
import { reconcile } from './reconcile.ts'
import { connect, disconnect } from './connect.ts'

export type { BridgeOptions } from './context.ts'
export { parseLink } from './etcfor.ts'

export class BridgeNetworking {
  readonly manager: NetworkManager
  readonly api: NetworkApi
  private readonly ctx: BridgeContext

  constructor(opts: BridgeOptions) {
    const ctx = new BridgeContext(opts)
    this.ctx = ctx
    this.manager = {
      plan: (c) => ctx.serial.run(() => plan(ctx, c)),
      prepare: (c) => ctx.serial.run(() => prepare(ctx, c)),
      release: (c) => ctx.serial.run(() => release(ctx, c.id)),
      disconnected: (c) => disconnected(ctx, c.id),
      remove: (c) =>
        ctx.serial.run(async () => {
          await release(ctx, c.id)
          await ctx.files.deleteContainer(c.id)
        }),
      reconcile: (running, all) => ctx.serial.run(() => reconcile(ctx, running, all)),
      settings: async (c, running) => settings(ctx, c, running),
      // `docker info`'s Network plugins: this bridge, and host and none (null) from LocalNetworks.
      drivers: () => ['bridge', ...ctx.local.drivers()],
    }
    this.api = {
      create: (req) => ctx.serial.run(() => ctx.catalog.create(req)),
      list: async (f) => ctx.catalog.list(f ?? {}),
      inspect: async (ref) => ctx.catalog.resource(ctx.catalog.find(ref), true),
      remove: (ref) => ctx.serial.run(() => ctx.catalog.remove(ref)),
      connect: (ref, ctr, ep) => connect(ctx, ref, ctr, ep ?? {}),
      disconnect: (ref, ctr, force) => disconnect(ctx, ref, ctr, force === true),
      prune: (f) => ctx.serial.run(() => ctx.catalog.prune(f ?? {})),
    }
  }

  /** Loads the records, makes the predefined networks once, and re-holds running ports. */
  async init(): Promise<void> {
    const ctx = this.ctx
    await ctx.files.load()
    ctx.boot = await bootId()
    ctx.ports = new HostPorts(await ephemeralRange(), ctx.opts.probe ?? probePort)
    await ctx.plumbing.check().catch((err: unknown) => {
      ctx.unavailable = err instanceof Error ? err : new Error(String(err))
    })
    await ctx.catalog.ensurePredefined()
    for (const rec of ctx.files.containers.values()) {
      if (rec.live && rec.live.bootId === ctx.boot) ctx.ports.hold(rec.id, rec.live.ports)
    }
  }
}
