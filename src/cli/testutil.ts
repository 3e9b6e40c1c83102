// Test helpers shared by CLI (and other) tests: a real dockerd in a temp dir as an oracle,
// a busybox image for it, and runners for the stock docker CLI and for berth.
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, mkdir, copyFile, symlink, rm } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Dockerd {
  dir: string
  socket: string
  host: string
  /** env for the stock docker CLI pointed at this daemon */
  env: NodeJS.ProcessEnv
  stop(): Promise<void>
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: socket, path: '/_ping', method: 'GET' }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
    req.end()
  })
}

/** Starts Debian's dockerd in a fresh temp dir; throws (never skips) when it cannot. */
export async function startDockerd(): Promise<Dockerd> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-oracle-'))
  const socket = join(dir, 'sock')
  const cfg = join(dir, 'cfg')
  await mkdir(cfg)
  const child: ChildProcess = spawn(
    'dockerd',
    [
      '--data-root',
      join(dir, 'd'),
      '--exec-root',
      join(dir, 'e'),
      '--pidfile',
      join(dir, 'p'),
      '-H',
      `unix://${socket}`,
      '--iptables=false',
      '--bridge=none',
    ],
    { stdio: 'ignore' },
  )
  let exited: string | undefined
  child.on('exit', (c, s) => (exited = `dockerd exited (${c ?? s})`))
  child.on('error', (e) => (exited = `dockerd failed to start: ${e.message}`))
  const deadline = Date.now() + 30_000
  while (!(await ping(socket))) {
    if (exited) throw new Error(exited)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error('dockerd did not answer /_ping within 30s')
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    dir,
    socket,
    host: `unix://${socket}`,
    env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: cfg },
    async stop() {
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await done
      }
      spawnSync('umount', ['-R', join(dir, 'd')], { stdio: 'ignore' })
      await rm(dir, { recursive: true, force: true })
    },
  }
}

const busyboxLinks = ['sh', 'echo', 'cat', 'ls', 'true', 'false', 'sleep', 'id', 'env', 'pwd']

/** Writes a busybox root filesystem tar (bin/busybox and its links) and returns its path. */
export async function busyboxTar(dir: string): Promise<string> {
  const root = join(dir, 'rootfs')
  await mkdir(join(root, 'bin'), { recursive: true })
  await copyFile('/bin/busybox', join(root, 'bin', 'busybox'))
  for (const l of busyboxLinks) await symlink('busybox', join(root, 'bin', l))
  const tar = join(dir, 'busybox.tar')
  const r = spawnSync('tar', ['-C', root, '-cf', tar, '.'])
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`)
  return tar
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export function runProcess(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string | Buffer,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    p.stdin.end(input)
  })
}

/** Runs the stock docker CLI against the oracle. */
export function docker(d: Dockerd, args: string[], input?: string | Buffer): Promise<RunResult> {
  return runProcess('/usr/local/bin/docker', args, d.env, input)
}

export const berthMain = new URL('./main.ts', import.meta.url).pathname

/** Runs berth (from source, through tsx) against the given host. */
export function berth(
  host: string,
  args: string[],
  input?: string | Buffer,
  env = process.env,
): Promise<RunResult> {
  return runProcess(
    process.execPath,
    ['--import', 'tsx', berthMain, '--host', host, ...args],
    env,
    input,
  )
}
