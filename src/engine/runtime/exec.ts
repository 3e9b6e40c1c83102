// Exec sessions and console resizing. conmon in exec mode runs `runc exec --process SPEC
// --detach` and monitors that process as it does a container's (stdio on an attach socket, a
// pty with -t, resizes through its ctl fifo), so an exec'd process outlives berthd.
import { spawn } from 'node:child_process'
import { constants as fsc } from 'node:fs'
import { mkdir, open, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { Conflict, errnoCode, Internal } from '../errors.ts'
import type { ConmonRuntime } from './conmon.ts'
import { runcMessage, startError } from './runc.ts'
import type { AttachConnection, ExecHandle, ExecRuntime, ExecSpawnOptions } from './types.ts'

/** conmon's ctl message for a window resize (ctrl.c: WIN_RESIZE_EVENT). */
const WIN_RESIZE_EVENT = 1

/**
 * Resizes the pty of the process a conmon monitors, through the `ctl` fifo conmon made in its
 * bundle directory. Non-blocking: with no conmon reading, the fifo refuses (ENXIO) at once.
 */
export async function resizeConsole(
  bundleDir: string,
  height: number,
  width: number,
): Promise<void> {
  let fh
  try {
    fh = await open(join(bundleDir, 'ctl'), fsc.O_WRONLY | fsc.O_NONBLOCK)
  } catch (err) {
    const code = errnoCode(err)
    if (code === 'ENXIO' || code === 'ENOENT') throw new Conflict('the process is not running')
    throw new Internal(`cannot resize: ${String(err)}`, { cause: err })
  }
  try {
    // One short write to a fifo is atomic, so concurrent resizes never interleave.
    await fh.write(`${WIN_RESIZE_EVENT} ${height} ${width}\n`)
  } finally {
    await fh.close()
  }
}

/** Lines of JSON conmon writes on its sync pipe: `{"data": N, "message": "..."}`. */
class SyncReader {
  private buf = ''
  private readonly lines: { data: number; message?: string }[] = []
  private waiters: (() => void)[] = []
  ended = false

  constructor(stream: Readable) {
    stream.setEncoding('utf8')
    stream.on('data', (d: string) => {
      this.buf += d
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, nl).trim()
        this.buf = this.buf.slice(nl + 1)
        if (!line) continue
        try {
          const m = JSON.parse(line) as { data?: unknown; message?: unknown }
          if (typeof m.data !== 'number') continue
          this.lines.push(
            typeof m.message === 'string' ? { data: m.data, message: m.message } : { data: m.data },
          )
        } catch {
          // not a sync message
        }
      }
      this.wake()
    })
    const end = (): void => {
      this.ended = true
      this.wake()
    }
    stream.on('end', end)
    stream.on('close', end)
    stream.on('error', end)
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /** The next message, or undefined once the pipe has closed. */
  async next(): Promise<{ data: number; message?: string } | undefined> {
    for (;;) {
      const m = this.lines.shift()
      if (m) return m
      if (this.ended) return undefined
      await new Promise<void>((r) => this.waiters.push(r))
    }
  }
}

/** Exec sessions through conmon, beside a ConmonRuntime's containers. */
export class ConmonExec implements ExecRuntime {
  private readonly execRoot: string

  constructor(
    private readonly rt: ConmonRuntime,
    private readonly logLevel = 'error',
  ) {
    this.execRoot = join(rt.stateDir, 'exec')
  }

  /** The session's directory: conmon's "bundle" (ctl fifo, attach socket) and its files. */
  execDir(execId: string): string {
    return join(this.execRoot, execId)
  }

  async exec(o: ExecSpawnOptions): Promise<ExecHandle> {
    const dir = this.execDir(o.execId)
    const exitDir = join(dir, 'exit')
    await mkdir(exitDir, { recursive: true, mode: 0o700 })
    const spec = join(dir, 'process.json')
    await writeFile(spec, JSON.stringify(o.process))
    const args = [
      '--api-version',
      '1',
      '-c',
      o.containerId,
      '-u',
      o.execId,
      '-n',
      o.containerId,
      '-r',
      this.rt.runc,
      '--runtime-arg',
      `--root=${join(this.rt.stateDir, 'runc')}`,
      '--runtime-arg',
      '--log-format=json',
      '-b',
      dir,
      '-p',
      join(dir, 'pid'),
      '-l',
      'none',
      '--exit-dir',
      exitDir,
      '--socket-dir-path',
      join(this.rt.stateDir, 'sock'),
      '--sync',
      '--log-level',
      this.logLevel,
      '-e',
      '--exec-process-spec',
      spec,
    ]
    if (o.attach) args.push('--exec-attach')
    if (o.tty) args.push('-t')
    if (o.stdin) {
      args.push('-i')
      // With a pty, a client that goes away (or detaches) must not close the process's input.
      if (o.tty) args.push('--leave-stdin-open')
    }
    const env: NodeJS.ProcessEnv = {
      _OCI_SYNCPIPE: '3',
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    }
    if (o.attach) {
      env._OCI_STARTPIPE = '4'
      env._OCI_ATTACHPIPE = '5'
    }
    const child = spawn(this.rt.conmon, args, {
      detached: true,
      stdio: o.attach
        ? ['ignore', 'ignore', 'ignore', 'pipe', 'pipe', 'pipe']
        : ['ignore', 'ignore', 'ignore', 'pipe'],
      env,
    })
    const exited = new Promise<number>((resolve) => {
      child.once('error', () => resolve(-1))
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1)))
    })
    const cleanup = (): void => {
      void exited.then(() => rm(dir, { recursive: true, force: true })).catch(() => undefined)
    }
    const stdio = child.stdio as unknown as (Readable | Writable | null)[]
    const sync = new SyncReader(stdio[3] as Readable)
    let connection: AttachConnection | undefined
    try {
      if (o.attach) {
        const startPipe = stdio[4] as Writable
        const attachReady = new SyncReader(stdio[5] as Readable)
        // conmon blocks on a first message before anything else, and its runc child on a
        // second one: it runs the process only once we are connected, so no output is lost.
        startPipe.write('0')
        const ready = await attachReady.next()
        if (!ready) throw await this.died(sync, exited)
        connection = await this.rt.attach(o.execId)
        startPipe.end('1')
      }
      const started = await sync.next()
      if (!started) throw await this.died(sync, exited)
      if (started.data < 0) {
        const desc = runcMessage(started.message ?? '')
        throw startError(`OCI runtime exec failed: ${desc}: unknown`)
      }
      const exit = (async () => {
        const m = await sync.next()
        const code = m ? m.data : await exited
        return code < 0 ? 126 : code
      })()
      child.unref()
      cleanup()
      const handle: ExecHandle = {
        pid: started.data,
        exit,
        resize: (h, w) => resizeConsole(dir, h, w),
      }
      if (connection) handle.connection = connection
      return handle
    } catch (err) {
      connection?.close()
      child.kill('SIGKILL')
      cleanup()
      throw err
    }
  }

  private async died(sync: SyncReader, exited: Promise<number>): Promise<Error> {
    const m = await sync.next()
    if (m && m.data < 0) {
      return startError(`OCI runtime exec failed: ${runcMessage(m.message ?? '')}: unknown`)
    }
    const code = await exited
    return new Internal(`conmon exited (${code}) before starting the exec process`)
  }

  resizeConsole(bundleDir: string, height: number, width: number): Promise<void> {
    return resizeConsole(bundleDir, height, width)
  }
}
