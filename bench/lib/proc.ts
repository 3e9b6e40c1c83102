// Child processes for the benchmarks: run a command, time it from spawn to exit, and keep its
// output for IDs and error messages. Timing uses the monotonic clock (hrtime).
import { type ChildProcess, spawn, type StdioOptions } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'

export interface Done {
  code: number
  stdout: string
  stderr: string
  /** Milliseconds from spawn to the process's exit. */
  ms: number
}

export interface ShOptions {
  env?: NodeJS.ProcessEnv
  /** Kills the command after this long (default 120 s) and reports code 124. */
  timeoutMs?: number
  /** 'ignore' detaches stdout/stderr: for commands whose children keep the pipes open. */
  output?: 'pipe' | 'ignore'
  /** Runs even after abortAll(): for the commands that clean up. */
  cleanup?: boolean
}

/** The first non-empty line of a command's complaint, for tables and notes. */
export function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  )
}

/** Thrown when a measured command fails; its message is what the table shows. */
export class CommandFailed extends Error {}

const inFlight = new Set<ChildProcess>()
let aborted = false

/**
 * For Ctrl-C: SIGKILLs every command still running and refuses new ones, so the measurements
 * unwind at once and nothing starts a container while cleanup runs.
 */
export function abortAll(): void {
  aborted = true
  for (const c of inFlight) c.kill('SIGKILL')
}

export function isAborted(): boolean {
  return aborted
}

export function sh(cmd: string, args: string[], opts: ShOptions = {}): Promise<Done> {
  if (aborted && opts.cleanup !== true) return Promise.reject(new CommandFailed('interrupted'))
  const stdio: StdioOptions = opts.output === 'ignore' ? 'ignore' : ['ignore', 'pipe', 'pipe']
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    let t1: bigint | undefined
    const child = spawn(cmd, args, { stdio, env: opts.env ?? process.env })
    inFlight.add(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout?.on('data', (c: Buffer) => out.push(c))
    child.stderr?.on('data', (c: Buffer) => err.push(c))
    let settled = false
    const finish = (code: number) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(grace)
      const end = t1 ?? process.hrtime.bigint()
      resolve({
        code,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        ms: Number(end - t0) / 1e6,
      })
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
    let grace: NodeJS.Timeout | undefined
    child.on('error', (e) => {
      inFlight.delete(child)
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(e)
    })
    child.on('exit', (code, signal) => {
      t1 = process.hrtime.bigint()
      inFlight.delete(child)
      const c = code ?? (signal === 'SIGKILL' ? 124 : 128)
      // A grandchild that inherited the pipes must not hold the result back.
      grace = setTimeout(() => {
        child.stdout?.destroy()
        child.stderr?.destroy()
        finish(c)
      }, 2000)
      child.once('close', () => finish(c))
    })
  })
}

/** Runs a command that must succeed; returns its result or throws CommandFailed. */
export async function must(cmd: string, args: string[], opts: ShOptions = {}): Promise<Done> {
  const r = await sh(cmd, args, opts)
  if (r.code !== 0) {
    const why = firstLine(r.stderr) || firstLine(r.stdout) || `exit status ${r.code}`
    throw new CommandFailed(`${args.slice(0, 2).join(' ')}: ${why}`)
  }
  return r
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export interface ProcInfo {
  pid: number
  ppid: number
  comm: string
  args: string[]
}

/** Every process this user can see, with its name and arguments. */
export async function processes(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8')
      // comm is in parentheses and may itself hold spaces or parentheses.
      const close = stat.lastIndexOf(')')
      const comm = stat.slice(stat.indexOf('(') + 1, close)
      const ppid = Number(stat.slice(close + 2).split(' ')[1])
      const args = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').filter(Boolean)
      out.push({ pid: Number(name), ppid, comm, args })
    } catch {
      continue // gone meanwhile
    }
  }
  return out
}

export interface Memory {
  rssKiB: number
  pssKiB: number
}

/** VmRSS from /proc/PID/status and Pss from /proc/PID/smaps_rollup, in KiB. */
export async function memoryOf(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8')
  const field = (text: string, key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)
    return m === null ? 0 : Number(m[1])
  }
  return { rssKiB: field(status, 'VmRSS'), pssKiB: field(rollup, 'Pss') }
}

/** Runs fn over items with at most `limit` in flight; results keep the items' order. */
export async function pool<T, R>(
  items: T[],
  limit: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}
