// The engines a benchmark run talks to, each started by the run itself in its own temp dir and
// removed afterwards: berthd (ours), Debian's dockerd and podman (peers only), and bare runc
// (the floor). A Client is one docker-like command line pointed at one engine.
import { type ChildProcess, spawn } from 'node:child_process'
import { constants as fsc } from 'node:fs'
import { access, mkdir, mkdtemp, open, readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { join } from 'node:path'
import { berthdNodeFlags } from '../../src/lib/berthd-flags.ts'
import { berthdBin, dockerBin, removeTree, repoRoot, startDockerd } from '../../test/e2e/harness.ts'
import { must, processes, sh, sleep, type Done, type ShOptions } from './proc.ts'

export const benchDir = join(repoRoot, 'bench')
/** The berth command as setup.sh installs it (/usr/local/bin/berth links here). */
export const berthCli = join(repoRoot, 'dist/berth.cjs')

/** The variants every docker-like measurement knows, in table order. */
export type ClientId = 'berth-cli' | 'berth' | 'berth-base' | 'docker' | 'podman'
export type EngineId = ClientId | 'runc'
export const ENGINE_IDS: EngineId[] = [
  'berth-cli',
  'berth',
  'berth-base',
  'docker',
  'podman',
  'runc',
]

export const LABELS: Record<EngineId, string> = {
  'berth-cli': 'berth CLI → berthd',
  berth: 'docker CLI → berthd',
  'berth-base': 'docker CLI → baseline berthd (--baseline)',
  docker: 'docker CLI → dockerd',
  podman: 'podman',
  runc: 'bare runc',
}

/** One docker-like command line (same subcommands and flags) aimed at one engine. */
export interface Client {
  readonly id: ClientId
  readonly label: string
  /** Which engine holds this client's containers and images (berth-cli and berth share). */
  readonly engine: 'berth' | 'berth-base' | 'docker' | 'podman'
  run(args: string[], opts?: ShOptions): Promise<Done>
}

export async function exists(path: string, mode = fsc.F_OK): Promise<boolean> {
  try {
    await access(path, mode)
    return true
  } catch {
    return false
  }
}

/** The environment of every client and daemon: no user settings that point elsewhere. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(env)) {
    if (k.startsWith('DOCKER_') || k.startsWith('CONTAINERS_') || k === 'BERTH_HOST') delete env[k]
  }
  return { ...env, ...extra }
}

function client(
  id: ClientId,
  engine: Client['engine'],
  cmd: string,
  prefix: string[],
  env: NodeJS.ProcessEnv,
): Client {
  return {
    id,
    label: LABELS[id],
    engine,
    run: (args, opts = {}) => sh(cmd, [...prefix, ...args], { env, ...opts }),
  }
}

/** GET /_ping once over the socket: true on 200 OK. */
function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: socket, path: '/_ping', method: 'GET' }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode === 200))
      res.on('error', () => resolve(false))
    })
    req.setTimeout(2000, () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}

/**
 * berthd on its own socket and data root. Unlike the e2e harness's daemon, this one is polled
 * every 2 ms after a spawn, so the time to the first `/_ping` is measured to a few ms. It runs
 * in a network namespace of its own (bound on `<dir>/netns`, so a restarted daemon finds the
 * same one): its bridge and rules never touch the host's, and go away with the temp dir.
 */
export class Berthd {
  private child: ChildProcess | undefined
  private constructor(
    readonly dir: string,
    readonly dataRoot: string,
    readonly socket: string,
    private readonly logPath: string,
    private readonly bin: string,
  ) {}

  /** berthd's network namespace: its "host", where its published ports answer. */
  get netns(): string {
    return join(this.dir, 'netns')
  }

  /** berthd from this tree's dist/, or another build of it (`--baseline`). */
  static async start(bin = berthdBin): Promise<Berthd> {
    if (!(await exists(bin))) throw new Error(`${bin} is missing: run npm run build`)
    const dir = await mkdtemp('/tmp/bb-')
    const d = new Berthd(
      dir,
      join(dir, 'root'),
      join(dir, 'berthd.sock'),
      join(dir, 'berthd.log'),
      bin,
    )
    try {
      await writeFile(d.netns, '')
      // Loopback up, as on a host (the bridge's 127.0.0.1 path needs it).
      await must('unshare', [`--net=${d.netns}`, 'ip', 'link', 'set', 'lo', 'up'])
      await d.spawnTimed()
    } catch (err) {
      await d.stop()
      throw err
    }
    return d
  }

  get pid(): number {
    return this.child?.pid ?? -1
  }

  /** Starts the daemon and returns the milliseconds until it answers `/_ping`. */
  async spawnTimed(timeoutMs = 30_000): Promise<number> {
    const log = await open(this.logPath, 'a')
    const t0 = process.hrtime.bigint()
    let child: ChildProcess
    try {
      // nsenter execs node in its own process: the pid is berthd's.
      child = spawn(
        'nsenter',
        [
          `--net=${this.netns}`,
          '--',
          process.execPath,
          ...berthdNodeFlags,
          this.bin,
          '--data-root',
          this.dataRoot,
          '--host',
          `unix://${this.socket}`,
        ],
        { stdio: ['ignore', log.fd, log.fd], env: cleanEnv() },
      )
    } finally {
      await log.close()
    }
    this.child = child
    let exitedEarly = false
    child.once('exit', () => (exitedEarly = true))
    for (;;) {
      if (await ping(this.socket)) return Number(process.hrtime.bigint() - t0) / 1e6
      if (exitedEarly || Number(process.hrtime.bigint() - t0) / 1e6 > timeoutMs) {
        const log = await readFile(this.logPath, 'utf8').catch(() => '')
        throw new Error(`berthd did not answer /_ping (log ${this.logPath}):\n${log.slice(-2000)}`)
      }
      await sleep(2)
    }
  }

  /** SIGKILL, as a crash would: containers and their monitors stay. */
  async kill9(): Promise<void> {
    const c = this.child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise((r) => c.once('exit', r))
    c.kill('SIGKILL')
    await gone
  }

  /** Stops the daemon and removes everything it made: containers, mounts, the temp dir. */
  async stop(): Promise<void> {
    const c = this.child
    if (c !== undefined && c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r))
      c.kill('SIGTERM')
      const t = setTimeout(() => c.kill('SIGKILL'), 10_000)
      await gone
      clearTimeout(t)
    }
    await removeTree(this.dir)
  }
}

/** An empty DOCKER_CONFIG so no user's config or credentials take part. */
async function dockerEnv(runDir: string, socket: string): Promise<NodeJS.ProcessEnv> {
  const cfg = join(runDir, 'docker-config')
  await mkdir(cfg, { recursive: true })
  return cleanEnv({
    DOCKER_HOST: `unix://${socket}`,
    DOCKER_CONFIG: cfg,
    DOCKER_CLI_HINTS: 'false',
  })
}

export async function berthClients(runDir: string, d: Berthd): Promise<Client[]> {
  const env = await dockerEnv(runDir, d.socket)
  const docker = await dockerBin()
  return [
    // run as a user runs it: the installed command (its #! line finds node on PATH)
    client('berth-cli', 'berth', berthCli, ['--host', `unix://${d.socket}`], env),
    client('berth', 'berth', docker, [], env),
  ]
}

/** The docker CLI against a baseline berthd, to compare a change with what it changes. */
export async function baselineClient(runDir: string, d: Berthd): Promise<Client> {
  const env = await dockerEnv(join(runDir, 'baseline'), d.socket)
  return client('berth-base', 'berth-base', await dockerBin(), [], env)
}

export interface DockerPeer {
  readonly client: Client
  readonly dataRoot: string
  /** dockerd and the containerd it manages: the daemon memory a container adds to. */
  daemonPids(): Promise<number[]>
  stop(): Promise<void>
}

export async function dockerdAvailable(): Promise<string | undefined> {
  for (const b of ['/usr/sbin/dockerd', '/usr/bin/dockerd']) if (await exists(b, fsc.X_OK)) return b
  return undefined
}

/**
 * Debian's dockerd in a network namespace of its own; `bridge` gives it Docker's default
 * networking there (docker0, iptables, the userland proxy), else --bridge=none.
 */
export async function startDockerPeer(runDir: string, bridge = false): Promise<DockerPeer> {
  const d = await startDockerd({ bridge })
  const env = await dockerEnv(bridge ? join(runDir, 'bridge') : runDir, d.socket)
  const dataRoot = join(d.dir, 'd')
  return {
    client: client('docker', 'docker', await dockerBin(), [], env),
    dataRoot,
    async daemonPids() {
      const all = await processes()
      const dockerd = all.find((p) => p.comm === 'dockerd' && p.args.includes(dataRoot))
      if (dockerd === undefined) return []
      return [dockerd.pid, ...all.filter((p) => p.ppid === dockerd.pid).map((p) => p.pid)]
    },
    stop: () => d.stop(),
  }
}

export interface PodmanPeer {
  readonly client: Client
  readonly dataRoot: string
  readonly driver: string
  stop(): Promise<void>
}

export const podmanConf = join(benchDir, 'podman/containers.conf')

export async function podmanAvailable(): Promise<boolean> {
  return (await sh('podman', ['--version']).catch(() => undefined))?.code === 0
}

/**
 * Podman with its own root, runroot and tmpdir, and bench's containers.conf (ulimits under
 * the host's hard limits, runc, cgroupfs, no network). Tries overlay, then vfs; `check` must
 * succeed with the driver chosen (it imports the busybox image).
 */
export async function startPodmanPeer(check: (c: Client) => Promise<void>): Promise<PodmanPeer> {
  const errors: string[] = []
  for (const driver of ['overlay', 'vfs']) {
    const dir = await mkdtemp('/tmp/bp-')
    const root = join(dir, 'root')
    const prefix = [
      '--root',
      root,
      '--runroot',
      join(dir, 'run'),
      '--tmpdir',
      join(dir, 'tmp'),
      '--storage-driver',
      driver,
    ]
    const env = cleanEnv({ CONTAINERS_CONF: podmanConf })
    const c = client('podman', 'podman', 'podman', prefix, env)
    const stop = async () => {
      await c
        .run(['rm', '-a', '-f', '-t', '0'], { timeoutMs: 120_000, cleanup: true })
        .catch(() => undefined)
      // A container killed here makes its conmon run `podman container cleanup`, which can
      // recreate the storage (and its mount) just after it was removed: sweep until it stays.
      let quiet = 0
      for (let i = 0; i < 60 && quiet < 8; i++) {
        const busy = (await processes()).some((p) => p.args.some((a) => a.includes(dir)))
        if (busy || (await exists(dir))) {
          await removeTree(dir)
          quiet = 0
        } else quiet++
        await sleep(250)
      }
    }
    try {
      await check(c)
      return { client: c, dataRoot: root, driver, stop }
    } catch (err) {
      errors.push(`${driver}: ${(err as Error).message}`)
      await stop()
    }
  }
  throw new Error(`podman works with no storage driver here (${errors.join('; ')})`)
}

/**
 * Bare runc on a busybox bundle made with `runc spec`: no terminal, args ["true"]. A second
 * bundle on the same rootfs runs `sleep` for exec. Each run gets its own container id.
 */
export class Runc {
  private seq = 0
  private constructor(
    readonly dir: string,
    private readonly state: string,
  ) {}

  static async start(): Promise<Runc> {
    const dir = await mkdtemp('/tmp/br-')
    const r = new Runc(dir, join(dir, 'state'))
    try {
      const rootfs = join(dir, 'rootfs')
      await must(join(repoRoot, 'scripts/make-busybox-rootfs.sh'), [rootfs])
      for (const [name, args] of [
        ['run', ['true']],
        ['idle', ['sleep', '100000']],
      ] as const) {
        const bundle = join(dir, name)
        await mkdir(bundle)
        await must('runc', ['spec', '--bundle', bundle])
        const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
          process: { terminal: boolean; args: string[] }
          root: { path: string }
        }
        spec.process.terminal = false
        spec.process.args = [...args]
        spec.root.path = rootfs
        await writeFile(join(bundle, 'config.json'), JSON.stringify(spec))
      }
    } catch (err) {
      await removeTree(dir)
      throw err
    }
    return r
  }

  nextId(): string {
    return `bench-${process.pid}-${++this.seq}`
  }

  /** `runc run` of the `true` bundle under a fresh id (runc deletes it when it exits). */
  run(): Promise<Done> {
    return sh('runc', [
      '--root',
      this.state,
      'run',
      '--bundle',
      join(this.dir, 'run'),
      this.nextId(),
    ])
  }

  /** Starts the idle bundle detached; returns its id. */
  async startIdle(): Promise<string> {
    const id = this.nextId()
    // Detached without a terminal, the container keeps runc's stdio: give it none.
    await must(
      'runc',
      ['--root', this.state, 'run', '-d', '--bundle', join(this.dir, 'idle'), id],
      {
        output: 'ignore',
      },
    )
    return id
  }

  exec(id: string): Promise<Done> {
    return sh('runc', ['--root', this.state, 'exec', id, 'true'])
  }

  async stop(): Promise<void> {
    const list = await sh('runc', ['--root', this.state, 'list', '-q'], { cleanup: true })
    for (const id of list.stdout.split('\n').filter(Boolean)) {
      await sh('runc', ['--root', this.state, 'delete', '-f', id], { cleanup: true })
    }
    await removeTree(this.dir)
  }
}
