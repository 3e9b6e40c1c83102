// The registry rows (issue 12): a cold pull of one multi-layer image of about 250 MB from Debian's
// reference registry on loopback, by berth (docker CLI and berth CLI → berthd) and by dockerd, in
// one interleaved run, against the floor: every blob fetched with plain HTTP requests and
// gunzipped to nothing. berthd's memory is sampled while it pulls.
//
// The image is made in berth once: the Debian base (debootstrap minbase), 80 MB of random bytes,
// a copy of /usr (compressible), 50 MB of random bytes; pushed, then every image and layer of it
// removed from every engine, so each pull starts cold. berthd and dockerd each live in a network
// namespace of their own: the registry reaches both at the same localhost:PORT through
// test/registry/relay.ts.
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { relayIntoNetns, type NetnsRelay } from '../../test/registry/relay.ts'
import { startRegistry, type RegistryServer } from '../../test/registry/server.ts'
import type { Client } from './engines.ts'
import {
  type Ctx,
  DEBIAN,
  group,
  interleave,
  ok,
  ours,
  standardRatios,
  unavailableRows,
  type Variant,
} from './measures.ts'
import { CommandFailed, memoryOf } from './proc.ts'
import { emptyRow, makeRow } from './results.ts'

const REPO = 'bench/pull'

interface Descriptor {
  digest: string
  size: number
  mediaType: string
}

/** Makes the image in berth, pushes it, and removes it (and the Debian base) everywhere. */
async function makeImage(ctx: Ctx, builder: Client, ref: string, tar: string): Promise<void> {
  const base = 'bench-pull-base:1'
  ctx.log('  making the pull image in berth (Debian + 3 layers) and pushing it')
  await ok(builder, ['import', tar, base], 600_000)
  const steps = [
    'head -c 80000000 /dev/urandom > /rand1',
    'cp -a /usr /usr-copy',
    'head -c 50000000 /dev/urandom > /rand2',
  ]
  let from = base
  const made: string[] = [base]
  for (const [i, cmd] of steps.entries()) {
    const name = `bench-pull-step-${process.pid}-${i}`
    const to = i === steps.length - 1 ? ref : `bench-pull-step:${i}`
    await ok(builder, ['run', '--name', name, from, 'sh', '-c', cmd], 600_000)
    await ok(builder, ['commit', name, to], 600_000)
    await ok(builder, ['rm', name])
    made.push(to)
    from = to
  }
  await ok(builder, ['push', ref], 600_000)
  await ok(builder, ['rmi', ...made.reverse()])
}

async function manifest(
  reg: RegistryServer,
): Promise<{ config: Descriptor; layers: Descriptor[] }> {
  const res = await fetch(`${reg.url}/v2/${REPO}/manifests/1`, {
    headers: {
      accept:
        'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
    },
  })
  if (!res.ok) throw new CommandFailed(`the registry has no ${REPO}:1 (${res.status})`)
  return (await res.json()) as { config: Descriptor; layers: Descriptor[] }
}

/** The floor: the manifest, then every blob at once, gunzipped (layers) and thrown away. */
async function floorPull(reg: RegistryServer): Promise<number> {
  const t0 = process.hrtime.bigint()
  const m = await manifest(reg)
  await Promise.all(
    [m.config, ...m.layers].map(async (d) => {
      const res = await fetch(`${reg.url}/v2/${REPO}/blobs/${d.digest}`)
      if (!res.ok || res.body === null) throw new CommandFailed(`GET ${d.digest}: ${res.status}`)
      const sink = new Writable({ write: (_c, _e, cb) => cb() })
      if (d.mediaType.endsWith('gzip')) await pipeline(res.body, createGunzip(), sink)
      else await pipeline(res.body, sink)
    }),
  )
  return Number(process.hrtime.bigint() - t0) / 1e6
}

/** Peak RSS (MiB) of the given processes while `fn` runs, sampled every 20 ms. */
async function peakRss<T>(
  pids: () => Promise<number[]>,
  fn: () => Promise<T>,
): Promise<{ out: T; peak: number }> {
  let peak = 0
  let sampling = true
  const sample = async () => {
    while (sampling) {
      let sum = 0
      for (const p of await pids()) sum += (await memoryOf(p).catch(() => ({ rssKiB: 0 }))).rssKiB
      peak = Math.max(peak, sum / 1024)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  const sampler = sample()
  try {
    return { out: await fn(), peak }
  } finally {
    sampling = false
    await sampler
  }
}

export async function pull(ctx: Ctx): Promise<void> {
  const g = 'pull'
  const gm = 'pull-rss'
  const engines = ['berth-cli', 'berth', 'docker'] as const
  const tar = ctx.debianTar
  const builder = ctx.clients.find((c) => c.id === 'berth') ?? ctx.clients.find(ours)
  const skip = (why: string) => {
    group(ctx, g, 'pull of a 250 MB image', 'cold, from a registry on loopback')
    for (const c of ctx.clients) ctx.res.add(emptyRow(g, c.id, c.label, 'ms', 'skipped', why))
    unavailableRows(ctx, g, 'ms', [...engines])
  }
  if (typeof tar !== 'string') return skip(tar.missing)
  if (builder === undefined) return skip('berth is not part of this run (it makes the image)')

  let reg: RegistryServer | undefined
  let relay: NetnsRelay | undefined
  let berthRelay: NetnsRelay | undefined
  try {
    reg = await startRegistry()
    const port = Number(reg.name.split(':')[1])
    const ref = `localhost:${port}/${REPO}:1`
    // berthd too lives in a network namespace of its own: both daemons reach the registry
    // through the same kind of relay, like for like.
    if (ctx.berthd !== undefined) berthRelay = await relayIntoNetns(ctx.berthd.pid, port)
    await makeImage(ctx, builder, ref, tar)
    const m = await manifest(reg)
    const total = [m.config, ...m.layers].reduce((a, d) => a + d.size, 0)
    const title = `pull of a ${Math.round(total / 1e6)} MB image (${m.layers.length} layers)`
    group(
      ctx,
      g,
      title,
      'cold each time (rmi after, untimed), from Debian’s docker-registry on loopback; floor: every blob by plain HTTP at once, gunzipped to nothing',
    )
    group(
      ctx,
      gm,
      'daemon peak RSS during that pull',
      'sampled every 20 ms (dockerd: with its containerd)',
    )

    // A cold start everywhere: the Debian base imported by save-load shares the first layer.
    for (const c of ctx.clients) await c.run(['rmi', DEBIAN])
    const docker = ctx.docker
    if (docker !== undefined) {
      const [dockerd] = await docker.daemonPids()
      if (dockerd !== undefined) relay = await relayIntoNetns(dockerd, port)
    }

    const peaks = new Map<string, number[]>()
    const vs: Variant[] = ctx.clients
      .filter((c) => (engines as readonly string[]).includes(c.id))
      .map((c) => ({
        id: c.id,
        label: c.label,
        ours: ours(c),
        once: async () => {
          const pids =
            c.engine === 'berth'
              ? async () => [ctx.berthd?.pid ?? -1]
              : async () => (await docker?.daemonPids()) ?? []
          const { out, peak } = await peakRss(pids, () => ok(c, ['pull', ref], 600_000))
          await ok(c, ['rmi', ref])
          if (/Already exists/.test(out.stdout)) {
            throw new CommandFailed('not cold: a layer was already there')
          }
          peaks.set(c.id, [...(peaks.get(c.id) ?? []), peak])
          return out.ms
        },
      }))
    const registry = reg
    vs.push({
      id: 'floor',
      label: 'floor: plain HTTP + gunzip to /dev/null',
      ours: false,
      once: () => floorPull(registry),
    })
    await interleave(ctx, g, 'ms', vs, ctx.heavyRuns, 1)
    unavailableRows(ctx, g, 'ms', [...engines])
    standardRatios(ctx, g, { docker: 1 / 1.5 })
    ctx.res.ratio(g, 'berth', 'floor', 'berth/floor', 1.3)
    ctx.res.ratio(g, 'berth-cli', 'floor', 'berth-cli/floor')
    for (const id of ['berth', 'docker'] as const) {
      const c = ctx.clients.find((x) => x.id === id)
      if (c === undefined) continue
      // the warm-up round's sample is left out, as interleave leaves out its time
      const samples = (peaks.get(id) ?? []).slice(1)
      ctx.res.add(
        makeRow(gm, id, c.engine === 'berth' ? 'berthd' : 'dockerd + containerd', 'MiB', samples),
      )
    }
    ctx.res.ratio(gm, 'berth', 'docker', 'berth/docker')
  } catch (err) {
    ctx.log(`  pull: ${String(err)}`)
    if (!ctx.groups.some((x) => x.id === g)) skip(`failed: ${String(err)}`)
    else throw err
  } finally {
    await relay?.stop()
    await berthRelay?.stop()
    await reg?.stop()
  }
}
