// berth's benchmarks, in one command: berth against Docker, Podman and bare runc, side by side
// in one run (see bench/README.md).
//
//   node --import tsx bench/run.ts [--quick] [--runs N] [--only NAME[,NAME]]
//                                  [--engines berth-cli,berth,docker,podman,runc] [--out DIR]
//                                  [--no-build]
//
// Every engine is started here, in its own temp dir, and removed at the end, also on Ctrl-C.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import * as prettier from 'prettier'
import { dockerBin, removeTree, repoRoot } from '../test/e2e/harness.ts'
import {
  baselineClient,
  benchDir,
  Berthd,
  berthClients,
  type Client,
  dockerdAvailable,
  ENGINE_IDS,
  type EngineId,
  exists,
  LABELS,
  podmanAvailable,
  Runc,
  startDockerPeer,
  startPodmanPeer,
} from './lib/engines.ts'
import { machine, versions } from './lib/machine.ts'
import * as m from './lib/measures.ts'
import { pull } from './lib/pull.ts'
import { fmt, markdown, svg } from './lib/report.ts'
import { type Goal, type Report, Results } from './lib/results.ts'
import { abortAll, isAborted, must } from './lib/proc.ts'

const PHASES = {
  'run-rm': m.runRm,
  exec: m.exec,
  'create-start-wait': m.createStartWait,
  'run-d-stop': m.runDStop,
  parallel: m.parallel,
  commit: m.commit,
  'save-load': m.saveLoad,
  startup: m.startup,
  idle: m.idle,
  cli: m.cli,
  'ps-a': m.psAll,
  pull,
  net: m.net,
} satisfies Record<string, (ctx: m.Ctx) => Promise<void>>
type Phase = keyof typeof PHASES

const USAGE = `usage: node --import tsx bench/run.ts [options]
  --quick            fewer runs, 10 idle containers, no Debian image (save/load)
  --runs N           measured rounds per timed row (default 10; --quick 3)
  --only NAMES       comma-separated phases: ${Object.keys(PHASES).join(', ')}
  --engines NAMES    comma-separated: ${ENGINE_IDS.join(', ')} (default: all)
  --out DIR          where to write latest.md, latest.json, ratios.svg (default bench/results)
  --no-build         use dist/ as it is (default: npm run build first)
  --baseline FILE    also run another berthd build (FILE is its berthd.mjs) as the engine
                     berth-base, to compare a change with what it changes, in one run`

interface Options {
  quick: boolean
  runs: number
  warmup: number
  heavyRuns: number
  idleCount: number
  parallel: number
  phases: Phase[]
  engines: EngineId[]
  out: string
  build: boolean
  baseline: string | undefined
  full: boolean
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      only: { type: 'string' },
      engines: { type: 'string' },
      out: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      baseline: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const list = <T extends string>(s: string | undefined, all: readonly T[], what: string): T[] => {
    if (s === undefined) return [...all]
    const picked = s.split(',').map((x) => x.trim())
    for (const p of picked) {
      if (!(all as readonly string[]).includes(p)) {
        throw new Error(`unknown ${what} '${p}' (known: ${all.join(', ')})`)
      }
    }
    return all.filter((a) => picked.includes(a))
  }
  const quick = values.quick
  const runs = values.runs !== undefined ? Number(values.runs) : quick ? 3 : 10
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs needs a whole number ≥ 1`)
  const phases = list(values.only, Object.keys(PHASES) as Phase[], 'phase')
  const baseline = values.baseline
  const engines = list(values.engines, ENGINE_IDS, 'engine').filter(
    (e) => e !== 'berth-base' || baseline !== undefined,
  )
  return {
    quick,
    runs,
    warmup: quick ? 1 : 2,
    heavyRuns: Math.min(runs, quick ? 1 : 3),
    idleCount: quick ? 10 : 100,
    parallel: 50,
    phases,
    engines,
    out: values.out ?? join(benchDir, 'results'),
    build: !values['no-build'],
    baseline,
    // Only a complete run goes into bench/README.md.
    full:
      !quick &&
      values.runs === undefined &&
      values.only === undefined &&
      values.engines === undefined &&
      values.out === undefined &&
      baseline === undefined,
  }
}

const log = (msg: string) => process.stderr.write(`${msg}\n`)

/** Cleanups, newest first; run once, on success, failure or a signal. */
const cleanups: { what: string; fn: () => Promise<void> }[] = []
let cleaning: Promise<void> | undefined
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const c = cleanups.pop()!
      log(`cleanup: ${c.what}`)
      await c.fn().catch((err: unknown) => log(`cleanup of ${c.what} failed: ${String(err)}`))
    }
  })()
  return cleaning
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    log(`\n${sig}: stopping the engines and removing their files`)
    abortAll()
    void cleanup().finally(() => process.exit(130))
  })
}

function goals(res: Results, o: Options): Goal[] {
  const out: Goal[] = []
  const ratioGoal = (text: string, group: string, name: string, limit: number) => {
    const r = res.ratios.find((x) => x.group === group && x.name === name)
    const v = r?.value ?? null
    out.push({
      text,
      target: `≤ ${limit.toFixed(2)}×`,
      measured: v === null ? '–' : `${v.toFixed(2)}×`,
      met: v === null ? null : v <= limit,
      ...(v === null ? { note: 'a side of the ratio was not measured' } : {}),
    })
  }
  const valueGoal = (
    text: string,
    group: string,
    target: string,
    test: (v: number) => boolean,
    judged = true,
    why?: string,
  ) => {
    const row = res.find(group, 'berth')
    const v = row?.median ?? null
    out.push({
      text,
      target,
      measured: v === null ? (row?.note ?? '–') : fmt(v, row!.unit),
      met: v === null || !judged ? null : test(v),
      ...(why !== undefined ? { note: why } : {}),
    })
  }
  ratioGoal(
    '`run --rm true` via the docker CLI: at most a third of Docker',
    'run-rm',
    'berth/docker',
    1 / 3,
  )
  ratioGoal(
    '`run --rm true` via the docker CLI: within 2× of bare `runc run`',
    'run-rm',
    'berth/runc',
    2,
  )
  ratioGoal('`exec true` via the docker CLI: within 1.3× of its floor', 'exec', 'berth/floor', 1.3)
  const par = `parallel-${o.parallel}`
  const pRow = res.find(par, 'berth')
  out.push({
    text: `${o.parallel} parallel runs: no failures`,
    target: '0 failed',
    measured: pRow?.status === 'ok' ? `${pRow.failures} failed` : (pRow?.note ?? '–'),
    met: pRow?.status === 'ok' ? pRow.failures === 0 : null,
  })
  ratioGoal(
    `${o.parallel} parallel runs: wall time at most half of Docker's`,
    par,
    'berth/docker',
    0.5,
  )
  // issue 16: the berth command's start-up
  for (const c of m.CLI_COMMANDS.slice(0, 3)) {
    const row = res.find(`cli-${c.id}`, 'own')
    out.push({
      text: `\`berth ${c.title}\`: berth's own cost above \`node -e 0\``,
      target: '≤ 15 ms',
      measured: row?.median != null ? fmt(row.median, 'ms') : '–',
      met: row?.median != null ? row.median <= 15 : null,
    })
  }
  ratioGoal(
    '`berth run --rm true`: within 1.2× of `node -e 0` + the docker CLI on berthd',
    'cli-run-rm',
    'berth-cli/floor',
    1.2,
  )
  // issue 13: what the bridge and one published port add to `run --rm true`
  valueGoal(
    'network set-up (bridge, one `-p`) added to `run`',
    'net-setup',
    '≤ 15 ms',
    (v) => v <= 15,
  )
  ratioGoal(
    "host → published port on 127.0.0.1: at least 3× the throughput of Docker's userland proxy",
    'net-tput',
    'berth/docker',
    1 / 3,
  )
  ratioGoal(
    "host → published port: within 1.2× of the container's own address",
    'net-tput',
    'berth/floor',
    1.2,
  )
  const mb = 1e6 / 2 ** 20 // MiB per MB
  // issue 12: pull
  ratioGoal(
    'cold pull of a 250 MB image: at least 1.5× faster than Docker',
    'pull',
    'berth/docker',
    1 / 1.5,
  )
  ratioGoal('cold pull: within 1.3× of the floor (plain HTTP + gunzip)', 'pull', 'berth/floor', 1.3)
  valueGoal('berthd memory during the pull', 'pull-rss', '< 150 MB (143 MiB)', (v) => v < 150 * mb)
  const at100 = o.idleCount === 100
  const n = o.idleCount
  valueGoal(
    'memory added per idle container',
    'idle-total',
    '≤ 2 MB (1.91 MiB)',
    (v) => v <= 2 * mb,
  )
  valueGoal(
    'berthd with 100 idle containers',
    `daemon-rss-${n}`,
    '< 150 MB (143 MiB)',
    (v) => v < 150 * mb,
    at100,
    at100 ? undefined : `with ${n} containers; the goal is for 100`,
  )
  valueGoal(
    'berthd answers /_ping after a start with 100 containers',
    `startup-${n}`,
    '≤ 300 ms',
    (v) => v <= 300,
    at100,
    at100 ? undefined : `with ${n} containers; the goal is for 100`,
  )
  return out
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2))
  const want = (e: EngineId) => o.engines.includes(e)
  if (o.build) {
    log('building dist/ (npm run build)')
    await must(process.execPath, [join(repoRoot, 'scripts/build.mjs')], { timeoutMs: 300_000 })
  }
  const runDir = await mkdtemp('/tmp/bench-')
  cleanups.push({ what: runDir, fn: () => removeTree(runDir) })
  const cache = join(benchDir, '.cache')
  await mkdir(cache, { recursive: true })
  const busybox = join(cache, 'busybox.tar')
  if (!(await exists(busybox))) {
    log('making bench/.cache/busybox.tar')
    await must(join(repoRoot, 'scripts/make-busybox-rootfs.sh'), [busybox])
  }
  const debian = join(cache, 'debian.tar')
  const debianTar = o.quick
    ? { missing: 'skipped in --quick (the Debian image)' }
    : (await exists(debian))
      ? debian
      : { missing: 'no bench/.cache/debian.tar: run bench/setup.sh' }

  const res = new Results()
  const missing = new Map<EngineId, string>()
  for (const e of ENGINE_IDS) if (!want(e)) missing.set(e, 'left out (--engines)')
  const clients: Client[] = []
  const ctx: m.Ctx = {
    res,
    groups: [],
    clients,
    missing,
    runs: o.runs,
    warmup: o.warmup,
    heavyRuns: o.heavyRuns,
    idleCount: o.idleCount,
    parallel: o.parallel,
    tmp: runDir,
    busyboxTar: busybox,
    debianTar,
    log,
  }
  const notes = [
    'This machine is shared with other engineers (builds and tests run beside the benchmark), so the numbers are noisy; compare engines within one run, not across runs.',
    `Timed rows: ${o.warmup} warm-up round(s), then ${o.runs} measured (${o.heavyRuns} for parallel, commit, save and load); in each round every engine runs once, in turn (interleaved). A time is the wall clock from spawning the client to its exit.`,
    'No engine sets up networking but in the net-* rows: every run and create passes --network none; dockerd runs in a network namespace of its own (so the host keeps its devices) with --bridge=none --iptables=false, podman with netns="none" (bench/podman/containers.conf), berthd in a network namespace of its own. The net-* rows run berthd\'s default bridge (its own nftables table) against a second dockerd, in its own namespace too, with Docker\'s default networking (docker0, iptables, userland proxy).',
    'Memory: the monitor is the process each engine keeps per container (conmon for berth and podman, containerd-shim-runc-v2 for dockerd); PSS shares pages among processes that map them, so it is what a container adds. Daemon growth is the daemon VmRSS after minus before, over N.',
  ]

  let dockerCli: string | undefined
  try {
    dockerCli = await dockerBin()
  } catch {
    dockerCli = undefined
  }

  // berthd: both the berth CLI and the docker CLI talk to one daemon.
  if (want('berth') || want('berth-cli')) {
    log('starting berthd')
    const d = await Berthd.start()
    cleanups.push({ what: 'berthd', fn: () => d.stop() })
    ctx.berthd = d
    for (const c of await berthClients(runDir, d)) {
      if (!want(c.id)) continue
      if (c.id === 'berth' && dockerCli === undefined) {
        missing.set('berth', 'the docker CLI is not installed')
        continue
      }
      clients.push(c)
    }
    const importer = clients.find((c) => c.id === 'berth') ?? clients[0]
    if (importer !== undefined) await m.ok(importer, ['import', busybox, m.IMAGE])
  }
  if (want('berth-base') && o.baseline !== undefined) {
    log(`starting the baseline berthd (${o.baseline})`)
    const b = await Berthd.start(resolve(o.baseline))
    cleanups.push({ what: 'baseline berthd', fn: () => b.stop() })
    const c = await baselineClient(runDir, b)
    await m.ok(c, ['import', busybox, m.IMAGE])
    clients.push(c)
  }
  if (want('docker')) {
    if (dockerCli === undefined) missing.set('docker', 'the docker CLI is not installed')
    else if ((await dockerdAvailable()) === undefined) {
      missing.set('docker', 'dockerd is not installed (bench/setup.sh installs docker.io)')
    } else {
      log('starting dockerd (peer)')
      try {
        const p = await startDockerPeer(runDir)
        cleanups.push({ what: 'dockerd', fn: () => p.stop() })
        ctx.docker = p
        await m.ok(p.client, ['import', busybox, m.IMAGE])
        clients.push(p.client)
      } catch (err) {
        missing.set('docker', `dockerd failed to start: ${String(err).split('\n')[0]}`)
      }
    }
  }
  if (want('podman')) {
    if (!(await podmanAvailable())) {
      missing.set('podman', 'podman is not installed (bench/setup.sh installs it)')
    } else {
      log('preparing podman (peer)')
      try {
        const p = await startPodmanPeer(async (c) => {
          await m.ok(c, ['import', busybox, m.IMAGE])
          await m.ok(c, ['run', '--rm', m.IMAGE, 'true'])
        })
        cleanups.push({ what: 'podman', fn: () => p.stop() })
        ctx.podman = p
        clients.push(p.client)
        notes.push(`Podman's storage driver here: ${p.driver}.`)
      } catch (err) {
        missing.set('podman', String(err).split('\n')[0] ?? 'podman failed')
      }
    }
  }
  if (want('runc')) {
    try {
      const r = await Runc.start()
      cleanups.push({ what: 'runc', fn: () => r.stop() })
      ctx.runc = r
    } catch (err) {
      missing.set('runc', `runc failed: ${String(err).split('\n')[0]}`)
    }
  }
  // Table order, whatever order the engines came up in.
  clients.sort((a, b) => ENGINE_IDS.indexOf(a.id) - ENGINE_IDS.indexOf(b.id))
  for (const [e, why] of missing) log(`${LABELS[e]}: ${why}`)

  for (const p of o.phases) {
    log(`== ${p}`)
    await PHASES[p](ctx)
  }

  const report: Report = {
    date: new Date().toISOString(),
    machine: await machine(),
    versions: await versions(dockerCli),
    options: {
      quick: o.quick,
      runs: o.runs,
      warmup: o.warmup,
      heavyRuns: o.heavyRuns,
      idleContainers: o.idleCount,
      parallel: o.parallel,
      only: o.phases.join(','),
      engines: o.engines.join(','),
    },
    notes,
    groups: ctx.groups,
    rows: res.rows,
    ratios: res.ratios,
    goals: goals(res, o),
  }
  if (ctx.podman !== undefined) report.versions.podman += ` (${ctx.podman.driver})`
  await mkdir(o.out, { recursive: true })
  const md = markdown(report)
  await writeFile(join(o.out, 'latest.md'), md + '\n')
  // In prettier's own shape, so `npm run lint` (prettier --check .) accepts the committed file.
  const jsonPath = join(o.out, 'latest.json')
  const json = await prettier.format(JSON.stringify(report), {
    ...(await prettier.resolveConfig(jsonPath)),
    parser: 'json',
  })
  await writeFile(jsonPath, json)
  await writeFile(join(o.out, 'ratios.svg'), svg(report))
  if (o.full) await updateReadme(report)
  log(`wrote ${join(o.out, 'latest.md')}, latest.json, ratios.svg`)
  process.stdout.write(md + '\n')
}

/** Replaces the README's results section with this run's table and chart. */
async function updateReadme(report: Report): Promise<void> {
  const path = join(benchDir, 'README.md')
  const text = await readFile(path, 'utf8')
  const start = '<!-- results:start -->'
  const end = '<!-- results:end -->'
  const a = text.indexOf(start)
  const b = text.indexOf(end)
  if (a < 0 || b < a) return
  const body = markdown(report, { h: 2, chart: 'results/ratios.svg' })
  await writeFile(path, `${text.slice(0, a + start.length)}\n${body}\n${text.slice(b)}`)
}

main()
  .then(() => cleanup())
  .catch(async (err: unknown) => {
    if (isAborted()) log('bench: interrupted; no report written')
    else log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    await cleanup()
    process.exitCode = 1
  })
