// Build benchmark (issue 11): berth's builder against Docker's classic builder and BuildKit.
//
//   node --import tsx bench/build.ts [--runs N] [--no-build] [--big-mb N] [--only small|debian|all]
//
// Two Dockerfiles (--only picks; small is the default):
// - small: the tutorial's shape (two stages, FROM busybox, WORKDIR, COPY, RUN, ENV, CMD) and a
//   source tree of 2000 files; every engine builds with --network none.
// - debian: the realistic one: a Debian base from debootstrap (bench/.cache/debian.tar, made by
//   bench/setup.sh), `apt-get update && apt-get install jq` from the Debian mirror, a source tree
//   of 3000 files, two stages joined by COPY --from. The daemons' network namespaces have no way
//   out, so RUN steps reach the mirror through the predefined http_proxy build arg: a relay
//   listens on each namespace's bridge gateway (bench/lib/mirror-relay.ts). Same path for all.
// Engines: `berthcli` = berth's own CLI (its synced context: only changed files are sent);
// `berth` = the stock docker v28 CLI (no buildx: POST /build) against berthd;
// `classic` = the same CLI against Debian's dockerd (its classic builder); `buildkit` = Debian's
// docker 20.10 client with DOCKER_BUILDKIT=1 against that dockerd (its BuildKit 0.8). dockerd
// runs in a network namespace of its own (harness inOwnNetns), in a temp dir, removed at the end.
// Rows: `cold` (--no-cache), `cached` (nothing changed), `edit` (one source file changed: the
// steps after its COPY run again). Each row is the median wall time of the client command over
// N interleaved rounds; then berthd's peak memory, and with --big-mb N its peak while it builds a
// context of N MB. Writes bench/results/build.md (build-debian.md for the debian row).
import { execFile } from 'node:child_process'
import { access, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
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
  startDockerd,
  type Berthd,
  type Dockerd,
} from '../test/e2e/harness.ts'
import {
  BENCH_DOCKERFILE,
  DEBIAN_DOCKERFILE,
  dockerdPid,
  KEEP_NODE_CA,
  procCpuMs,
  timedClient,
  writeBenchContext,
} from './lib/build-context.ts'
import { cleanEnv } from './lib/engines.ts'
import { aptMirrorHost, relayMirrorIntoNetns, type MirrorRelay } from './lib/mirror-relay.ts'

/** The port the mirror relay listens on inside each daemon's network namespace. */
const RELAY_PORT = 3142
const DEBIAN_TAR = join(repoRoot, 'bench/.cache/debian.tar')

interface Engine {
  id: 'berthcli' | 'berth' | 'classic' | 'buildkit'
  label: string
  bin: string
  /** Arguments before `build` (berth's script and --host). */
  pre?: string[]
  env: Record<string, string>
}

function sh(bin: string, args: string[], env: Record<string, string>): Promise<number> {
  const started = process.hrtime.bigint()
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { env: cleanEnv(env), maxBuffer: 64 << 20, timeout: 600_000 },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`${bin} ${args.join(' ')}: ${err.message}\n${stderr}`))
        else resolve(Number(process.hrtime.bigint() - started) / 1e6)
      },
    )
  })
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** A process's peak resident memory (VmHWM), in MB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN)
  return Math.round(kb / 1024)
}

/**
 * The gateway of an engine's default bridge network (where its build containers reach it): as
 * the engine says, or else (dockerd 20.10 leaves the default bridge's Gateway empty) the IPv4
 * address of its docker0 in the namespace `ns`.
 */
async function bridgeGateway(socket: string, ns: string): Promise<string> {
  const ipv4 = /^\d+\.\d+\.\d+\.\d+$/
  const r = await docker(
    ['network', 'inspect', 'bridge', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}'],
    { host: { socket } },
  )
  if (r.code === 0 && ipv4.test(r.stdout.trim())) return r.stdout.trim()
  const addr = await new Promise<string>((resolve, reject) =>
    execFile(
      'nsenter',
      [`--net=${ns}`, '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'docker0'],
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    ),
  )
  const gw = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(addr)?.[1]
  if (gw === undefined) throw new Error(`no gateway on ${socket}'s bridge network: ${addr}`)
  return gw
}

async function importDebian(socket: string): Promise<void> {
  const r = await docker(['import', DEBIAN_TAR, 'bench-debian:bookworm'], { host: { socket } })
  if (r.code !== 0) throw new Error(`docker import ${DEBIAN_TAR} failed: ${r.stdout}${r.stderr}`)
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      'no-build': { type: 'boolean' },
      'big-mb': { type: 'string', default: '0' },
      only: { type: 'string', default: 'small' },
    },
  })
  const runs = Number(values.runs)
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs wants a positive integer')
  const only = values.only
  if (only !== 'small' && only !== 'debian' && only !== 'all') {
    throw new Error('--only wants small, debian or all')
  }
  if (only !== 'small') {
    await access(DEBIAN_TAR).catch(() => {
      throw new Error(`${DEBIAN_TAR} is missing: run bench/setup.sh (it debootstraps it)`)
    })
  }
  if (!values['no-build']) await sh('npm', ['run', 'build', '--prefix', repoRoot], {})
  if (only !== 'debian') await bench('small', runs, Number(values['big-mb']))
  if (only !== 'small') await bench('debian', runs, 0)
}

async function bench(kind: 'small' | 'debian', runs: number, bigMb: number): Promise<void> {
  const debian = kind === 'debian'
  const work = await mkdtemp(join(tmpdir(), 'bench-build-'))
  let berthd: Berthd | undefined
  let dockerd: Dockerd | undefined
  const relays: MirrorRelay[] = []
  try {
    berthd = await startBerthd()
    // debian: Docker's default networking (a bridge and its NAT) inside dockerd's own namespace,
    // as berthd has its bridge inside its scratch namespace.
    dockerd = await startDockerd({ bridge: debian })
    // Per engine, what a build adds: --network none, or the proxy that reaches the mirror.
    const netArgs = new Map<string, string[]>()
    if (debian) {
      await importDebian(berthd.socket)
      await importDebian(dockerd.socket)
      const mirror = await aptMirrorHost()
      const ddPid = await dockerdPid(dockerd.dir)
      for (const [socket, ns] of [
        [berthd.socket, berthd.netns ?? `/proc/${berthd.pid}/ns/net`],
        [dockerd.socket, `/proc/${ddPid}/ns/net`],
      ] as const) {
        relays.push(await relayMirrorIntoNetns(ns, RELAY_PORT, mirror))
        const gw = await bridgeGateway(socket, ns)
        netArgs.set(socket, ['--build-arg', `http_proxy=http://${gw}:${RELAY_PORT}`])
      }
    } else {
      await importBusybox(berthd)
      await importBusybox(dockerd)
      netArgs.set(berthd.socket, ['--network', 'none'])
      netArgs.set(dockerd.socket, ['--network', 'none'])
    }
    const v28 = await dockerBin()
    const cfg = join(work, 'config')
    await mkdir(cfg)
    const base = { DOCKER_CONFIG: cfg, DOCKER_CLI_HINTS: 'false' }
    const engines: Engine[] = [
      {
        // berth's own CLI: its context is synced (only changed files are sent again).
        id: 'berthcli',
        label: 'berth build (berth CLI → berthd, synced context)',
        bin: process.execPath,
        pre: [join(repoRoot, 'dist/berth.cjs'), '--host', `unix://${berthd.socket}`],
        env: { ...base },
      },
      {
        id: 'berth',
        label: 'berth (docker v28 CLI → berthd)',
        bin: v28,
        env: { ...base, DOCKER_HOST: `unix://${berthd.socket}`, DOCKER_BUILDKIT: '0' },
      },
      {
        id: 'classic',
        label: 'Docker classic builder (v28 CLI → dockerd 20.10)',
        bin: v28,
        env: { ...base, DOCKER_HOST: `unix://${dockerd.socket}`, DOCKER_BUILDKIT: '0' },
      },
      {
        id: 'buildkit',
        label: 'BuildKit (docker 20.10 CLI → dockerd 20.10)',
        bin: '/usr/bin/docker',
        env: { ...base, DOCKER_HOST: `unix://${dockerd.socket}`, DOCKER_BUILDKIT: '1' },
      },
    ]
    const ctx = join(work, 'ctx')
    await writeBenchContext(ctx, debian ? 60 : 40)
    await writeFile(join(ctx, 'Dockerfile'), debian ? DEBIAN_DOCKERFILE : BENCH_DOCKERFILE)
    const dockerdCpu = await dockerdPid(dockerd.dir)
    // CPU time of a build: the client's and its daemon's (with the children the daemon waited
    // for), load-independent where wall time is not.
    const build = async (e: Engine, extra: string[] = []) => {
      const ours = e.id === 'berthcli' || e.id === 'berth'
      const daemon = ours ? berthd!.pid : dockerdCpu
      const before = await procCpuMs(daemon)
      const r = await timedClient(
        e.bin,
        [
          ...(e.pre ?? []),
          'build',
          '-q',
          ...netArgs.get(ours ? berthd!.socket : dockerd!.socket)!,
          '-t',
          `bench-build:${e.id}`,
          ...extra,
          ctx,
        ],
        e.env,
      )
      return { wall: r.wall, cpu: r.cpu + (await procCpuMs(daemon)) - before }
    }
    // A first build each, untimed: the base image's files are read once everywhere.
    for (const e of engines) await build(e)
    const rows = ['cold', 'cached', 'edit'] as const
    const samples = new Map<string, number[]>()
    const cpuSamples = new Map<string, number[]>()
    let edit = 0
    for (let i = 0; i < runs; i++) {
      for (const row of rows) {
        for (const e of engines) {
          // An edit of its own for each engine: berth's two clients share berthd's cache.
          if (row === 'edit') await writeFile(join(ctx, 'src/index.js'), `edit ${++edit}\n`)
          const r = await build(e, row === 'cold' ? ['--no-cache'] : [])
          const k = `${row} ${e.id}`
          samples.set(k, [...(samples.get(k) ?? []), r.wall])
          cpuSamples.set(k, [...(cpuSamples.get(k) ?? []), r.cpu])
          console.error(`${k}: ${r.wall.toFixed(0)} ms, CPU ${r.cpu.toFixed(0)} ms`)
        }
      }
    }
    const peak = await peakRssMb(berthd.pid)
    let big = ''
    if (bigMb > 0) {
      // berthd's peak memory while it takes a context of bigMb MB (streamed, never held).
      const bctx = join(work, 'big')
      await mkdir(bctx)
      await writeFile(join(bctx, 'Dockerfile'), 'FROM busybox\nCOPY big /big\n')
      await sh('dd', ['if=/dev/urandom', `of=${join(bctx, 'big')}`, 'bs=1M', `count=${bigMb}`], {})
      await writeFile(`/proc/${berthd.pid}/clear_refs`, '5')
      const ms = await sh(v28, ['build', '-q', '--network', 'none', bctx], engines[1]!.env)
      big = `A ${bigMb} MB context (COPY of one ${bigMb} MB file): ${ms.toFixed(0)} ms, berthd's peak RSS ${await peakRssMb(berthd.pid)} MB.`
    }
    const head = `| row | ${engines.map((e) => e.label).join(' | ')} | berth CLI/BuildKit | docker CLI→berthd/BuildKit |`
    const lines = [head, `|---|${engines.map(() => '---:').join('|')}|---:|---:|`]
    for (const row of rows) {
      const m = engines.map((e) => median(samples.get(`${row} ${e.id}`)!))
      lines.push(
        `| ${row} | ${m.map((x) => `${x.toFixed(0)} ms`).join(' | ')} | ${(m[0]! / m[3]!).toFixed(2)} | ${(m[1]! / m[3]!).toFixed(2)} |`,
      )
    }
    const cpuLines = [head, lines[1]!]
    for (const row of rows) {
      const m = engines.map((e) => median(cpuSamples.get(`${row} ${e.id}`)!))
      cpuLines.push(
        `| ${row} | ${m.map((x) => `${x.toFixed(0)} ms`).join(' | ')} | ${(m[0]! / m[3]!).toFixed(2)} | ${(m[1]! / m[3]!).toFixed(2)} |`,
      )
    }
    const md = [
      debian ? '# Build benchmark: Debian + apt' : '# Build benchmark',
      '',
      `Median wall time of \`docker build -q\` over ${runs} interleaved rounds, ${new Date().toISOString()}.`,
      'cold = --no-cache; cached = nothing changed; edit = one source file changed (the last COPY and RUN run).',
      debian
        ? 'Debian bookworm minbase, apt-get update + install jq through a relay to the mirror (http_proxy build arg), a source tree of 3000 files, two stages joined by COPY --from.'
        : 'The context holds a source tree of 2000 files.',
      KEEP_NODE_CA
        ? 'The clients ran with NODE_EXTRA_CA_CERTS as this machine sets it (BENCH_KEEP_NODE_CA=1).'
        : "The clients ran without this machine's NODE_EXTRA_CA_CERTS (Node parses it at every start; BENCH_KEEP_NODE_CA=1 keeps it): bench/lib/build-context.ts says why.",
      '',
      ...lines,
      '',
      'Median CPU time (user+sys) of the client and its daemon (berthd, or dockerd with BuildKit in it, and',
      "the children each waited for; containerd and its shims, which run dockerd's RUN steps, are not",
      'counted: compare the cached row, where nothing runs).',
      '',
      ...cpuLines,
      '',
      `berthd's peak RSS over the whole run: ${peak} MB.`,
      ...(big ? ['', big] : []),
      '',
    ].join('\n')
    await mkdir(join(repoRoot, 'bench/results'), { recursive: true })
    await writeFile(join(repoRoot, `bench/results/${debian ? 'build-debian' : 'build'}.md`), md)
    console.log(md)
  } finally {
    for (const r of relays) await r.stop()
    await berthd?.stop()
    await dockerd?.stop()
    await removeTree(work)
  }
}

await main()
