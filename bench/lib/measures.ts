// The measurements. Timed ones run every engine interleaved (A B C A B C ...) after warm-up
// rounds, so the shared machine's drift hits all alike; the idle-container ones take one
// snapshot per engine.
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Berthd, Client, DockerPeer, EngineId, PodmanPeer, Runc } from './engines.ts'
import { cleanEnv, LABELS, startDockerPeer } from './engines.ts'
import {
  CommandFailed,
  firstLine,
  memoryOf,
  pool,
  processes,
  sh,
  sleep,
  type Done,
} from './proc.ts'
import { emptyRow, makeRow, type Group, type Results, type Unit } from './results.ts'

export const IMAGE = 'busybox'
/**
 * Every row but the net-* ones runs without networking on every engine (dockerd's is started
 * with --bridge=none, podman's with netns="none"; berthd's default is its bridge): like for like.
 */
export const NONE = ['--network', 'none']
export const DEBIAN = 'bench-debian:latest'

export interface Ctx {
  res: Results
  groups: Group[]
  /** The docker-like clients taking part, in table order. */
  clients: Client[]
  /** Engines not taking part, with the reason shown in their rows. */
  missing: Map<EngineId, string>
  berthd?: Berthd
  docker?: DockerPeer
  podman?: PodmanPeer
  runc?: Runc
  runs: number
  warmup: number
  heavyRuns: number
  idleCount: number
  parallel: number
  /** A temp dir for archives. */
  tmp: string
  /** The busybox root filesystem tar every engine imports. */
  busyboxTar: string
  /** The Debian root filesystem tar, or why there is none. */
  debianTar: string | { missing: string }
  log(msg: string): void
}

/** One attempt's outcome: a number, or a number with failures counted inside it. */
export type Sample = number | { value: number; failures: number; error?: string }

export interface Variant {
  id: string
  label: string
  /** the row's group, when not the one interleave() was given (one run over several groups) */
  group?: string
  /** berth's own: an error here means the feature is not built yet. */
  ours: boolean
  setup?: () => Promise<void>
  once: () => Promise<Sample>
  teardown?: () => Promise<void>
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Runs a docker-like command that must succeed. */
export async function ok(c: Client, args: string[], timeoutMs?: number): Promise<Done> {
  const r = await c.run(args, timeoutMs !== undefined ? { timeoutMs } : {})
  if (r.code !== 0) {
    const why = firstLine(r.stderr) || firstLine(r.stdout) || `exit status ${r.code}`
    throw new CommandFailed(`${args[0]}: ${why}`)
  }
  return r
}

/** `rm -f`, untimed; podman's waits 10 s for a `sleep` (which ignores SIGTERM) unless -t 0. */
async function rmForce(c: Client, ids: string[]): Promise<void> {
  await c.run(['rm', '-f', ...(c.engine === 'podman' ? ['-t', '0'] : []), ...ids])
}

/** The container id a create/run -d printed (podman may print pull progress first). */
function idOf(r: Done): string {
  return r.stdout.trim().split('\n').pop()?.trim() ?? ''
}

export function group(ctx: Ctx, id: string, title: string, what: string, short = id) {
  ctx.groups.push({ id, title, what, short })
}

export function unavailableRows(ctx: Ctx, g: string, unit: Unit, ids: EngineId[]) {
  for (const id of ids) {
    const why = ctx.missing.get(id)
    if (why !== undefined) ctx.res.add(emptyRow(g, id, LABELS[id], unit, 'unavailable', why))
  }
}

export async function interleave(
  ctx: Ctx,
  g: string,
  unit: Unit,
  variants: Variant[],
  runs: number,
  warmup: number,
): Promise<void> {
  const state = variants.map(() => ({
    dead: undefined as string | undefined,
    samples: [] as number[],
    failures: 0,
    lastError: undefined as string | undefined,
  }))
  for (const [i, v] of variants.entries()) {
    try {
      await v.setup?.()
    } catch (err) {
      state[i]!.dead = errText(err)
    }
  }
  for (let round = 0; round < warmup + runs; round++) {
    const measured = round >= warmup
    for (const [i, v] of variants.entries()) {
      const s = state[i]!
      if (s.dead !== undefined) continue
      try {
        const out = await v.once()
        const value = typeof out === 'number' ? out : out.value
        if (typeof out !== 'number' && out.failures > 0) {
          s.lastError = out.error
          if (measured) s.failures += out.failures
        }
        if (measured) s.samples.push(value)
      } catch (err) {
        // An error on the very first attempt means the operation does not work at all.
        if (round === 0) s.dead = errText(err)
        else {
          if (measured) s.failures++
          s.lastError = errText(err)
        }
      }
    }
    ctx.log(`  ${g}: round ${round + 1}/${warmup + runs}${measured ? '' : ' (warm-up)'}`)
  }
  for (const v of variants) await v.teardown?.().catch(() => undefined)
  for (const [i, v] of variants.entries()) {
    const s = state[i]!
    const vg = v.group ?? g
    if (s.dead !== undefined) {
      ctx.res.add(
        emptyRow(
          vg,
          v.id,
          v.label,
          unit,
          v.ours ? 'unsupported' : 'failed',
          v.ours ? `not supported yet: ${s.dead}` : `failed: ${s.dead}`,
        ),
      )
    } else {
      const note = s.failures > 0 ? `${s.failures} failed: ${s.lastError ?? ''}` : undefined
      ctx.res.add(
        makeRow(vg, v.id, v.label, unit, s.samples, {
          failures: s.failures,
          ...(note !== undefined ? { note } : {}),
        }),
      )
    }
  }
}

export const ours = (c: Client) => c.engine === 'berth'

function clientVariants(ctx: Ctx, once: (c: Client) => () => Promise<Sample>): Variant[] {
  return ctx.clients.map((c) => ({ id: c.id, label: c.label, ours: ours(c), once: once(c) }))
}

export function standardRatios(
  ctx: Ctx,
  g: string,
  goals: { docker?: number; runc?: number } = {},
) {
  if (ctx.res.find(g, 'berth-base') !== undefined) {
    ctx.res.ratio(g, 'berth', 'berth-base', 'berth/baseline')
  }
  ctx.res.ratio(g, 'berth', 'docker', 'berth/docker', goals.docker)
  ctx.res.ratio(g, 'berth', 'podman', 'berth/podman')
  if (ctx.res.find(g, 'runc') !== undefined)
    ctx.res.ratio(g, 'berth', 'runc', 'berth/runc', goals.runc)
  ctx.res.ratio(g, 'berth-cli', 'docker', 'berth-cli/docker')
}

export async function runRm(ctx: Ctx): Promise<void> {
  const g = 'run-rm'
  group(ctx, g, `run --rm ${IMAGE} true`, 'create, attach, start, wait and remove one container')
  const vs = clientVariants(
    ctx,
    (c) => async () => (await ok(c, ['run', ...NONE, '--rm', IMAGE, 'true'])).ms,
  )
  const runc = ctx.runc
  if (runc !== undefined) {
    vs.push({
      id: 'runc',
      label: 'bare runc (runc run)',
      ours: false,
      once: async () => {
        const r = await runc.run()
        if (r.code !== 0) throw new CommandFailed(`runc run: ${firstLine(r.stderr)}`)
        return r.ms
      },
    })
  }
  await interleave(ctx, g, 'ms', vs, ctx.runs, ctx.warmup)
  unavailableRows(ctx, g, 'ms', ['berth-cli', 'berth', 'docker', 'podman', 'runc'])
  standardRatios(ctx, g, { docker: 1 / 3, runc: 2 })
}

/** The commands the CLI start-up rows time; exec runs into an idle container of its own. */
export const CLI_COMMANDS = [
  { id: 'version', title: 'version', args: (_: string) => ['version'] },
  { id: 'ps', title: 'ps', args: (_: string) => ['ps'] },
  { id: 'images', title: 'images', args: (_: string) => ['images'] },
  {
    id: 'run-rm',
    title: `run --rm ${IMAGE} true`,
    args: (_: string) => ['run', ...NONE, '--rm', IMAGE, 'true'],
  },
  { id: 'exec', title: 'exec CONTAINER true', args: (id: string) => ['exec', id, 'true'] },
] as const

/**
 * The berth command's start-up (issue 16): each command by berth's CLI and by the docker CLI
 * against the same berthd, with `node -e 0` (Node starting and doing nothing) as the floor,
 * interleaved: the start-up rows in one pass, run and exec in a second. Derived rows: berth's
 * own cost (its time less the floor's) and, for run and exec, the floor plus the docker CLI's
 * time, the least a Node CLI could take.
 */
export async function cli(ctx: Ctx): Promise<void> {
  const clients = ctx.clients.filter((c) => c.id === 'berth-cli' || c.id === 'berth')
  const node = 'cli-node'
  group(
    ctx,
    node,
    'node -e 0',
    'Node starting and exiting: the floor of any command written for Node',
    'node',
  )
  for (const c of CLI_COMMANDS) {
    group(
      ctx,
      `cli-${c.id}`,
      `berth ${c.title}`,
      `${c.title} by berth's CLI and by the docker CLI, against one berthd`,
      `cli ${c.id}`,
    )
  }
  const env = cleanEnv()
  const vs: Variant[] = [
    {
      id: 'node',
      label: 'node -e 0',
      group: node,
      ours: false,
      once: async () => {
        const r = await sh('node', ['-e', '0'], { env })
        if (r.code !== 0) throw new CommandFailed(`node -e 0: ${firstLine(r.stderr)}`)
        return r.ms
      },
    },
  ]
  // Start-up rows and container rows in two interleaved passes: a run --rm or exec leaves
  // work behind in berthd (runc delete, the exec's clean-up) that would land on whichever
  // command comes next in the round, here the next round's `version`.
  const containerRows: Variant[] = []
  for (const cmd of CLI_COMMANDS) {
    for (const c of clients) {
      let id = ''
      const rows = cmd.id === 'run-rm' || cmd.id === 'exec' ? containerRows : vs
      rows.push({
        id: c.id,
        label: c.label,
        group: `cli-${cmd.id}`,
        ours: ours(c),
        ...(cmd.id === 'exec'
          ? {
              setup: async () => {
                id = idOf(await ok(c, ['run', ...NONE, '-d', IMAGE, 'sleep', '100000']))
              },
              teardown: async () => {
                if (id !== '') await rmForce(c, [id])
              },
            }
          : {}),
        once: async () => (await ok(c, cmd.args(id))).ms,
      })
    }
  }
  await interleave(ctx, node, 'ms', vs, ctx.runs, ctx.warmup)
  await interleave(ctx, 'cli-containers', 'ms', containerRows, ctx.runs, ctx.warmup)
  const floor = ctx.res.value(node, 'node')
  for (const cmd of CLI_COMMANDS) {
    const g = `cli-${cmd.id}`
    unavailableRows(ctx, g, 'ms', ['berth-cli', 'berth'])
    const ours = ctx.res.value(g, 'berth-cli')
    const peer = ctx.res.value(g, 'berth')
    if (floor === null || ours === null) continue
    ctx.res.add(
      makeRow(g, 'own', "berth's own cost: berth CLI less node -e 0", 'ms', [ours - floor], {
        note: 'derived: median(berth CLI) - median(node -e 0)',
      }),
    )
    if (peer !== null && (cmd.id === 'run-rm' || cmd.id === 'exec')) {
      ctx.res.add(
        makeRow(g, 'floor', 'floor: node -e 0 + the docker CLI', 'ms', [floor + peer], {
          note: 'derived: median(node -e 0) + median(docker CLI → berthd)',
        }),
      )
      ctx.res.ratio(
        g,
        'berth-cli',
        'floor',
        'berth-cli/floor',
        cmd.id === 'run-rm' ? 1.2 : undefined,
      )
    }
    ctx.res.ratio(g, 'berth-cli', 'berth', 'berth-cli/docker-cli')
  }
}

export async function exec(ctx: Ctx): Promise<void> {
  const g = 'exec'
  group(ctx, g, 'exec CONTAINER true', 'one exec into a running idle container')
  const vs: Variant[] = ctx.clients.map((c) => {
    let id = ''
    return {
      id: c.id,
      label: c.label,
      ours: ours(c),
      setup: async () => {
        id = idOf(await ok(c, ['run', ...NONE, '-d', IMAGE, 'sleep', '100000']))
      },
      once: async () => (await ok(c, ['exec', id, 'true'])).ms,
      teardown: async () => {
        if (id !== '') await rmForce(c, [id])
      },
    }
  })
  const viaDocker = ctx.clients.find((c) => c.id === 'berth')
  if (viaDocker !== undefined) {
    vs.push({
      id: 'rtt',
      label: 'docker version → berthd (the CLI round trip)',
      ours: true,
      once: async () => (await ok(viaDocker, ['version'])).ms,
    })
  }
  const runc = ctx.runc
  if (runc !== undefined) {
    let id = ''
    vs.push({
      id: 'runc',
      label: 'bare runc (runc exec)',
      ours: false,
      setup: async () => {
        id = await runc.startIdle()
      },
      once: async () => {
        const r = await runc.exec(id)
        if (r.code !== 0) throw new CommandFailed(`runc exec: ${firstLine(r.stderr)}`)
        return r.ms
      },
    })
  }
  await interleave(ctx, g, 'ms', vs, ctx.runs, ctx.warmup)
  unavailableRows(ctx, g, 'ms', ['berth-cli', 'berth', 'docker', 'podman', 'runc'])
  const rtt = ctx.res.value(g, 'rtt')
  const floor = ctx.res.value(g, 'runc')
  if (rtt !== null && floor !== null) {
    ctx.res.add(
      makeRow(g, 'floor', 'floor: CLI round trip + runc exec', 'ms', [rtt + floor], {
        note: 'derived: median(docker version) + median(runc exec)',
      }),
    )
  }
  ctx.res.ratio(g, 'berth', 'floor', 'berth/floor', 1.3)
  standardRatios(ctx, g)
}

export async function createStartWait(ctx: Ctx): Promise<void> {
  const g = 'create-start-wait'
  group(ctx, g, `create + start + wait (${IMAGE} true)`, 'three CLI calls, timed together')
  const vs = clientVariants(ctx, (c) => async () => {
    const created = await ok(c, ['create', ...NONE, IMAGE, 'true'])
    const id = idOf(created)
    try {
      const started = await ok(c, ['start', id])
      const waited = await ok(c, ['wait', id])
      return created.ms + started.ms + waited.ms
    } finally {
      await rmForce(c, [id])
    }
  })
  await interleave(ctx, g, 'ms', vs, ctx.runs, ctx.warmup)
  unavailableRows(ctx, g, 'ms', ['berth-cli', 'berth', 'docker', 'podman'])
  standardRatios(ctx, g)
}

export async function runDStop(ctx: Ctx): Promise<void> {
  const g = 'run-d-stop'
  group(ctx, g, `run -d ${IMAGE} sleep, then stop -t 0`, 'two CLI calls, timed together')
  const vs = clientVariants(ctx, (c) => async () => {
    const started = await ok(c, ['run', ...NONE, '-d', IMAGE, 'sleep', '100000'])
    const id = idOf(started)
    try {
      const stopped = await ok(c, ['stop', '-t', '0', id])
      return started.ms + stopped.ms
    } finally {
      await rmForce(c, [id])
    }
  })
  await interleave(ctx, g, 'ms', vs, ctx.runs, ctx.warmup)
  unavailableRows(ctx, g, 'ms', ['berth-cli', 'berth', 'docker', 'podman'])
  standardRatios(ctx, g)
}

export async function parallel(ctx: Ctx): Promise<void> {
  const n = ctx.parallel
  const g = `parallel-${n}`
  group(
    ctx,
    g,
    `${n} × run --rm ${IMAGE} true at once`,
    'wall time until all exit; failures counted',
  )
  const vs = clientVariants(ctx, (c) => async () => {
    const t0 = process.hrtime.bigint()
    const all = await Promise.all(
      Array.from({ length: n }, () =>
        c.run(['run', ...NONE, '--rm', IMAGE, 'true'], { timeoutMs: 300_000 }),
      ),
    )
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    const bad = all.filter((r) => r.code !== 0)
    if (bad.length === n) throw new CommandFailed(`run: ${firstLine(bad[0]!.stderr)}`)
    return { value: ms, failures: bad.length, error: firstLine(bad[0]?.stderr ?? '') }
  })
  await interleave(ctx, g, 'ms', vs, ctx.heavyRuns, 0)
  unavailableRows(ctx, g, 'ms', ['berth-cli', 'berth', 'docker', 'podman'])
  standardRatios(ctx, g, { docker: 0.5 })
}

export async function commit(ctx: Ctx): Promise<void> {
  const g = 'commit'
  group(
    ctx,
    g,
    'commit of a container with 100 MB of changes',
    'dd 100 MB of random bytes, then commit',
  )
  let seq = 0
  const vs: Variant[] = ctx.clients.map((c) => {
    const name = `bench-commit-${c.id}-${process.pid}`
    return {
      id: c.id,
      label: c.label,
      ours: ours(c),
      setup: async () => {
        const dd = ['dd', 'if=/dev/urandom', 'of=/big', 'bs=1M', 'count=100']
        await ok(c, ['run', ...NONE, '--name', name, IMAGE, ...dd], 300_000)
      },
      once: async () => {
        const tag = `bench-commit:${c.id}-${++seq}`
        const r = await ok(c, ['commit', name, tag], 300_000)
        await c.run(['rmi', tag])
        return r.ms
      },
      teardown: async () => {
        await rmForce(c, [name])
      },
    }
  })
  await interleave(ctx, g, 'ms', vs, ctx.heavyRuns, 1)
  unavailableRows(ctx, g, 'ms', ['berth-cli', 'berth', 'docker', 'podman'])
  standardRatios(ctx, g)
}

/** Imports the Debian tar once per engine; returns the engines where that failed, and why. */
export async function importDebian(ctx: Ctx, tar: string): Promise<Map<string, string>> {
  const failed = new Map<string, string>()
  const done = new Set<string>()
  for (const c of ctx.clients) {
    if (done.has(c.engine) || c.id === 'berth-cli') continue
    done.add(c.engine)
    ctx.log(`  importing the Debian image into ${c.engine}`)
    try {
      await ok(c, ['import', tar, DEBIAN], 600_000)
    } catch (err) {
      failed.set(c.engine, `import: ${errText(err)}`)
    }
  }
  return failed
}

export async function saveLoad(ctx: Ctx): Promise<void> {
  const unit: Unit = 'ms'
  group(ctx, 'save', `save of the Debian image`, 'debootstrap minbase bookworm, `save -o FILE`')
  group(ctx, 'load', `load of the Debian image`, 'after `rmi`, `load -i FILE` of its own save')
  const tar = ctx.debianTar
  if (typeof tar !== 'string') {
    for (const g of ['save', 'load']) {
      for (const c of ctx.clients)
        ctx.res.add(emptyRow(g, c.id, c.label, unit, 'skipped', tar.missing))
      unavailableRows(ctx, g, unit, ['berth-cli', 'berth', 'docker', 'podman'])
    }
    return
  }
  const failed = await importDebian(ctx, tar)
  const archive = (c: Client) => join(ctx.tmp, `save-${c.id}.tar`)
  const check = (c: Client) => {
    const why = failed.get(c.engine)
    if (why !== undefined) throw new CommandFailed(why)
  }
  const save: Variant[] = ctx.clients.map((c) => ({
    id: c.id,
    label: c.label,
    ours: ours(c),
    setup: async () => check(c),
    once: async () => {
      await unlink(archive(c)).catch(() => undefined)
      return (await ok(c, ['save', '-o', archive(c), DEBIAN], 600_000)).ms
    },
  }))
  await interleave(ctx, 'save', unit, save, ctx.heavyRuns, 1)
  const load: Variant[] = ctx.clients.map((c) => ({
    id: c.id,
    label: c.label,
    ours: ours(c),
    setup: async () => {
      check(c)
      // Its own archive when save worked; else the dockerd peer's, the same image.
      const own = ctx.res.find('save', c.id)?.status === 'ok'
      if (!own) {
        const peer = ctx.clients.find((p) => p.id === 'docker')
        if (peer === undefined) throw new CommandFailed('needs a saved archive (save failed)')
        await sh('cp', [archive(peer), archive(c)])
      }
    },
    once: async () => {
      await ok(c, ['rmi', DEBIAN])
      return (await ok(c, ['load', '-i', archive(c)], 600_000)).ms
    },
  }))
  await interleave(ctx, 'load', unit, load, ctx.heavyRuns, 1)
  for (const g of ['save', 'load']) {
    unavailableRows(ctx, g, unit, ['berth-cli', 'berth', 'docker', 'podman'])
    standardRatios(ctx, g)
  }
  for (const c of ctx.clients) await unlink(archive(c)).catch(() => undefined)
}

async function removeAll(c: Client): Promise<void> {
  const ids = (await c.run(['ps', '-aq'])).stdout.split('\n').filter(Boolean)
  for (let i = 0; i < ids.length; i += 25) await rmForce(c, ids.slice(i, i + 25))
}

export async function startup(ctx: Ctx): Promise<void> {
  const g = 'startup-0'
  group(
    ctx,
    g,
    'berthd start until /_ping answers, 0 containers',
    'fresh process on the same data root',
  )
  const d = ctx.berthd
  const c = ctx.clients.find((x) => x.engine === 'berth')
  if (d === undefined || c === undefined) {
    ctx.res.add(emptyRow(g, 'berth', 'berthd', 'ms', 'skipped', 'berth is not part of this run'))
    return
  }
  await removeAll(c)
  await interleave(
    ctx,
    g,
    'ms',
    [
      {
        id: 'berth',
        label: 'berthd',
        ours: true,
        once: async () => (await d.kill9(), d.spawnTimed()),
      },
    ],
    ctx.runs,
    1,
  )
}

const KiB_PER_MiB = 1024

async function duKiB(dir: string): Promise<number> {
  const r = await sh('du', ['-sxk', dir])
  return Number(r.stdout.split('\t')[0] ?? 0)
}

async function rssKiB(pids: number[]): Promise<number> {
  let sum = 0
  for (const p of pids) sum += (await memoryOf(p).catch(() => ({ rssKiB: 0 }))).rssKiB
  return sum
}

interface IdleEngine {
  id: 'berth' | 'docker' | 'podman'
  label: string
  client: Client
  dataRoot: string
  daemonPids: () => Promise<number[]>
}

/**
 * Memory and disk of N idle containers (`run -d IMAGE sleep`), per engine, one engine at a time;
 * for berth also the restart time with them all to reconcile (kill -9, then a fresh berthd).
 */
export async function idle(ctx: Ctx): Promise<void> {
  const n = ctx.idleCount
  const gs = {
    total: 'idle-total',
    pss: 'idle-monitor-pss',
    rss: 'idle-monitor-rss',
    daemon: 'idle-daemon-delta',
    daemonRss: `daemon-rss-${n}`,
    disk: 'disk-per-container',
    diskTotal: `disk-${n}`,
    start: `startup-${n}`,
  }
  group(
    ctx,
    gs.total,
    'memory per idle container (MiB)',
    'monitor PSS + daemon RSS growth, per container',
  )
  group(
    ctx,
    gs.pss,
    'monitor PSS per idle container (MiB)',
    'conmon or containerd-shim, smaps_rollup',
  )
  group(ctx, gs.rss, 'monitor RSS per idle container (MiB)', 'conmon or containerd-shim, VmRSS')
  group(
    ctx,
    gs.daemon,
    'daemon RSS growth per idle container (MiB)',
    'daemon VmRSS after minus before, / N',
  )
  group(
    ctx,
    gs.daemonRss,
    `daemon RSS with ${n} idle containers (MiB)`,
    'berthd; dockerd + containerd',
  )
  group(ctx, gs.disk, 'data root growth per container (KiB)', `du -sxk of the data root, / ${n}`)
  group(
    ctx,
    gs.diskTotal,
    `data root with ${n} containers (MiB)`,
    'du -sxk; images from the earlier rows included',
  )
  group(ctx, gs.start, `berthd start until /_ping answers, ${n} containers`, 'after kill -9')

  const engines: IdleEngine[] = []
  const berthClient = ctx.clients.find((c) => c.id === 'berth')
  const d = ctx.berthd
  if (berthClient !== undefined && d !== undefined) {
    engines.push({
      id: 'berth',
      label: 'berthd (conmon)',
      client: berthClient,
      dataRoot: d.dataRoot,
      daemonPids: async () => [d.pid],
    })
  }
  if (ctx.docker !== undefined) {
    engines.push({
      id: 'docker',
      label: 'dockerd (containerd-shim)',
      client: ctx.docker.client,
      dataRoot: ctx.docker.dataRoot,
      daemonPids: ctx.docker.daemonPids,
    })
  }
  if (ctx.podman !== undefined) {
    engines.push({
      id: 'podman',
      label: 'podman (conmon)',
      client: ctx.podman.client,
      dataRoot: ctx.podman.dataRoot,
      daemonPids: async () => [],
    })
  }

  for (const e of engines) {
    const c = e.client
    await removeAll(c)
    const daemonBefore = await rssKiB(await e.daemonPids())
    const diskBefore = await duKiB(e.dataRoot)
    ctx.log(`  ${e.id}: starting ${n} idle containers`)
    let first: string | undefined
    try {
      first = idOf(await ok(c, ['run', ...NONE, '-d', IMAGE, 'sleep', '100000']))
    } catch (err) {
      const why = errText(err)
      for (const g of Object.values(gs)) {
        if (g === gs.start && e.id !== 'berth') continue
        ctx.res.add(
          emptyRow(
            g,
            e.id,
            e.label,
            'MiB',
            e.id === 'berth' ? 'unsupported' : 'failed',
            `not supported yet: ${why}`,
          ),
        )
      }
      continue
    }
    const rest = await pool(Array.from({ length: n - 1 }), 4, () =>
      c.run(['run', ...NONE, '-d', IMAGE, 'sleep', '100000']),
    )
    const ids = [first, ...rest.filter((r) => r.code === 0).map(idOf)]
    const failures = rest.filter((r) => r.code !== 0)
    const failNote =
      failures.length > 0
        ? `${failures.length} of ${n} failed to start: ${firstLine(failures[0]!.stderr)}`
        : undefined
    // Let the monitors and the daemon settle after the burst.
    await sleep(1000)
    const monitors = (await processes()).filter(
      (p) =>
        (p.comm === 'conmon' || p.comm.startsWith('containerd-shim')) &&
        p.args.some((a) => ids.some((id) => a.includes(id))),
    )
    let rss = 0
    let pss = 0
    for (const m of monitors) {
      const mem = await memoryOf(m.pid).catch(() => ({ rssKiB: 0, pssKiB: 0 }))
      rss += mem.rssKiB
      pss += mem.pssKiB
    }
    const daemonAfter = await rssKiB(await e.daemonPids())
    const diskAfter = await duKiB(e.dataRoot)
    const k = ids.length
    const note = [`${k} containers, ${monitors.length} monitor processes`, failNote]
      .filter(Boolean)
      .join('; ')
    const per = (kib: number) => kib / k / KiB_PER_MiB
    const row = (g: string, unit: Unit, v: number, extra?: string) =>
      ctx.res.add(
        makeRow(g, e.id, e.label, unit, [v], {
          failures: failures.length,
          note: extra !== undefined ? `${note}; ${extra}` : note,
        }),
      )
    const daemonDelta = per(Math.max(0, daemonAfter - daemonBefore))
    row(gs.total, 'MiB', per(pss) + daemonDelta)
    row(gs.pss, 'MiB', per(pss))
    row(gs.rss, 'MiB', per(rss))
    row(
      gs.daemon,
      'MiB',
      daemonDelta,
      `${(daemonBefore / 1024).toFixed(1)} → ${(daemonAfter / 1024).toFixed(1)} MiB`,
    )
    if (e.id !== 'podman') row(gs.daemonRss, 'MiB', daemonAfter / KiB_PER_MiB)
    else
      ctx.res.add(emptyRow(gs.daemonRss, e.id, e.label, 'MiB', 'skipped', 'podman has no daemon'))
    row(gs.disk, 'KiB', (diskAfter - diskBefore) / k)
    row(gs.diskTotal, 'MiB', diskAfter / KiB_PER_MiB)

    if (e.id === 'berth' && d !== undefined) {
      const samples: number[] = []
      let error: string | undefined
      for (let i = 0; i < Math.min(ctx.runs, 5); i++) {
        try {
          await d.kill9()
          samples.push(await d.spawnTimed())
        } catch (err) {
          error = errText(err)
          break
        }
      }
      const running = (await c.run(['ps', '-q'])).stdout.split('\n').filter(Boolean).length
      const seen =
        running === k
          ? `all ${k} still running after the restarts`
          : `${running} of ${k} seen running after the restarts`
      ctx.res.add(
        error !== undefined && samples.length === 0
          ? emptyRow(gs.start, 'berth', 'berthd', 'ms', 'failed', `failed: ${error}`)
          : makeRow(gs.start, 'berth', 'berthd', 'ms', samples, { note: seen }),
      )
    }
    ctx.log(`  ${e.id}: removing ${k} containers`)
    await removeAll(c)
  }
  for (const g of [gs.total, gs.disk]) {
    ctx.res.ratio(g, 'berth', 'docker', 'berth/docker')
    ctx.res.ratio(g, 'berth', 'podman', 'berth/podman')
  }
  ctx.res.ratio(gs.daemonRss, 'berth', 'docker', 'berth/docker')
}

/** How many containers the ps-a row lists (issue 17's goal is stated for 200). */
export const PS_CONTAINERS = 200
/** docker's default ps table: berth's less the guard's UNSAVED column (and its request). */
const PLAIN_PS_TABLE =
  'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}'

/**
 * `ps -a` with 200 containers on berthd (issue 17): berth's CLI with the UNSAVED column (which
 * asks berthd for every container's unsaved changes beside the list) against the same CLI with
 * docker's table (no such request), and the docker CLI. A tenth of the containers ran and wrote
 * a file, so there are changes to report. The goal: the column costs at most 1.2x.
 */
export async function psAll(ctx: Ctx): Promise<void> {
  const g = 'ps-a'
  group(
    ctx,
    g,
    `ps -a (${PS_CONTAINERS} containers)`,
    `ps -a on berthd holding ${PS_CONTAINERS} containers, a tenth of them with unsaved changes`,
  )
  const cli = ctx.clients.find((c) => c.id === 'berth-cli')
  const peer = ctx.clients.find((c) => c.id === 'berth')
  const maker = cli ?? peer
  if (maker === undefined) {
    unavailableRows(ctx, g, 'ms', ['berth-cli', 'berth'])
    return
  }
  const ids: string[] = []
  const dirty = Math.ceil(PS_CONTAINERS / 10)
  await pool(
    Array.from({ length: PS_CONTAINERS }, (_, i) => i),
    ctx.parallel > 4 ? 4 : ctx.parallel,
    async (i) => {
      const r =
        i < dirty
          ? await ok(maker, ['run', '-d', IMAGE, 'sh', '-c', 'echo changed > /root/f'])
          : await ok(maker, ['create', IMAGE, 'true'])
      ids.push(idOf(r))
    },
  )
  const vs: Variant[] = []
  if (cli !== undefined) {
    vs.push({
      id: 'berth-cli',
      label: `${cli.label}, with UNSAVED`,
      ours: true,
      once: async () => (await ok(cli, ['ps', '-a'])).ms,
    })
    vs.push({
      id: 'plain',
      label: `${cli.label}, docker's table`,
      ours: true,
      once: async () => (await ok(cli, ['ps', '-a', '--format', PLAIN_PS_TABLE])).ms,
    })
  }
  if (peer !== undefined) {
    vs.push({
      id: 'berth',
      label: peer.label,
      ours: true,
      once: async () => (await ok(peer, ['ps', '-a'])).ms,
    })
  }
  try {
    await interleave(ctx, g, 'ms', vs, ctx.runs, ctx.warmup)
  } finally {
    for (let i = 0; i < ids.length; i += 50) await rmForce(maker, ids.slice(i, i + 50))
  }
  unavailableRows(ctx, g, 'ms', ['berth-cli', 'berth'])
  if (cli !== undefined) ctx.res.ratio(g, 'berth-cli', 'plain', 'unsaved/plain', 1.2)
}

/**
 * Network set-up (issue 13): `run --rm -p 8080:80 busybox true` on the default bridge, beside
 * the same run with `--network none`, interleaved, through the docker CLI: berthd (its bridge
 * berth0, berth's nftables table) against a dockerd of its own with Docker's default networking (docker0,
 * iptables, the userland proxy), each in a network namespace of its own. The derived row is
 * what the bridge and one published port add to `run`.
 */
export async function net(ctx: Ctx): Promise<void> {
  const bridge = 'net-bridge'
  const none = 'net-none'
  const setup = 'net-setup'
  group(ctx, bridge, `run --rm -p 8080:80 ${IMAGE} true`, 'on the default bridge network')
  group(ctx, none, `run --rm --network none ${IMAGE} true`, 'the same run without networking')
  group(ctx, setup, 'network set-up added to run', 'median(bridge) - median(none)')
  const berth = ctx.clients.find((c) => c.id === 'berth')
  const engines: { id: EngineId; label: string; client: Client }[] = []
  if (berth !== undefined) engines.push({ id: 'berth', label: LABELS.berth, client: berth })
  let peer: DockerPeer | undefined
  if (ctx.docker !== undefined) {
    try {
      peer = await startDockerPeer(ctx.tmp, true)
      await ok(peer.client, ['import', ctx.busyboxTar, IMAGE])
      engines.push({ id: 'docker', label: `${LABELS.docker} (bridge)`, client: peer.client })
    } catch (err) {
      ctx.missing.set('docker', `dockerd with a bridge failed: ${errText(err).split('\n')[0]}`)
    }
  }
  try {
    const vs: Variant[] = []
    for (const e of engines) {
      const run = (g: string, args: string[]): Variant => ({
        id: e.id,
        label: e.label,
        group: g,
        ours: e.id === 'berth',
        once: async () => (await ok(e.client, ['run', '--rm', ...args, IMAGE, 'true'])).ms,
      })
      vs.push(run(bridge, ['-p', '8080:80']), run(none, NONE))
    }
    await interleave(ctx, bridge, 'ms', vs, ctx.runs, ctx.warmup)
    await throughput(ctx, engines, peer)
  } finally {
    await peer?.stop()
  }
  for (const g of [bridge, none, TPUT]) unavailableRows(ctx, g, 'ms', ['berth', 'docker'])
  for (const e of engines) {
    const b = ctx.res.value(bridge, e.id)
    const n = ctx.res.value(none, e.id)
    if (b === null || n === null) continue
    ctx.res.add(
      makeRow(setup, e.id, e.label, 'ms', [b - n], {
        note: 'derived: median(-p 8080:80 on the bridge) - median(--network none)',
      }),
    )
  }
  ctx.res.ratio(bridge, 'berth', 'docker', 'berth/docker')
  ctx.res.ratio(setup, 'berth', 'docker', 'berth/docker')
  ctx.res.ratio(TPUT, 'berth', 'docker', 'berth/docker', 1 / 3)
  ctx.res.ratio(TPUT, 'berth', 'berth-floor', 'berth/floor', 1.2)
}

const TPUT = 'net-tput'
const TPUT_MIB = 1024
// Reads whole 1 MiB blocks and reports them ("N+0 records in") to the client.
const DD_SINK = 'dd bs=1M iflag=fullblock of=/dev/null 2>&1'

/**
 * Throughput from the host to a published port (issue 13): the time to send 1 GiB from the
 * engine's host (its network namespace) to `-p 127.0.0.1:8081:80` of a busybox container that
 * counts what it gets (`nc -ll -e` dd, in 1 MiB blocks), against the same to the container's own address
 * (the floor: the bridge, no port forwarding). berthd forwards with its nftables DNAT maps;
 * Docker's dockerd with its default userland proxy (docker-proxy), which serves 127.0.0.1.
 */
async function throughput(
  ctx: Ctx,
  engines: { id: EngineId; label: string; client: Client }[],
  peer: DockerPeer | undefined,
): Promise<void> {
  group(
    ctx,
    TPUT,
    `send ${TPUT_MIB} MiB from the host to a published port`,
    'host → -p 127.0.0.1:8081:80 (berth: DNAT, Docker: userland proxy); floor: the container address',
  )
  const client = join(import.meta.dirname, 'tput-client.mjs')
  const vs: Variant[] = []
  const made: { c: Client; name: string }[] = []
  try {
    for (const e of engines) {
      const netns =
        e.id === 'berth'
          ? ctx.berthd?.netns
          : `/proc/${(await peer?.daemonPids())?.[0] ?? 0}/ns/net`
      if (netns === undefined) continue
      const name = `bench-tput-${process.pid}`
      const server = ['nc', '-ll', '-p', '80', '-e', 'sh', '-c', DD_SINK]
      await ok(e.client, ['run', '-d', '--name', name, '-p', '127.0.0.1:8081:80', IMAGE, ...server])
      made.push({ c: e.client, name })
      const ip = (
        await ok(e.client, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', name])
      ).stdout.trim()
      const send = async (host: string, port: string): Promise<number> => {
        const r = await sh('nsenter', [
          `--net=${netns}`,
          process.execPath,
          client,
          host,
          port,
          `${TPUT_MIB}`,
        ])
        if (r.code !== 0) throw new CommandFailed(firstLine(r.stderr) || `exit status ${r.code}`)
        return Number(r.stdout.trim())
      }
      const ours = e.id === 'berth'
      vs.push(
        { id: e.id, label: e.label, ours, once: () => send('127.0.0.1', '8081') },
        {
          id: `${e.id}-floor`,
          label: `${e.label}: container address`,
          ours,
          once: () => send(ip, '80'),
        },
      )
    }
    await interleave(ctx, TPUT, 'ms', vs, ctx.runs, ctx.warmup)
  } finally {
    for (const m of made) await ok(m.c, ['rm', '-f', m.name]).catch(() => undefined)
  }
}
