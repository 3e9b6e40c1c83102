// The runtime: conmon monitors each container (and outlives berthd); runc does the work.
import { execFile, spawn } from 'node:child_process'
import { watch } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SeqpacketSocket } from 'node-unix-socket'
import { Conflict, errnoCode, Internal, InvalidArgument, NotFound } from '../errors.ts'
import type {
  AttachConnection,
  CreateOptions,
  ExitStatus,
  OutputChunk,
  Runtime,
  RuntimeStatus,
  SpecResources,
} from './types.ts'
import { runcUpdateArgs } from './update.ts'

export interface ConmonRuntimeOptions {
  /** Holds runc's state (--root), conmon's exit files, attach socket links and pid files. */
  stateDir: string
  runc?: string
  conmon?: string
  /** conmon's own log level (it logs to stderr, which it detaches): error, warn, info, debug. */
  conmonLogLevel?: string
}

/**
 * A container that could not be started: the command was not found (127) or could not be
 * run (126), as Docker reports it. The message carries runc's words.
 */
export class StartFailed extends InvalidArgument {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
  }
}

/** The runtime failed to start a container for another reason (Docker: exit code 128, 500). */
export class StartFailedUnknown extends Internal {
  readonly exitCode = 128
}

/** The exit code Docker records for a failed start, when `err` is one. */
export function startFailureExitCode(err: unknown): number | undefined {
  if (err instanceof StartFailed || err instanceof StartFailedUnknown) return err.exitCode
  return undefined
}

/**
 * Classifies the runtime's words the way Docker's daemon does (daemon/errors.go
 * setExitCodeFromError), so clients see the same message and exit code.
 */
export function startError(desc: string): StartFailed | StartFailedUnknown {
  const lower = desc.toLowerCase()
  if (lower.includes('permission denied')) return new StartFailed(desc, 126)
  if (lower.includes('is a directory')) return new StartFailed(`${desc}: permission denied`, 126)
  if (lower.includes('not a directory')) {
    return new StartFailed(
      `${desc}: Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type`,
      127,
    )
  }
  const notFound = [
    'executable file not found',
    'no such file or directory',
    'system cannot find the file specified',
    'failed to run runc create/exec call',
  ]
  if (notFound.some((m) => lower.includes(m))) return new StartFailed(desc, 127)
  return new StartFailedUnknown(desc)
}

/** The message runc logged (JSON log lines), or the text itself when it is not JSON. */
export function runcMessage(stderr: string): string {
  let msg: string | undefined
  for (const line of stderr.split('\n')) {
    const t = line.trim()
    if (!t.startsWith('{')) continue
    try {
      const rec = JSON.parse(t) as { level?: unknown; msg?: unknown }
      if (
        typeof rec.msg === 'string' &&
        (rec.level === 'error' || rec.level === 'fatal' || msg === undefined)
      ) {
        msg = rec.msg
      }
    } catch {
      // not a log record
    }
  }
  return msg ?? stderr.trim()
}

export interface ConmonArgsInput {
  id: string
  bundle: string
  logPath: string
  tty: boolean
  openStdin: boolean
  stdinOnce: boolean
  runc: string
  runcRoot: string
  exitDir: string
  socketDir: string
  pidFile: string
  logLevel: string
}

/**
 * conmon's argv. `--sync` keeps conmon a single process (no double fork), so its pid is
 * the spawned child's and `-P` would never be written; we record the pid ourselves.
 */
export function conmonArgs(c: ConmonArgsInput): string[] {
  const args = [
    '--api-version',
    '1',
    '-c',
    c.id,
    '-u',
    c.id,
    '-n',
    c.id,
    '-r',
    c.runc,
    '--runtime-arg',
    `--root=${c.runcRoot}`,
    '--runtime-arg',
    '--log-format=json',
    '-b',
    c.bundle,
    '-p',
    c.pidFile,
    '-l',
    `k8s-file:${c.logPath}`,
    '--exit-dir',
    c.exitDir,
    '--socket-dir-path',
    c.socketDir,
    '--sync',
    '--log-level',
    c.logLevel,
  ]
  if (c.tty) args.push('-t')
  if (c.openStdin) {
    args.push('-i')
    // conmon closes the container's stdin when an attached client's stdin ends, unless told
    // to leave it open: that is Docker's StdinOnce, inverted. With a pty Docker never closes
    // it, so a client that detaches leaves the container's input usable by the next one.
    if (!c.stdinOnce || c.tty) args.push('--leave-stdin-open')
  }
  return args
}

// O_PATH (Linux): a handle on the socket file, to connect through /proc/self/fd/N whatever
// the length of the real path (sun_path holds 108 bytes).
const O_PATH = 0o10000000
// conmon reads stdin packets into a 32 KiB buffer; a longer SOCK_SEQPACKET packet is cut.
const STDIN_PACKET = 16 * 1024

export class ConmonRuntime implements Runtime {
  readonly stateDir: string
  readonly runc: string
  readonly conmon: string
  private readonly logLevel: string
  private readonly runcRoot: string
  private readonly exitDir: string
  private readonly socketDir: string
  private readonly pidDir: string
  private ready?: Promise<void>

  constructor(opts: ConmonRuntimeOptions) {
    this.stateDir = opts.stateDir
    this.runc = opts.runc ?? '/usr/sbin/runc'
    this.conmon = opts.conmon ?? '/usr/bin/conmon'
    this.logLevel = opts.conmonLogLevel ?? 'error'
    this.runcRoot = join(this.stateDir, 'runc')
    this.exitDir = join(this.stateDir, 'exits')
    this.socketDir = join(this.stateDir, 'sock')
    this.pidDir = join(this.stateDir, 'pids')
  }

  /** Where conmon writes the container's exit code. */
  exitFile(id: string): string {
    return join(this.exitDir, id)
  }

  /** The container's pid, as runc recorded it at create. */
  containerPidFile(id: string): string {
    return join(this.pidDir, `${id}.pid`)
  }

  /** conmon's pid, recorded at create. */
  conmonPidFile(id: string): string {
    return join(this.pidDir, `${id}.conmon.pid`)
  }

  /** conmon's link to the bundle; the attach socket is `attach` under it while conmon runs. */
  attachSocket(id: string): string {
    return join(this.socketDir, id, 'attach')
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      for (const d of [this.runcRoot, this.exitDir, this.socketDir, this.pidDir]) {
        await mkdir(d, { recursive: true, mode: 0o700 })
      }
    })()
    return this.ready
  }

  async create(opts: CreateOptions): Promise<{ pid: number; monitorPid: number }> {
    await this.init()
    const { id } = opts
    // A previous run's files would answer exitStatus/waitExit for this one.
    await Promise.all([
      rm(this.exitFile(id), { force: true }),
      rm(this.containerPidFile(id), { force: true }),
      rm(join(this.socketDir, id), { force: true }),
    ])
    const args = conmonArgs({
      ...opts,
      runc: this.runc,
      runcRoot: this.runcRoot,
      exitDir: this.exitDir,
      socketDir: this.socketDir,
      pidFile: this.containerPidFile(id),
      logLevel: this.logLevel,
    })
    const child = spawn(this.conmon, args, {
      // Its own session, so a signal to berthd's process group does not reach it.
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: { _OCI_SYNCPIPE: '3', PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    })
    const sync = child.stdio[3] as NodeJS.ReadableStream
    const stderr = child.stderr!
    let errText = ''
    stderr.setEncoding('utf8')
    stderr.on('data', (d: string) => {
      if (errText.length < 8192) errText += d
    })

    const message = await new Promise<{ data: number; message?: string }>((resolve, reject) => {
      let buf = ''
      let settled = false
      const settle = (fn: () => void): void => {
        if (settled) return
        settled = true
        fn()
      }
      const tryParse = (final: boolean): void => {
        const nl = buf.indexOf('\n')
        const text = nl >= 0 ? buf.slice(0, nl) : final ? buf : undefined
        if (text === undefined) return
        try {
          const m = JSON.parse(text) as { data?: unknown; message?: unknown }
          if (typeof m.data !== 'number') throw new Error('no data')
          const out: { data: number; message?: string } = { data: m.data }
          if (typeof m.message === 'string') out.message = m.message
          settle(() => resolve(out))
        } catch {
          if (final)
            settle(() =>
              reject(new Internal(`conmon: unexpected sync message: ${JSON.stringify(buf)}`)),
            )
        }
      }
      sync.setEncoding('utf8')
      sync.on('data', (d: string) => {
        buf += d
        tryParse(false)
      })
      sync.on('end', () => {
        if (buf !== '') tryParse(true)
      })
      // conmon died before reporting: its exit status and stderr say why.
      child.on('close', (code, signal) =>
        settle(() =>
          reject(
            new Internal(
              `conmon exited (${code ?? signal}) before creating the container: ${errText.trim()}`,
            ),
          ),
        ),
      )
      child.on('error', (err) =>
        settle(() => reject(new Internal(`cannot run conmon: ${err.message}`, { cause: err }))),
      )
    })
    // From here on conmon lives on its own; let Node forget it (libuv still reaps it).
    child.unref()
    child.removeAllListeners('close')
    sync.removeAllListeners('data')
    ;(sync as unknown as { destroy(): void }).destroy()
    stderr.destroy()
    child.on('error', () => undefined)

    if (message.data < 0) {
      await this.removeLinks(id)
      const desc = runcMessage(message.message ?? '')
      throw startError(`failed to create shim task: OCI runtime create failed: ${desc}: unknown`)
    }
    const monitorPid = child.pid!
    await writeSmallFile(this.conmonPidFile(id), String(monitorPid))
    return { pid: message.data, monitorPid }
  }

  async start(id: string): Promise<void> {
    const r = await this.runcCmd(['start', id])
    if (r.code === 0) return
    const desc = runcMessage(r.stderr)
    if (/does not exist/.test(desc)) throw new NotFound(`no such container: ${id}`)
    if (/cannot start (a container that has stopped|an already running container)/.test(desc)) {
      throw new Conflict(desc)
    }
    throw startError(`OCI runtime start failed: ${desc}: unknown`)
  }

  async attach(id: string): Promise<AttachConnection> {
    let fh
    try {
      fh = await open(this.attachSocket(id), O_PATH)
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        throw new Conflict('You cannot attach to a stopped container, start it first')
      }
      throw new Internal(`cannot open attach socket of ${id}: ${String(err)}`, { cause: err })
    }
    const sock = new SeqpacketSocket()
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject)
        try {
          sock.connect(`/proc/self/fd/${fh.fd}`, () => {
            sock.off('error', reject)
            resolve()
          })
        } catch (err) {
          reject(err)
        }
      })
    } catch (err) {
      sock.destroy()
      if (/ECONNREFUSED|ENOENT/.test(String(err))) {
        throw new Conflict('You cannot attach to a stopped container, start it first')
      }
      throw new Internal(`cannot attach to ${id}: ${String(err)}`, { cause: err })
    } finally {
      await fh.close()
    }
    return new SeqpacketAttach(sock)
  }

  async kill(id: string, signal: string): Promise<void> {
    const r = await this.runcCmd(['kill', id, signal])
    if (r.code === 0) return
    const desc = runcMessage(r.stderr)
    if (/does not exist/.test(desc)) throw new NotFound(`no such container: ${id}`)
    if (/not running/.test(desc)) throw new Conflict(`container ${id} is not running`)
    if (/invalid signal|unknown signal/i.test(desc)) throw new InvalidArgument(desc)
    throw new Internal(`runc kill: ${desc}`)
  }

  async delete(id: string, force: boolean): Promise<void> {
    const r = await this.runcCmd(force ? ['delete', '--force', id] : ['delete', id])
    if (r.code === 0) return
    const desc = runcMessage(r.stderr)
    if (/does not exist/.test(desc)) return
    if (/running|paused/.test(desc)) throw new Conflict(desc)
    throw new Internal(`runc delete: ${desc}`)
  }

  async status(id: string): Promise<RuntimeStatus | undefined> {
    const r = await this.runcCmd(['state', id])
    if (r.code !== 0) {
      const desc = runcMessage(r.stderr)
      if (/does not exist/.test(desc)) return undefined
      throw new Internal(`runc state: ${desc}`)
    }
    const st = JSON.parse(r.stdout) as { status?: unknown }
    switch (st.status) {
      case 'created':
      case 'running':
      case 'paused':
      case 'stopped':
        return st.status
      case 'creating':
        return 'created'
      default:
        throw new Internal(`runc state: unexpected status ${String(st.status)}`)
    }
  }

  async exitStatus(id: string): Promise<ExitStatus | undefined> {
    const path = this.exitFile(id)
    let text: string
    let mtimeNs: bigint
    try {
      // conmon writes the file whole (temp file, then rename): no partial reads.
      const [t, st] = await Promise.all([readFile(path, 'utf8'), stat(path, { bigint: true })])
      text = t
      mtimeNs = st.mtimeNs
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined
      throw err
    }
    const exitCode = Number.parseInt(text.trim(), 10)
    if (!Number.isFinite(exitCode))
      throw new Internal(`bad exit file ${path}: ${JSON.stringify(text)}`)
    return { exitCode, finishedAt: isoNanos(mtimeNs) }
  }

  async waitExit(id: string, signal?: AbortSignal): Promise<ExitStatus> {
    await this.init()
    signal?.throwIfAborted()
    return new Promise<ExitStatus>((resolve, reject) => {
      let done = false
      let checking = false
      let again = false
      const finish = (fn: () => void): void => {
        if (done) return
        done = true
        watcher.close()
        signal?.removeEventListener('abort', onAbort)
        fn()
      }
      const check = (): void => {
        if (done) return
        // One check at a time; an event during a check asks for one more.
        if (checking) {
          again = true
          return
        }
        checking = true
        this.exitStatus(id).then(
          (st) => {
            checking = false
            if (st) finish(() => resolve(st))
            else if (again) {
              again = false
              check()
            }
          },
          (err: unknown) => {
            checking = false
            finish(() => reject(err))
          },
        )
      }
      const onAbort = (): void => finish(() => reject(signal?.reason))
      const watcher = watch(this.exitDir, (_event, name) => {
        if (name === null || name === id) check()
      })
      watcher.on('error', (err) => finish(() => reject(err)))
      signal?.addEventListener('abort', onAbort, { once: true })
      // The exit may have landed before the watch was set up.
      check()
    })
  }

  async monitorAlive(id: string): Promise<boolean> {
    let pid: number
    try {
      pid = Number.parseInt(await readFile(this.conmonPidFile(id), 'utf8'), 10)
    } catch {
      return false
    }
    if (!(pid > 0)) return false
    try {
      // The pid may have been reused since: it must still be this container's conmon.
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
      return args.includes(id) && (args[0] ?? '').endsWith('conmon')
    } catch {
      return false
    }
  }

  async knownIds(): Promise<string[]> {
    const ids = new Set<string>()
    const names = async (d: string): Promise<string[]> => readdir(d).catch(() => [])
    for (const n of await names(this.runcRoot)) ids.add(n)
    for (const n of await names(this.exitDir)) ids.add(n)
    for (const n of await names(this.socketDir)) ids.add(n)
    for (const n of await names(this.pidDir)) ids.add(n.replace(/(\.conmon)?\.pid$/, ''))
    return [...ids].filter((id) => /^[0-9a-f]{64}$/.test(id))
  }

  async pause(id: string): Promise<void> {
    await this.runcSimple(['pause', id], 'pause')
  }

  async resume(id: string): Promise<void> {
    await this.runcSimple(['resume', id], 'resume')
  }

  async update(id: string, resources: SpecResources): Promise<void> {
    await this.runcSimple(['update', ...runcUpdateArgs(resources), id], 'update')
  }

  /** A runc call whose failure is NotFound (no such container), Conflict (wrong state) or 500. */
  private async runcSimple(args: string[], what: string): Promise<void> {
    const r = await this.runcCmd(args)
    if (r.code === 0) return
    const desc = runcMessage(r.stderr)
    if (/does not exist/.test(desc)) throw new NotFound(`no such container: ${args.at(-1)}`)
    if (/not (running|paused)|is paused|is stopped/.test(desc)) throw new Conflict(desc)
    throw new Internal(`runc ${what}: ${desc}`)
  }

  async cleanup(id: string): Promise<void> {
    await Promise.all([
      rm(this.exitFile(id), { force: true }),
      rm(this.containerPidFile(id), { force: true }),
      rm(this.conmonPidFile(id), { force: true }),
      this.removeLinks(id),
    ])
  }

  private async removeLinks(id: string): Promise<void> {
    // conmon removes its link when it exits normally, but not when create fails.
    await rm(join(this.socketDir, id), { force: true })
  }

  /** Runs `runc --root <stateDir>/runc ARGS`; never rejects on a non-zero exit. */
  runcCmd(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      execFile(
        this.runc,
        ['--root', this.runcRoot, '--log-format', 'json', ...args],
        { maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (err && typeof err.code !== 'number') {
            reject(new Internal(`cannot run runc: ${err.message}`, { cause: err }))
            return
          }
          resolve({ code: err ? (err.code as number) : 0, stdout, stderr })
        },
      )
    })
  }
}

/** An attach session on conmon's SOCK_SEQPACKET socket. */
class SeqpacketAttach implements AttachConnection {
  readonly output: AsyncIterable<OutputChunk>
  private readonly queue: OutputChunk[] = []
  private ended = false
  private error: unknown
  private wake?: () => void
  private closed = false

  constructor(private readonly sock: SeqpacketSocket) {
    sock.on('data', (buf: Buffer) => {
      if (buf.length < 2) return
      // First byte names the stream: 2 stdout, 3 stderr.
      const tag = buf[0]
      if (tag !== 2 && tag !== 3) return
      this.queue.push({ stream: tag === 2 ? 'stdout' : 'stderr', data: buf.subarray(1) })
      this.notify()
    })
    sock.on('end', () => {
      this.ended = true
      this.notify()
    })
    sock.on('close', () => {
      this.ended = true
      this.notify()
    })
    sock.on('error', (err: unknown) => {
      this.error = err
      this.ended = true
      this.notify()
    })
    this.output = { [Symbol.asyncIterator]: () => this.iterate() }
  }

  private notify(): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  private async *iterate(): AsyncGenerator<OutputChunk> {
    for (;;) {
      const chunk = this.queue.shift()
      if (chunk) {
        yield chunk
        continue
      }
      if (this.ended) {
        if (this.error !== undefined && !this.closed) {
          throw new Internal(`attach: ${String(this.error)}`, { cause: this.error })
        }
        return
      }
      await new Promise<void>((r) => (this.wake = r))
    }
  }

  async writeStdin(data: Uint8Array): Promise<void> {
    if (this.closed || this.ended) throw new Conflict('attach connection is closed')
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    for (let off = 0; off < buf.length; off += STDIN_PACKET) {
      const part = buf.subarray(off, Math.min(buf.length, off + STDIN_PACKET))
      await new Promise<void>((resolve, reject) => {
        try {
          this.sock.write(part, 0, part.length, () => resolve())
        } catch (err) {
          reject(new Internal(`attach: ${String(err)}`, { cause: err }))
        }
      })
    }
  }

  closeStdin(): void {
    if (this.closed) return
    // SHUT_WR once queued writes are out: conmon sees EOF and closes the container's stdin
    // (with StdinOnce; otherwise conmon runs with --leave-stdin-open and keeps it).
    this.sock.end()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.ended = true
    this.sock.destroy()
    this.notify()
  }
}

/** RFC 3339 UTC with nanoseconds, from nanoseconds since the epoch. */
export function isoNanos(ns: bigint): string {
  const secs = ns / 1_000_000_000n
  const frac = ns % 1_000_000_000n
  const base = new Date(Number(secs) * 1000).toISOString().slice(0, 19)
  return `${base}.${frac.toString().padStart(9, '0')}Z`
}

/** Small runtime files: temp then rename so a reader never sees half (no fsync: ephemeral). */
async function writeSmallFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, text)
  await rename(tmp, path)
}
