// Helpers every end-to-end test uses: a real berthd on its own socket and data root, the
// stock docker CLI and our berth CLI pointed at it, Debian's dockerd as an oracle, a busybox
// image made offline, and raw API requests. Everything lives in its own short temp dir
// (unix socket paths are limited to 108 bytes) and is torn down by stop().
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { constants as fsc, readFileSync, rmSync, watch } from 'node:fs'
import {
  access,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises'
import http from 'node:http'
import { constants as osConstants } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { after, before, describe } from 'node:test'
import assert from 'node:assert/strict'
import { berthdNodeFlags } from '../../src/lib/berthd-flags.ts'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')
export const berthdBin = join(repoRoot, 'dist/berthd.mjs')
export const berthBin = join(repoRoot, 'dist/berth.cjs')

/** A daemon to talk to: a socket path, `unix://PATH`, or anything with a `socket`. */
export type Host = string | { socket: string }

export interface RunResult {
  code: number
  stdout: string
  stderr: string
  stdoutRaw: Buffer
  stderrRaw: Buffer
}

export interface RunOptions {
  host: Host
  input?: string | Buffer
  env?: Record<string, string | undefined>
  /** Kills the client and fails after this long (default 60 s), so a hang fails the test. */
  timeoutMs?: number
  /** Runs the client in this network namespace (a berthd's `netns`), as on that host. */
  netns?: string
}

export interface BerthdOptions {
  /** Extra daemon flags. */
  args?: string[]
  env?: Record<string, string | undefined>
  /** How long to wait for `/_ping` (default 10 s). */
  timeoutMs?: number
  /** The daemon's script (default dist/berthd.mjs); the harness's own tests use a fake. */
  bin?: string
  /**
   * Where berthd's networking lives: `scratch` (the default), a network namespace of its own
   * that stands for a host (see SCRATCH_HOST_IP), so its bridges, rules and published ports
   * never touch the machine's or another test's; `inherit`, the test process's own (only for
   * a test that has moved itself into a scratch namespace).
   */
  network?: 'scratch' | 'inherit'
}

export interface Berthd {
  readonly socket: string
  readonly dataRoot: string
  readonly dir: string
  readonly logPath: string
  /** The current daemon's pid (changes on restart). */
  readonly pid: number
  /** SIGTERM, wait for exit, then clean up everything under dir and remove it. */
  stop(): Promise<void>
  /** SIGKILL, wait for exit; leaves containers and files as a crash would. */
  kill9(): Promise<void>
  /** SIGTERM, wait for exit; leaves dir (and the scratch namespace) for the test to look at. */
  term(): Promise<void>
  /** Stops the daemon if it runs (SIGTERM) and starts a new one on the same socket and root. */
  restart(): Promise<void>
  /**
   * What a host reboot leaves, then a new daemon: the daemon, every container, monitor and
   * helper killed, everything mounted under dir unmounted, and a fresh network namespace
   * (no bridge, rule or address of berth's). Only the kernel's boot ID stays the same.
   * Needs the `scratch` network.
   */
  rebootHost(): Promise<void>
  /** berthd's network namespace (a file), for clients that reach its published ports. */
  readonly netns: string | undefined
  logs(): Promise<string>
}

export interface Dockerd {
  readonly socket: string
  readonly dir: string
  readonly logPath: string
  stop(): Promise<void>
}

export interface ApiResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  raw: Buffer
}

const live = new Set<ChildProcess>()
const tempPaths = new Set<string>()

// A failed test must not leave a daemon behind holding the test runner open.
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL')
  // Only sync work is possible here, so a dir with something still mounted in it is left
  // alone rather than deleted through the mount.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
  for (const p of tempPaths) {
    if (!mounts.includes(` ${p}/`)) rmSync(p, { recursive: true, force: true })
  }
})

function socketOf(host: Host): string {
  const s = typeof host === 'string' ? host : host.socket
  return s.startsWith('unix://') ? s.slice('unix://'.length) : s
}

async function exists(path: string, mode = fsc.F_OK): Promise<boolean> {
  try {
    await access(path, mode)
    return true
  } catch {
    return false
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

function waitExit(child: ChildProcess, timeoutMs: number, what: string): Promise<void> {
  if (exited(child)) return Promise.resolve()
  child.ref()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${what} (pid ${child.pid}) did not exit within ${timeoutMs} ms`))
    }, timeoutMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** Spawns a daemon with stdout and stderr appended to logPath; the log survives restarts. */
async function spawnLogged(cmd: string, args: string[], logPath: string, env: NodeJS.ProcessEnv) {
  const log = await open(logPath, 'a')
  try {
    const child = spawn(cmd, args, { stdio: ['ignore', log.fd, log.fd], env })
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve)
      child.once('error', reject)
    })
    live.add(child)
    child.once('exit', () => live.delete(child))
    // The exit hook above kills it if the test process ends first.
    child.unref()
    return child
  } finally {
    await log.close()
  }
}

/** GET /_ping once; true when it answers 200 OK. */
function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: socket, path: '/_ping', method: 'GET' }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve(res.statusCode === 200 && Buffer.concat(chunks).toString() === 'OK'),
      )
      res.on('error', () => resolve(false))
    })
    req.setTimeout(2000, () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}

/**
 * Resolves once the daemon answers `/_ping` on socket. Sleeps until the socket file appears
 * (fs.watch on its dir); once it exists, a refused connection (bound but not yet listening,
 * or a stale socket left by a killed daemon) is retried after a short backoff. Fails at once
 * if the daemon exits, and after timeoutMs; both errors carry the daemon's log.
 */
async function waitReady(
  socket: string,
  child: ChildProcess,
  timeoutMs: number,
  what: string,
  logPath: string,
): Promise<void> {
  const dir = socket.slice(0, socket.lastIndexOf('/'))
  const name = socket.slice(socket.lastIndexOf('/') + 1)
  // Every event bumps seq, so one that lands between a check and the wait is not lost.
  let seq = 0
  let waiter: (() => void) | undefined
  const poke = () => {
    seq++
    waiter?.()
  }
  const until = (since: number, ms?: number) =>
    seq !== since
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          waiter = resolve
          if (ms !== undefined) setTimeout(resolve, ms)
        })
  const watcher = watch(dir, (_event, file) => {
    if (file === null || file.toString() === name) poke()
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    poke()
  }, timeoutMs)
  child.on('exit', poke)
  const fail = async (why: string) =>
    new Error(`${what} ${why}; its log (${logPath}):\n${await readFile(logPath, 'utf8')}`)
  try {
    let backoff = 5
    for (;;) {
      const since = seq
      if (exited(child)) {
        throw await fail(`exited (${child.exitCode ?? child.signalCode}) before answering /_ping`)
      }
      if (timedOut) throw await fail(`did not answer /_ping on ${socket} within ${timeoutMs} ms`)
      if (!(await exists(socket))) {
        await until(since)
        continue
      }
      if (await ping(socket)) return
      await until(seq, backoff)
      backoff = Math.min(backoff * 2, 100)
    }
  } finally {
    clearTimeout(timer)
    watcher.close()
    child.off('exit', poke)
  }
}

function cleanEnv(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // A developer's own settings must not point a test at their real daemon.
  for (const k of Object.keys(env)) {
    if (k.startsWith('DOCKER_') || k === 'BERTH_HOST') delete env[k]
  }
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  return env
}

/** Mount points at or under dir, deepest first, from /proc/self/mountinfo. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8')
  const out: string[] = []
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4]
    if (field === undefined) continue
    const mp = field.replace(/\\([0-7]{3})/g, (_m, o: string) =>
      String.fromCharCode(parseInt(o, 8)),
    )
    if (mp === dir || mp.startsWith(dir + '/')) out.push(mp)
  }
  return out.sort((a, b) => b.length - a.length)
}

/** Kills (SIGKILL) every process whose arguments mention dir or whose root lies inside it. */
/**
 * Deletes, with force, every container that a runc state directory under dir knows: runc
 * kills the container's whole cgroup, which reaches processes that killStrays cannot name
 * (one whose root filesystem mount is already detached shows "/" as its root).
 */
async function deleteContainers(dir: string): Promise<void> {
  const roots: string[] = []
  const walk = async (d: string, depth: number): Promise<void> => {
    if (depth > 4) return
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory() || e.name === 'rootfs' || e.name === 'layers') continue
      const p = join(d, e.name)
      if (e.name === 'runc' && p.endsWith('/run/runc')) roots.push(p)
      else await walk(p, depth + 1)
    }
  }
  await walk(dir, 0)
  for (const root of roots) {
    const list = await run('runc', ['--root', root, 'list', '-q'])
    for (const id of list.output.split('\n').filter((l) => /^[0-9a-f]{64}$/.test(l))) {
      await run('runc', ['--root', root, 'delete', '--force', id])
    }
  }
}

async function killStrays(dir: string): Promise<void> {
  const self = String(process.pid)
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || pid === self) continue
    let mentions: boolean
    try {
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
      mentions = args.some((a) => a === dir || a.includes(dir + '/'))
      if (!mentions) mentions = (await readlink(`/proc/${pid}/root`)).startsWith(dir + '/')
    } catch {
      continue // the process is gone, or is a kernel thread
    }
    if (!mentions) continue
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {
      continue // exited meanwhile
    }
  }
}

function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c.toString()))
    child.stderr.on('data', (c: Buffer) => (output += c.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? 1, output }))
  })
}

/**
 * Removes a test's temp dir: kills leftover processes (conmon, containers, shims), lazily
 * unmounts everything under it, then deletes it. Refuses to delete while anything is still
 * mounted there, since a recursive delete would walk into the mount.
 */
export async function removeTree(dir: string): Promise<void> {
  await deleteContainers(dir)
  await killStrays(dir)
  for (const mp of await mountsUnder(dir)) {
    const r = await run('umount', ['-l', mp])
    if (r.code !== 0 && (await mountsUnder(dir)).includes(mp)) {
      throw new Error(`cannot unmount ${mp}: ${r.output.trim()}`)
    }
  }
  const left = await mountsUnder(dir)
  if (left.length > 0) throw new Error(`still mounted under ${dir}: ${left.join(', ')}`)
  await rm(dir, { recursive: true, force: true })
  tempPaths.delete(dir)
}

/** The address of the scratch host (see BerthdOptions.network): a published port answers on it. */
export const SCRATCH_HOST_IP = '198.51.100.1'

/**
 * A network namespace bound at path, standing for a host: loopback, and a veth pair whose
 * end uplink0 holds SCRATCH_HOST_IP (the host's own address that is not loopback).
 */
async function makeScratchNetns(path: string): Promise<void> {
  await writeFile(path, '')
  const setup = [
    'ip link set lo up',
    'ip link add uplink0 type veth peer name uplink1',
    `ip addr add ${SCRATCH_HOST_IP}/24 dev uplink0`,
    'ip link set uplink1 up',
    'ip link set uplink0 up',
  ].join(' && ')
  const r = await run('unshare', [`--net=${path}`, 'sh', '-c', setup])
  if (r.code !== 0) throw new Error(`cannot make a network namespace at ${path}: ${r.output}`)
}

/** Starts berthd on its own socket and data root under a fresh /tmp/bt-XXXXXX. */
export async function startBerthd(opts: BerthdOptions = {}): Promise<Berthd> {
  const bin = opts.bin ?? berthdBin
  if (!(await exists(bin))) {
    throw new Error(`${bin} is missing: run \`npm run build\` first`)
  }
  const dir = await mkdtemp('/tmp/bt-')
  tempPaths.add(dir)
  const dataRoot = join(dir, 'root')
  const socket = join(dir, 'berthd.sock')
  const logPath = join(dir, 'berthd.log')
  const timeoutMs = opts.timeoutMs ?? 10_000
  const args = [
    ...berthdNodeFlags,
    bin,
    '--data-root',
    dataRoot,
    '--host',
    `unix://${socket}`,
    '--log-level',
    'debug',
    ...(opts.args ?? []),
  ]
  const env = cleanEnv(opts.env)
  const netns = (opts.network ?? 'scratch') === 'scratch' ? join(dir, 'netns') : undefined
  let child: ChildProcess | undefined

  const start = async () => {
    child = netns
      ? await spawnLogged(
          'nsenter',
          [`--net=${netns}`, '--', process.execPath, ...args],
          logPath,
          env,
        )
      : await spawnLogged(process.execPath, args, logPath, env)
    await waitReady(socket, child, timeoutMs, 'berthd', logPath)
  }
  const halt = async (signal: NodeJS.Signals) => {
    if (child === undefined || exited(child)) return
    child.kill(signal)
    await waitExit(child, 10_000, `berthd after ${signal}`)
  }

  try {
    if (netns) await makeScratchNetns(netns)
    await start()
  } catch (err) {
    await halt('SIGKILL')
    await removeTree(dir)
    throw err
  }
  let stopped = false
  return {
    socket,
    dataRoot,
    dir,
    logPath,
    netns,
    get pid() {
      return child?.pid ?? -1
    },
    async stop() {
      if (stopped) return
      stopped = true
      try {
        await halt('SIGTERM')
      } finally {
        await removeTree(dir)
      }
    },
    kill9: () => halt('SIGKILL'),
    term: () => halt('SIGTERM'),
    async restart() {
      await halt('SIGTERM')
      await start()
    },
    async rebootHost() {
      if (!netns) throw new Error('rebootHost needs berthd on its scratch network')
      await halt('SIGKILL')
      // Processes die at once and leave their files (the runtime's state, no exit codes).
      await killStrays(dir)
      for (const mp of await mountsUnder(dir)) {
        const r = await run('umount', ['-l', mp])
        if (r.code !== 0) throw new Error(`cannot unmount ${mp}: ${r.output.trim()}`)
      }
      await makeScratchNetns(netns)
      await start()
    },
    logs: () => readFile(logPath, 'utf8'),
  }
}

let dockerBinCache: string | undefined

/** The stock docker CLI: /usr/local/bin/docker when present, else `docker` on PATH. */
export async function dockerBin(): Promise<string> {
  if (dockerBinCache !== undefined) return dockerBinCache
  const candidates = [
    '/usr/local/bin/docker',
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'docker')),
  ]
  for (const c of candidates) {
    if (c.startsWith('/') && (await exists(c, fsc.X_OK))) return (dockerBinCache = c)
  }
  throw new Error('the docker CLI is not installed (no /usr/local/bin/docker, no docker on PATH)')
}

let dockerConfig: Promise<string> | undefined

/** One empty DOCKER_CONFIG per test process, so no user's config or credentials leak in. */
function dockerConfigDir(): Promise<string> {
  dockerConfig ??= (async () => {
    const d = await mkdtemp('/tmp/bt-cfg-')
    tempPaths.add(d)
    return d
  })()
  return dockerConfig
}

async function runClient(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const env = cleanEnv({
    DOCKER_HOST: `unix://${socketOf(opts.host)}`,
    DOCKER_CONFIG: await dockerConfigDir(),
    DOCKER_CLI_HINTS: 'false',
    ...opts.env,
  })
  const timeoutMs = opts.timeoutMs ?? 60_000
  return new Promise((resolve, reject) => {
    // Pipes on every stream: the client sees no TTY.
    const [file, argv] = opts.netns
      ? ['nsenter', [`--net=${opts.netns}`, '--', cmd, ...args]]
      : [cmd, args]
    const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'], env })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    // A client that exits without reading all its input is not an error here.
    child.stdin.on('error', () => undefined)
    child.stdin.end(opts.input ?? '')
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      const so = Buffer.concat(out).toString()
      const se = Buffer.concat(err).toString()
      reject(
        new Error(
          `${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${so}\nstderr: ${se}`,
        ),
      )
    }, timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const stdoutRaw = Buffer.concat(out)
      const stderrRaw = Buffer.concat(err)
      resolve({
        code: code ?? 128 + (signal === null ? 0 : (osConstants.signals[signal] ?? 0)),
        stdout: stdoutRaw.toString(),
        stderr: stderrRaw.toString(),
        stdoutRaw,
        stderrRaw,
      })
    })
  })
}

/** Runs another client of the Engine API (docker-compose, ...) against host, as docker runs. */
export function client(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return runClient(cmd, args, opts)
}

/** Runs the stock docker CLI against host. */
export async function docker(args: string[], opts: RunOptions): Promise<RunResult> {
  return runClient(await dockerBin(), args, opts)
}

/** Runs the stock docker CLI; fails the test with its output unless it exits 0; its stdout. */
export async function dockerOk(args: string[], opts: RunOptions): Promise<string> {
  const r = await docker(args, opts)
  assert.equal(r.code, 0, `docker ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
  return r.stdout
}

/** Runs our CLI (dist/berth.cjs, what the berth command runs) against host. */
export async function berth(args: string[], opts: RunOptions): Promise<RunResult> {
  if (!(await exists(berthBin))) {
    throw new Error(`${berthBin} is missing: run \`npm run build\` first`)
  }
  return runClient(
    process.execPath,
    [berthBin, '--host', `unix://${socketOf(opts.host)}`, ...args],
    opts,
  )
}

let busyboxTarPath: Promise<string> | undefined

/** The busybox rootfs tar from scripts/make-busybox-rootfs.sh, made once per process. */
export function busyboxTar(): Promise<string> {
  busyboxTarPath ??= (async () => {
    const d = await mkdtemp('/tmp/bt-bb-')
    tempPaths.add(d)
    const tar = join(d, 'busybox.tar')
    const r = await run(join(repoRoot, 'scripts/make-busybox-rootfs.sh'), [tar])
    if (r.code !== 0) throw new Error(`make-busybox-rootfs.sh failed:\n${r.output}`)
    return tar
  })()
  return busyboxTarPath
}

/** Imports the busybox rootfs as tag through the docker CLI; returns the image ID. */
export async function importBusybox(h: Host, tag = 'busybox:latest'): Promise<string> {
  const r = await docker(['import', await busyboxTar(), tag], { host: h })
  if (r.code !== 0) {
    throw new Error(`docker import ${tag} failed (${r.code}):\n${r.stdout}${r.stderr}`)
  }
  return r.stdout.trim()
}

/**
 * A peer daemon's command line run in a network namespace of its own (`unshare --net`, which
 * execs the daemon in the same process, so its pid is the daemon's). Whatever it does to
 * networking stays there: dockerd started with --bridge=none deletes a docker0 bridge it finds,
 * which in the host's namespace breaks a real Docker's networking. The namespace has only a
 * loopback device (up), and goes away with the last process in it, so nothing is left to remove.
 */
export function inOwnNetns(cmd: string, args: string[]): [string, string[]] {
  // Loopback up, as on a host: a port published on 127.0.0.1 binds there. sh execs the daemon.
  const up = 'ip link set lo up && exec "$0" "$@"'
  return ['unshare', ['--net', '--', 'sh', '-c', up, cmd, ...args]]
}

/** The host's network devices (name → ifindex and flags), to check that a peer left them be. */
export async function hostNetworkDevices(): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const name of (await readdir('/sys/class/net')).sort()) {
    const read = (f: string) =>
      readFile(`/sys/class/net/${name}/${f}`, 'utf8').then((t) => t.trim())
    out[name] = `${await read('ifindex')} ${await read('flags')}`
  }
  return out
}

/**
 * Debian's dockerd as an oracle, in its own temp dir and network namespace with no
 * networking of its own, so tests can compare berth's answers with Docker's and the host's
 * networks stay as they were. Throws with dockerd's log when it cannot start.
 */
export async function startDockerd(
  opts: { timeoutMs?: number; bridge?: boolean } = {},
): Promise<Dockerd> {
  const bin = ['/usr/sbin/dockerd', '/usr/bin/dockerd']
  let dockerdBin: string | undefined
  for (const b of bin) if (await exists(b, fsc.X_OK)) dockerdBin = b
  if (dockerdBin === undefined) {
    throw new Error('dockerd is not installed (apt-get install docker.io): the oracle needs it')
  }
  const dir = await mkdtemp('/tmp/bt-dd-')
  tempPaths.add(dir)
  const socket = join(dir, 'docker.sock')
  const logPath = join(dir, 'dockerd.log')
  await mkdir(join(dir, 'd'))
  const args = [
    '--data-root',
    join(dir, 'd'),
    '--exec-root',
    join(dir, 'e'),
    '--pidfile',
    join(dir, 'p'),
    '-H',
    `unix://${socket}`,
    // bridge (benchmarks): Docker's default networking, inside the namespace of its own.
    ...(opts.bridge === true ? [] : ['--iptables=false', '--bridge=none']),
  ]
  const child = await spawnLogged(...inOwnNetns(dockerdBin, args), logPath, cleanEnv())
  const halt = async (signal: NodeJS.Signals) => {
    if (exited(child)) return
    child.kill(signal)
    await waitExit(child, 20_000, `dockerd after ${signal}`)
  }
  try {
    await waitReady(socket, child, opts.timeoutMs ?? 30_000, 'dockerd', logPath)
  } catch (err) {
    await halt('SIGKILL')
    await removeTree(dir)
    throw err
  }
  let stopped = false
  return {
    socket,
    dir,
    logPath,
    async stop() {
      if (stopped) return
      stopped = true
      try {
        await halt('SIGTERM')
      } finally {
        await removeTree(dir)
      }
    },
  }
}

/** One request to the Engine API over a unix socket; a plain object body is sent as JSON. */
export function apiRequest(
  host: Host,
  method: string,
  path: string,
  body?: string | Buffer | object,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  let payload: Buffer | undefined
  const h: Record<string, string> = { ...headers }
  if (typeof body === 'string') payload = Buffer.from(body)
  else if (Buffer.isBuffer(body)) payload = body
  else if (body !== undefined) {
    payload = Buffer.from(JSON.stringify(body))
    h['Content-Type'] ??= 'application/json'
  }
  if (payload !== undefined) h['Content-Length'] = String(payload.length)
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socketOf(host), method, path, headers: h }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const raw = Buffer.concat(chunks)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString(), raw })
      })
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/**
 * What `curl` gets from url inside the network namespace netns (an engine's host): retried
 * while nothing listens yet, and on the empty reply of Docker's userland proxy, which accepts
 * before the container listens and then closes (curl 52, which only --retry-all-errors retries).
 */
export async function curlIn(netns: string, url: string): Promise<string> {
  const { stdout } = await promisify(execFile)('nsenter', [
    `--net=${netns}`,
    '--',
    'curl',
    '-sS',
    '--retry',
    '5',
    '--retry-connrefused',
    '--retry-all-errors',
    '--retry-delay',
    '1',
    url,
  ])
  return stdout
}

/** The stock docker CLI against one engine of a side-by-side comparison. */
export interface EngineCli {
  /** The engine's socket, for other clients. */
  host(): Host
  /** Runs docker; fails the test with its output unless it exits 0; its stdout. */
  ok(args: string[]): Promise<string>
}

/**
 * The same tests against berthd and against Debian's dockerd (with its own bridge), the two
 * engines side by side and each one's tests in order, busybox imported into both.
 */
export function onBothEngines(title: string, tests: (cli: EngineCli) => void): void {
  describe(title, { concurrency: 2 }, () => {
    for (const name of ['berthd', 'dockerd'] as const) {
      describe(`against ${name}`, { concurrency: 1 }, () => {
        let d: { socket: string; stop(): Promise<void> } | undefined
        const host = (): Host => {
          if (!d) throw new Error(`${name} did not start`)
          return d
        }
        before(async () => {
          d = name === 'berthd' ? await startBerthd() : await startDockerd({ bridge: true })
          await importBusybox(d)
        })
        after(async () => {
          await d?.stop()
        })
        tests({
          host,
          ok: (args) => dockerOk(args, { host: host() }),
        })
      })
    }
  })
}
