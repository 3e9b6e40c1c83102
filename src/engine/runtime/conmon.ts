// The runtime: conmon monitors each container (and outlives berthd); runc does the work
// (runc.ts), and the container's streams come through conmon's attach socket (attach.ts).
import { spawn } from 'node:child_process'
import { watch } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errnoCode, Internal } from '../errors.ts'
import { connectAttach } from './attach.ts'
import { LogKeeper } from './logs.ts'
import { Runc, runcMessage, startError } from './runc.ts'
import type {
  AttachConnection,
  CreateOptions,
  ExitStatus,
  LogFileOptions,
  Runtime,
  RuntimeStatus,
  SpecResources,
} from './types.ts'

export {
  StartFailed,
  StartFailedUnknown,
  runcMessage,
  startError,
  startFailureExitCode,
} from './runc.ts'

export interface ConmonRuntimeOptions {
  /** Holds runc's state (--root), conmon's exit files, attach socket links and pid files. */
  stateDir: string
  runc?: string
  conmon?: string
  /** conmon's own log level (it logs to stderr, which it detaches): error, warn, info, debug. */
  conmonLogLevel?: string
}

export interface ConmonArgsInput {
  id: string
  bundle: string
  logPath: string
  log?: LogFileOptions
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
    // none: conmon writes no log (attach still gets the output).
    c.log?.enabled === false ? 'none:' : `k8s-file:${c.logPath}`,
    '--exit-dir',
    c.exitDir,
    '--socket-dir-path',
    c.socketDir,
    '--sync',
    '--log-level',
    c.logLevel,
  ]
  if (c.log?.enabled !== false && c.log?.maxSize !== undefined) {
    args.push('--log-size-max', String(c.log.maxSize))
  }
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

export class ConmonRuntime implements Runtime {
  readonly stateDir: string
  readonly runc: string
  readonly conmon: string
  private readonly logLevel: string
  private readonly runcRoot: string
  private readonly exitDir: string
  private readonly socketDir: string
  private readonly pidDir: string
  private readonly cli: Runc
  private ready?: Promise<void>
  private readonly keepers = new Map<string, LogKeeper>()
  private readonly releasing = new Map<string, Promise<void>>()

  constructor(opts: ConmonRuntimeOptions) {
    this.stateDir = opts.stateDir
    this.runc = opts.runc ?? '/usr/sbin/runc'
    this.conmon = opts.conmon ?? '/usr/bin/conmon'
    this.logLevel = opts.conmonLogLevel ?? 'error'
    this.runcRoot = join(this.stateDir, 'runc')
    this.exitDir = join(this.stateDir, 'exits')
    this.socketDir = join(this.stateDir, 'sock')
    this.pidDir = join(this.stateDir, 'pids')
    this.cli = new Runc(this.runc, this.runcRoot)
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

  /** The log keeper's settings for a rotating log (so a restarted berthd keeps it too). */
  private logKeepFile(id: string): string {
    return join(this.pidDir, `${id}.logkeep`)
  }

  /**
   * Keeps the container's rotating log (logs.ts LogKeeper) while conmon runs: from create, or
   * from the first wait after berthd restarts; until the exit.
   */
  private async keepLog(
    id: string,
    opts?: { path: string; maxFiles: number; compress?: boolean },
  ): Promise<void> {
    if (this.keepers.has(id)) return
    let o = opts
    if (!o) {
      try {
        o = JSON.parse(await readFile(this.logKeepFile(id), 'utf8')) as typeof opts
      } catch {
        return
      }
      if (!o || this.keepers.has(id)) return
    }
    const k = new LogKeeper(o.path, o.maxFiles, o.compress === true)
    this.keepers.set(id, k)
    await k.start()
    k.watch()
  }

  private releaseLog(id: string): Promise<void> {
    // Every waiter of an exit waits for the last pass (its compression included), not only the
    // first one to see the exit.
    const r = this.releasing.get(id)
    if (r) return r
    const k = this.keepers.get(id)
    if (!k) return Promise.resolve()
    this.keepers.delete(id)
    const done = (async () => {
      k.close()
      await k.idle()
      // What conmon wrote last is kept and counted.
      await k.sync().catch(() => undefined)
    })().finally(() => this.releasing.delete(id))
    this.releasing.set(id, done)
    return done
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
    const log = opts.log
    if (log?.enabled !== false && log?.maxSize !== undefined && log.maxFiles > 1) {
      const keep = { path: opts.logPath, maxFiles: log.maxFiles, compress: log.compress === true }
      await writeSmallFile(this.logKeepFile(id), JSON.stringify(keep))
      await this.releaseLog(id)
      await this.keepLog(id, keep)
    }
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

  start(id: string): Promise<void> {
    return this.cli.start(id)
  }

  attach(id: string): Promise<AttachConnection> {
    return connectAttach(this.attachSocket(id), id)
  }

  kill(id: string, signal: string): Promise<void> {
    return this.cli.kill(id, signal)
  }

  delete(id: string, force: boolean): Promise<void> {
    return this.cli.delete(id, force)
  }

  status(id: string): Promise<RuntimeStatus | undefined> {
    return this.cli.state(id)
  }

  /**
   * conmon writes the exit file only once the container has exited, so a file that is there
   * but cannot be read (or does not hold a number) still means an exit: with exit code 255 and
   * the reason, as Docker reports an exit whose status is lost.
   */
  async exitStatus(id: string): Promise<ExitStatus | undefined> {
    const path = this.exitFile(id)
    let text: string
    let mtimeNs: bigint
    try {
      // conmon writes the file whole (temp file, then rename): no partial reads.
      const st = await stat(path, { bigint: true })
      mtimeNs = st.mtimeNs
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined
      return unknownExit(`cannot read the exit file ${path}: ${errText(err)}`)
    }
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined
      return unknownExit(`cannot read the exit file ${path}: ${errText(err)}`, mtimeNs)
    }
    const exitCode = Number.parseInt(text.trim(), 10)
    if (!Number.isFinite(exitCode)) {
      return unknownExit(
        `the exit file ${path} holds no exit code: ${JSON.stringify(text)}`,
        mtimeNs,
      )
    }
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
            if (st) {
              void this.releaseLog(id)
                .catch(() => undefined)
                .then(() => finish(() => resolve(st)))
            } else if (again) {
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
      // A rotating log is kept while the container runs (this wait follows it).
      void this.keepLog(id).catch(() => undefined)
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
    for (const n of await names(this.pidDir))
      ids.add(n.replace(/(\.conmon\.pid|\.pid|\.logkeep)$/, ''))
    return [...ids].filter((id) => /^[0-9a-f]{64}$/.test(id))
  }

  pause(id: string): Promise<void> {
    return this.cli.pause(id)
  }

  resume(id: string): Promise<void> {
    return this.cli.resume(id)
  }

  update(id: string, resources: SpecResources): Promise<void> {
    return this.cli.update(id, resources)
  }

  async cleanup(id: string): Promise<void> {
    await this.releaseLog(id)
    await Promise.all([
      rm(this.exitFile(id), { force: true }),
      rm(this.containerPidFile(id), { force: true }),
      rm(this.conmonPidFile(id), { force: true }),
      rm(this.logKeepFile(id), { force: true }),
      this.removeLinks(id),
    ])
  }

  private async removeLinks(id: string): Promise<void> {
    // conmon removes its link when it exits normally, but not when create fails.
    await rm(join(this.socketDir, id), { force: true })
  }
}

/** An exit whose code is lost (Docker's 255), with the reason. */
function unknownExit(error: string, mtimeNs?: bigint): ExitStatus {
  const finishedAt =
    mtimeNs !== undefined ? isoNanos(mtimeNs) : isoNanos(BigInt(Date.now()) * 1_000_000n)
  return { exitCode: 255, finishedAt, error }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
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
