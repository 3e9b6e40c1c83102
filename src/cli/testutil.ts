// Test helpers shared by CLI (and other) tests: a real dockerd in a temp dir as an oracle,
// a busybox image for it, and runners for the stock docker CLI and for berth.
import { spawn } from 'node:child_process'
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  busyboxTar as harnessBusyboxTar,
  startDockerd as startHarnessDockerd,
} from '../../test/e2e/harness.ts'

export interface Dockerd {
  dir: string
  socket: string
  host: string
  /** env for the stock docker CLI pointed at this daemon */
  env: NodeJS.ProcessEnv
  stop(): Promise<void>
}

/** Starts Debian's dockerd through the e2e harness; throws (never skips) when it cannot. */
export async function startDockerd(): Promise<Dockerd> {
  const d = await startHarnessDockerd()
  const cfg = join(d.dir, 'cfg')
  await mkdir(cfg)
  return {
    dir: d.dir,
    socket: d.socket,
    host: `unix://${d.socket}`,
    env: { ...process.env, DOCKER_HOST: `unix://${d.socket}`, DOCKER_CONFIG: cfg },
    stop: () => d.stop(),
  }
}

/** Copies the harness's busybox root filesystem tar into dir and returns its path. */
export async function busyboxTar(dir: string): Promise<string> {
  const tar = join(dir, 'busybox.tar')
  await copyFile(await harnessBusyboxTar(), tar)
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

/** The built command (npm run build), as a user runs it: faster under load than tsx. */
export const berthBuilt = new URL('../../dist/berth.cjs', import.meta.url).pathname

/** Runs berth (the built dist/berth.cjs) against the given host. */
export function berth(
  host: string,
  args: string[],
  input?: string | Buffer,
  env = process.env,
): Promise<RunResult> {
  return runProcess(process.execPath, [berthBuilt, '--host', host, ...args], env, input)
}
