// CPU time of berth's builder, row by row (issue 11): the bench's Dockerfile and 2000-file
// context, built by the berth CLI (synced context) or the docker v28 CLI against one berthd. Wall
// time is noisy on a shared machine; CPU time (user+sys) of the client and of berthd (with the
// children it waited for) is not, so this is what a change to the builder is judged by.
//
//   node --import tsx bench/build-cpu.ts [--runs N] [--client berth|docker] [--rows cold,cached,edit]
//     [--dist DIR]...   (several: builds of berth compared in one interleaved run) [--debian]
//
// --debian: bench/build.ts's realistic row instead (DEBIAN_DOCKERFILE, bench/.cache/debian.tar,
// 3000 source files, apt through a relay to the mirror as there).
//
// BENCH_CLIENT_WRAP (e.g. "strace -f -tt -o FILE") runs each client command under it.
// BENCH_DAEMON_STRACE=FILE traces berthd (strace -f -tt) over the timed builds.
// BENCH_DAEMON_SIGNAL=1 sends berthd SIGUSR2 before and after the timed builds (for a profiler).
// BERTHD_NODE_OPTIONS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") is passed to berthd's node.
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  docker,
  dockerBin,
  importBusybox,
  removeTree,
  repoRoot,
  startBerthd,
  type Berthd,
} from '../test/e2e/harness.ts'
import {
  BENCH_DOCKERFILE,
  DEBIAN_DOCKERFILE,
  procCpuMs,
  timedClient,
  writeBenchContext,
} from './lib/build-context.ts'
import { aptMirrorHost, relayMirrorIntoNetns, type MirrorRelay } from './lib/mirror-relay.ts'

/** BENCH_CLIENT_WRAP (e.g. "strace -f -tt -o /tmp/cli.trace") runs the client under it. */
const wrap = (process.env.BENCH_CLIENT_WRAP ?? '').split(' ').filter((w) => w !== '')

/** The port the mirror relay listens on inside each berthd's network namespace (--debian). */
const RELAY_PORT = 3142

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

interface Side {
  dist: string
  berthd: Berthd
  ctx: string
  build(extra: string[]): Promise<{ wall: number; cpu: number; daemon: number }>
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      client: { type: 'string', default: 'berth' },
      rows: { type: 'string', default: 'cold,cached,edit' },
      // A dist directory (npm run build's output) to measure; repeat it to compare builds of
      // berth in one interleaved run (e.g. a checkout of main beside this one).
      dist: { type: 'string', multiple: true },
      debian: { type: 'boolean' },
    },
  })
  const runs = Number(values.runs)
  const rows = values.rows.split(',')
  const dists = values.dist ?? [join(repoRoot, 'dist')]
  const work = await mkdtemp(join(tmpdir(), 'bench-build-cpu-'))
  const nodeOptions = process.env.BERTHD_NODE_OPTIONS
  const sides: Side[] = []
  const relays: MirrorRelay[] = []
  const debian = values.debian === true
  const mirror = debian ? await aptMirrorHost() : ''
  try {
    for (const [n, dist] of dists.entries()) {
      const berthd = await startBerthd({
        bin: join(dist, 'berthd.mjs'),
        ...(nodeOptions && n === 0 ? { env: { NODE_OPTIONS: nodeOptions } } : {}),
      })
      const side: Side = { dist, berthd, ctx: join(work, `ctx${n}`), build: undefined! }
      sides.push(side)
      const cfg = join(work, `config${n}`)
      await mkdir(cfg)
      const env = { DOCKER_CONFIG: cfg, DOCKER_CLI_HINTS: 'false' }
      let net = ['--network', 'none']
      if (debian) {
        const host = { socket: berthd.socket }
        const tar = join(repoRoot, 'bench/.cache/debian.tar')
        const r = await docker(['import', tar, 'bench-debian:bookworm'], { host })
        if (r.code !== 0) throw new Error(`docker import ${tar} failed: ${r.stdout}${r.stderr}`)
        const ns = berthd.netns ?? `/proc/${berthd.pid}/ns/net`
        relays.push(await relayMirrorIntoNetns(ns, RELAY_PORT, mirror))
        const gw = await docker(
          ['network', 'inspect', 'bridge', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}'],
          { host },
        )
        net = ['--build-arg', `http_proxy=http://${gw.stdout.trim()}:${RELAY_PORT}`]
      } else await importBusybox(berthd)
      await writeBenchContext(side.ctx, debian ? 60 : 40)
      await writeFile(join(side.ctx, 'Dockerfile'), debian ? DEBIAN_DOCKERFILE : BENCH_DOCKERFILE)
      const common = ['build', '-q', ...net, '-t', 'bench-cpu']
      const client =
        values.client === 'docker'
          ? {
              bin: await dockerBin(),
              args: common,
              env: { ...env, DOCKER_HOST: `unix://${berthd.socket}`, DOCKER_BUILDKIT: '0' },
            }
          : {
              bin: process.execPath,
              args: [join(dist, 'berth.cjs'), '--host', `unix://${berthd.socket}`, ...common],
              env,
            }
      side.build = async (extra) => {
        const before = await procCpuMs(berthd.pid)
        const r = await timedClient(
          client.bin,
          [...client.args, ...extra, side.ctx],
          client.env,
          wrap,
        )
        return { ...r, daemon: (await procCpuMs(berthd.pid)) - before }
      }
      await side.build([])
    }
    const first = sides[0]!.berthd
    // BENCH_DAEMON_STRACE=FILE: the first berthd's syscalls over the timed builds (strace -f -tt).
    const traceFile = process.env.BENCH_DAEMON_STRACE
    const tracer = traceFile
      ? spawn('strace', ['-f', '-tt', '-s', '80', '-o', traceFile, '-p', String(first.pid)], {
          stdio: 'ignore',
        })
      : undefined
    if (tracer) await new Promise((r) => setTimeout(r, 1000)) // strace attaches to every thread
    // BENCH_DAEMON_SIGNAL: the first berthd is sent SIGUSR2 before and after the timed builds
    // (a profiler preloaded through BERTHD_NODE_OPTIONS starts and stops on it).
    const signal = process.env.BENCH_DAEMON_SIGNAL !== undefined
    if (signal) process.kill(first.pid, 'SIGUSR2')
    const samples = new Map<string, { wall: number[]; cpu: number[]; daemon: number[] }>()
    let edit = 0
    for (let i = 0; i < runs; i++) {
      for (const row of rows) {
        for (const [n, side] of sides.entries()) {
          if (row === 'edit') await writeFile(join(side.ctx, 'src/index.js'), `edit ${++edit}\n`)
          const r = await side.build(row === 'cold' ? ['--no-cache'] : [])
          const k = `${row} ${n}`
          const s = samples.get(k) ?? { wall: [], cpu: [], daemon: [] }
          s.wall.push(r.wall)
          s.cpu.push(r.cpu)
          s.daemon.push(r.daemon)
          samples.set(k, s)
          console.error(
            `${row} ${side.dist}: wall ${r.wall.toFixed(0)} ms, client cpu ${r.cpu.toFixed(0)} ms, berthd cpu ${r.daemon.toFixed(0)} ms`,
          )
        }
      }
    }
    if (signal) {
      process.kill(first.pid, 'SIGUSR2')
      await new Promise((r) => setTimeout(r, 1000))
    }
    if (tracer) {
      tracer.kill('SIGINT')
      await new Promise((r) => tracer.once('exit', r))
    }
    console.log(
      `${values.client} CLI, median of ${runs} interleaved rounds, ${new Date().toISOString()}`,
    )
    console.log('| row | dist | wall | client CPU | berthd CPU | client+berthd CPU |')
    console.log('|---|---|---:|---:|---:|---:|')
    for (const row of rows) {
      for (const [n, side] of sides.entries()) {
        const s = samples.get(`${row} ${n}`)!
        const sum = s.cpu.map((c, j) => c + s.daemon[j]!)
        console.log(
          `| ${row} | ${side.dist} | ${median(s.wall).toFixed(0)} ms | ${median(s.cpu).toFixed(0)} ms | ${median(s.daemon).toFixed(0)} ms | ${median(sum).toFixed(0)} ms |`,
        )
      }
    }
  } finally {
    for (const r of relays) await r.stop()
    for (const side of sides) await side.berthd.stop()
    await removeTree(work)
  }
}

await main()
