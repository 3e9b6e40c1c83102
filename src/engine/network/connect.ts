// `docker network connect` and `disconnect`: attachments added to or taken from a container, live or not.
import { Forbidden, Internal, InvalidArgument } from '../errors.ts'
import type { Attachment, NetworkRecord } from './store.ts'
import type { EndpointSettings, NetworkedContainer } from './types.ts'
import type { BridgeContext } from './context.ts'
import { checkEndpoint, recordOf } from './records.ts'
import { endpointFor, teardownScope, usedAddresses } from './setup.ts'

export async function connect(
  ctx: BridgeContext,
  ref: string,
  ctr: string,
  ep: Partial<EndpointSettings>,
): Promise<void> {
  const n = ctx.catalog.find(ref)
  if (n.Driver === 'host') {
    throw new InvalidArgument(
      'container cannot be disconnected from host network or connected to host network',
    )
  }
  if (n.Driver === 'null') {
    throw new InvalidArgument(
      'container cannot be connected to multiple networks with one of the networks in private (none) mode',
    )
  }
  const { container: c } = await ctx.opts.containers.get(ctr)
  await ctx.opts.containers.locked(c.id, async () => {
    // Read again under the container's lock: it may have started or stopped meanwhile.
    const { container, running } = await ctx.opts.containers.get(c.id)
    await ctx.serial.run(() => connectLocked(ctx, n, container, running, ep))
  })
}

async function connectLocked(
  ctx: BridgeContext,
  n: NetworkRecord,
  c: NetworkedContainer,
  running: boolean,
  ep: Partial<EndpointSettings>,
): Promise<void> {
  const rec = await recordOf(ctx, c)
  if (rec.mode.kind === 'host') {
    throw new InvalidArgument(
      'container cannot be disconnected from host network or connected to host network',
    )
  }
  if (rec.mode.kind === 'none') {
    throw new InvalidArgument(
      'container cannot be connected to multiple networks with one of the networks in private (none) mode',
    )
  }
  if (rec.mode.kind === 'container') {
    throw new InvalidArgument(
      'container sharing network namespace with another container or host cannot be connected to any other network',
    )
  }
  const att = checkEndpoint(ctx, n, ep, ep.Links ?? [])
  if (rec.attachments.some((a) => a.networkId === n.Id)) {
    throw new Forbidden(`endpoint with name ${c.name} already exists in network ${n.Name}`)
  }
  const live = running ? rec.live : undefined
  if (live?.netns) {
    if (ctx.unavailable) throw new Internal(ctx.unavailable.message)
    const used = new Set(live.endpoints.map((e) => Number(e.ifname.slice(3))))
    let i = 0
    while (used.has(i)) i++
    const { ep: endpoint, setup } = endpointFor(ctx, c, n, att, `eth${i}`, usedAddresses(ctx, n.Id))
    await ctx.plumbing.setup(live.netns, setup)
    live.endpoints.push(endpoint)
    live.setups.push(setup)
  }
  rec.attachments.push(att)
  await ctx.files.saveContainer(rec)
  // As dockerd: a stopped container's connect is told when it starts.
  if (live?.netns) ctx.catalog.event('connect', n, { container: c.id })
}

export async function disconnect(
  ctx: BridgeContext,
  ref: string,
  ctr: string,
  force: boolean,
): Promise<void> {
  const { container: c } = await ctx.opts.containers.get(ctr)
  await ctx.opts.containers.locked(c.id, async () => {
    const { container, running } = await ctx.opts.containers.get(c.id)
    await ctx.serial.run(() => disconnectLocked(ctx, ref, container, running, force))
  })
}

async function disconnectLocked(
  ctx: BridgeContext,
  ref: string,
  c: NetworkedContainer,
  running: boolean,
  force: boolean,
): Promise<void> {
  const rec = await recordOf(ctx, c)
  let n: NetworkRecord | undefined
  try {
    n = ctx.catalog.find(ref)
  } catch (err) {
    // With force, a container may leave a network that no longer exists.
    if (!force) throw err
  }
  if (n?.Driver === 'host' || (n === undefined && rec.mode.kind === 'host')) {
    throw new InvalidArgument(
      'container cannot be disconnected from host network or connected to host network',
    )
  }
  const idx = rec.attachments.findIndex((a) =>
    n ? a.networkId === n.Id : a.networkId.startsWith(ref),
  )
  if (idx < 0) {
    throw new InvalidArgument(`container ${c.id} is not connected to network ${n?.Name ?? ref}`)
  }
  const att = rec.attachments[idx] as Attachment
  const live = running ? rec.live : undefined
  if (live) {
    const sIdx = live.setups.findIndex((s) =>
      Object.values(s.network_info).some((x) => x.id === att.networkId),
    )
    const setup = live.setups[sIdx]
    if (setup && live.netns) {
      await ctx.plumbing.teardown(setup, teardownScope(ctx, c.id, setup, live.setups.length === 1))
      if (setup.port_mappings) {
        ctx.ports.release(c.id)
        live.ports = []
      }
      live.setups.splice(sIdx, 1)
    }
    live.endpoints = live.endpoints.filter((e) => e.networkId !== att.networkId)
  }
  rec.attachments.splice(idx, 1)
  await ctx.files.saveContainer(rec)
  // dockerd 20.10 tells a running container's disconnect twice; once is what happened.
  if (n) ctx.catalog.event('disconnect', n, { container: c.id })
}
