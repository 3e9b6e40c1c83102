// Daemon start: takes down what stopped or removed containers left, rebuilds missing devices, keeps aardvark-dns up.
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { isNetnsMounted, removeNetns } from './netns.ts'
import type { ContainerRecord } from './store.ts'
import type { NetworkedContainer } from './types.ts'
import type { BridgeContext } from './context.ts'
import { netDevices, release } from './setup.ts'

export async function reconcile(
  ctx: BridgeContext,
  running: NetworkedContainer[],
  all: NetworkedContainer[],
): Promise<void> {
  const runningIds = new Set(running.map((c) => c.id))
  const allIds = new Set(all.map((c) => c.id))
  for (const rec of [...ctx.files.containers.values()]) {
    if (!allIds.has(rec.id)) {
      await release(ctx, rec.id)
      await ctx.files.deleteContainer(rec.id)
      continue
    }
    const live = rec.live
    if (!live) continue
    if (live.bootId !== ctx.boot) {
      // The host rebooted: the kernel holds nothing of it any more, only the file is left.
      if (live.netns) await removeNetns(live.netns)
      delete rec.live
      await ctx.files.saveContainer(rec)
    } else if (!runningIds.has(rec.id)) {
      await release(ctx, rec.id)
    } else {
      await rebuildMissing(ctx, rec)
    }
  }
  // Namespace files no record owns: left by a daemon killed before it wrote one.
  const owned = new Set([...ctx.files.containers.values()].map((r) => r.live?.netns))
  for (const f of await readdir(ctx.files.netnsDir)) {
    const p = join(ctx.files.netnsDir, f)
    if (!owned.has(p)) await removeNetns(p)
  }
  await ensureAardvark(ctx)
}

/** Whether a running container is on a network whose names aardvark-dns serves. */
function dnsNeeded(ctx: BridgeContext): boolean {
  return [...ctx.files.containers.values()].some((r) =>
    r.live?.setups.some((s) => Object.values(s.network_info).some((n) => n.dns_enabled)),
  )
}

/** A running container whose bridge device went (deleted by hand) gets its network again. */
async function rebuildMissing(ctx: BridgeContext, rec: ContainerRecord): Promise<void> {
  const live = rec.live
  if (!live?.netns || !(await isNetnsMounted(live.netns))) return
  for (const setup of live.setups) {
    const devices = Object.values(setup.network_info).map((n) => n.network_interface)
    const present = await netDevices(ctx.plumbing.cfg.netns)
    if (devices.every((d) => present.has(d))) continue
    ctx.opts.logger.warn("rebuilding a running container's network", { id: rec.id })
    await ctx.plumbing.teardown(setup, { last: false, lastOfAll: false }).catch(() => undefined)
    await ctx.plumbing.setup(live.netns, setup)
  }
}

/** aardvark-dns runs while a running container is on a network with names. */
async function ensureAardvark(ctx: BridgeContext): Promise<void> {
  if (!dnsNeeded(ctx)) {
    // Nothing running has names: whatever aardvark-dns's files hold was left by containers
    // that are gone (a reboot takes the process and the entries' owners, not the files).
    if ((await ctx.plumbing.aardvark.pid()) === undefined) await ctx.plumbing.aardvark.clear()
    return
  }
  if ((await ctx.plumbing.aardvark.pid()) !== undefined) return
  ctx.opts.logger.warn('aardvark-dns was not running; starting it')
  await ctx.plumbing.aardvark.start()
}
