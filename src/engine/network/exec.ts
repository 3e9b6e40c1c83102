// Running the network's helper programs (netavark, unshare, flock): argv in, exit code and
// output back, with stdin when asked. Never rejects on a non-zero exit; the caller decides.
import { spawn } from 'node:child_process'
import { Internal } from '../errors.ts'

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

/** A PATH with the system directories, where netavark finds iptables. */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/** argv run in the network namespace at netns (nsenter), or as it is when none is given. */
export function inNetns(netns: string | undefined, argv: string[]): string[] {
  return netns ? ['nsenter', `--net=${netns}`, '--', ...argv] : argv
}

export function execTool(
  argv: string[],
  opts: { input?: string; env?: Record<string, string> } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv
    const child = spawn(cmd as string, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? { PATH: SYSTEM_PATH },
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('error', (e) => reject(new Internal(`cannot run ${cmd}: ${e.message}`, { cause: e })))
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      })
    })
    // A child that exits before reading its stdin must not fail the call with EPIPE.
    child.stdin.on('error', () => undefined)
    child.stdin.end(opts.input ?? '')
  })
}
