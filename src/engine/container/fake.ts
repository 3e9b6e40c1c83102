// An in-memory container engine for the API tests (src/api/testing.ts): the ContainerApi with
// the container service's rules and words, reusing its pure parts (names, the config merge, the
// state machine and its events, waiters, signals), over records in memory and the processes of
// fake-process.ts instead of runc. test/conformance/container-api.ts holds it to the real
// ContainerService's behaviour. What it does not model (mounts, restart policies, networks
// other than today's modes) it refuses in so many words rather than ignoring.
import { randomBytes } from 'node:crypto'
import { Conflict, InvalidArgument, NotModified } from '../errors.ts'
import type { EventSink } from '../events/types.ts'
import type { ImageReader } from '../image/types.ts'
import { emptyNetworkSettings } from '../network/modes.ts'
import type { NetworkSettings } from '../network/types.ts'
import { StartFailed } from '../runtime/runc.ts'
import type { LogEntry, LogReadOptions, OutputChunk } from '../runtime/types.ts'
import { DEFAULT_SHM_SIZE } from '../runtime/types.ts'
import { entrypointAndArgs, mergeImageConfig } from './config.ts'
import { CommandNotFound, startFakeProcess, type FakeProcess, type Stream } from './fake-process.ts'
import { randomName, validateName } from './names.ts'
import { isNone, validateRestartPolicy } from './restart.ts'
import { parseSignal } from './signals.ts'
import { ContainerStates, emptyState, nowIso } from './state.ts'
import { findContainer } from './store.ts'
import type {
  AttachSession,
  Container,
  ContainerApi,
  CreateRequest,
  HostConfig,
  WaitCondition,
  WaitResult,
} from './types.ts'
import { Waiters, deferred, settlesWithin, type Deferred } from './waiters.ts'

/** A queue read by one async iterator; ends when closed. */
export class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = []
  private wake: (() => void) | undefined
  closed = false

  push(item: T): void {
    if (this.closed) return
    this.items.push(item)
    this.notify()
  }

  close(): void {
    this.closed = true
    this.notify()
  }

  /** The next item, or undefined once closed and drained. */
  async next(): Promise<T | undefined> {
    for (;;) {
      if (this.items.length > 0) return this.items.shift()
      if (this.closed) return undefined
      await new Promise<void>((r) => (this.wake = r))
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (let item = await this.next(); item !== undefined; item = await this.next()) yield item
  }

  private notify(): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }
}

/** A process running in a fake container: the container's own, or an exec'd one. */
export interface FakeRun {
  argv: string[]
  process: FakeProcess
  stdin: Channel<Buffer>
  /** Output goes to these; each ends when the process exits. */
  readers: Set<Channel<OutputChunk>>
  /** An exec's attached client, reading from the first byte. */
  attached?: Channel<OutputChunk>
}

export interface FakeEntry {
  c: Container
  log: LogEntry[]
  /** Wakes log followers. */
  logged: Set<() => void>
  /** Attached clients waiting for, or reading, the current run's output. */
  attached: Set<Channel<OutputChunk>>
  run?: FakeRun
  /** Settles when the current run's exit has been handled (state, events, waiters). */
  exitHandled?: Deferred<void>
  /** exec'd processes, killed with the container (its PID namespace goes). */
  execs: Set<FakeRun>
}

export interface FakeContainersOptions {
  images: ImageReader
  events?: EventSink
  /** Where records claim to be (logPath); nothing is made there. */
  dataRoot?: string
}

/** conmon's log timestamp: RFC 3339 with nanoseconds and +00:00. */
function logTime(): string {
  const ns = process.hrtime.bigint() % 1_000_000n
  const now = new Date()
  const frac = `${String(now.getUTCMilliseconds()).padStart(3, '0')}${String(ns).padStart(6, '0')}`
  return `${now.toISOString().slice(0, 19)}.${frac}+00:00`
}

/** Output through a terminal: one stream, and \n turned into \r\n (onlcr). */
function onTerminal(data: Buffer): OutputChunk {
  const text = data.toString('latin1').replace(/\r?\n/g, '\r\n')
  return { stream: 'stdout', data: Buffer.from(text, 'latin1') }
}

function refuse(what: string): InvalidArgument {
  return new InvalidArgument(`the fake engine does not model ${what}`)
}

export class FakeContainers implements ContainerApi {
  private readonly byId = new Map<string, FakeEntry>()
  private readonly byName = new Map<string, string>()
  readonly waiters = new Waiters()
  /** The service's state machine, writing nowhere. */
  readonly states: ContainerStates

  constructor(private readonly opts: FakeContainersOptions) {
    this.states = new ContainerStates({ saveState: async () => undefined }, opts.events)
  }

  /** The record of a container, for the other fakes (exec, files, lifecycle). */
  entry(ref: string): FakeEntry {
    return findContainer(ref, this.byId, this.byName)
  }

  async get(ref: string): Promise<Container> {
    return this.entry(ref).c
  }

  async list(): Promise<Container[]> {
    return [...this.byId.values()].map((e) => e.c)
  }

  async create(
    req: CreateRequest,
    name: string | undefined,
  ): Promise<{ Id: string; Warnings: string[] }> {
    if (!req.Image)
      throw new InvalidArgument('Config cannot be empty in order to create a container')
    const image = await this.opts.images.resolve(req.Image)
    const { HostConfig: hostConfig = {}, NetworkingConfig: _net, ...userConfig } = req
    const config = mergeImageConfig(userConfig, image.config.config)
    if (config.WorkingDir && !config.WorkingDir.startsWith('/')) {
      throw new InvalidArgument(
        `the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`,
      )
    }
    const { path, args } = entrypointAndArgs(config)
    const hc: HostConfig = { NetworkMode: 'default', ...hostConfig }
    if (!['default', 'bridge', 'none', 'host'].includes(String(hc.NetworkMode))) {
      throw refuse(`network mode ${String(hc.NetworkMode)}`)
    }
    for (const k of ['Binds', 'Mounts', 'VolumesFrom', 'Tmpfs', 'PortBindings'] as const) {
      const v = hc[k]
      if (v !== undefined && v !== null && Object.keys(v).length > 0) throw refuse(k)
    }
    if (config.Volumes && Object.keys(config.Volumes).length > 0) throw refuse('volumes')
    const id = randomBytes(32).toString('hex')
    let finalName: string
    if (name) {
      finalName = validateName(name)
      const holder = this.byName.get(finalName)
      if (holder !== undefined) {
        throw new Conflict(
          `Conflict. The container name "/${finalName}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
        )
      }
    } else {
      let retry = 0
      do finalName = randomName(retry++)
      while (this.byName.has(finalName))
    }
    validateRestartPolicy(hc.RestartPolicy, hc.AutoRemove === true)
    if (!isNone(hc.RestartPolicy)) throw refuse('restart policies')
    if (hc.ShmSize === undefined || hc.ShmSize === 0) hc.ShmSize = DEFAULT_SHM_SIZE
    config.Hostname ||= id.slice(0, 12)
    config.Image = req.Image
    const c: Container = {
      id,
      name: finalName,
      created: nowIso(),
      path,
      args,
      config,
      hostConfig: hc,
      image: image.id,
      imageRef: req.Image,
      state: emptyState(),
      logPath: `${this.opts.dataRoot ?? '/var/lib/berth'}/containers/${id}/ctr.log`,
      restartCount: 0,
      mountPoints: [],
      manuallyStopped: false,
    }
    this.byId.set(id, { c, log: [], logged: new Set(), attached: new Set(), execs: new Set() })
    this.byName.set(finalName, id)
    this.states.emit(c, 'create')
    return { Id: id, Warnings: [] }
  }

  async start(ref: string): Promise<void> {
    const e = this.entry(ref)
    const c = e.c
    if (c.state.Running) throw new NotModified('container already started')
    if (c.state.Status === 'removing' || c.state.Dead) {
      throw new Conflict('container is marked for removal and cannot be started')
    }
    const stdin = new Channel<Buffer>()
    if (!c.config.OpenStdin) stdin.close()
    const readers = e.attached
    e.attached = new Set()
    let process: FakeProcess
    try {
      process = startFakeProcess([c.path, ...c.args], {
        write: (stream, data) => this.output(e, readers, stream, data),
        read: () => stdin.next(),
      })
    } catch (err) {
      if (!(err instanceof CommandNotFound)) throw err
      const failed = new StartFailed(
        `failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: ${err.message}: unknown`,
        127,
      )
      for (const r of readers) r.close()
      await this.states.transition(c, {
        kind: 'start-failed',
        exitCode: failed.exitCode,
        error: failed.message,
      })
      this.waiters.exited(c.id, { StatusCode: failed.exitCode, Error: null })
      if (c.hostConfig.AutoRemove) await this.removeRecord(e)
      throw failed
    }
    e.run = { argv: [c.path, ...c.args], process, stdin, readers }
    e.exitHandled = deferred<void>()
    await this.states.transition(c, { kind: 'start', pid: process.pid })
    void process.exit.then((code) => this.exited(e, code))
  }

  /** One write of the process: to the log (a line an entry) and to the attached clients. */
  private output(
    e: FakeEntry,
    readers: Set<Channel<OutputChunk>>,
    stream: Stream,
    data: Buffer,
  ): void {
    const chunk = e.c.config.Tty ? onTerminal(data) : { stream, data }
    for (const r of readers) r.push(chunk)
    const out = chunk.data
    stream = chunk.stream
    const time = logTime()
    const text = out.toString('latin1')
    for (const line of text.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
      e.log.push({ stream, time, data: Buffer.from(line, 'latin1') })
    }
    for (const wake of e.logged) wake()
  }

  private async exited(e: FakeEntry, code: number): Promise<void> {
    const run = e.run
    if (!run) return
    for (const r of run.readers) r.close()
    run.stdin.close()
    for (const x of e.execs) x.process.signal(9)
    e.run = undefined
    const finishedAt = nowIso()
    await this.states.transition(e.c, {
      kind: 'exit',
      exit: { exitCode: code, finishedAt },
    })
    for (const wake of e.logged) wake()
    this.waiters.exited(e.c.id, { StatusCode: code, Error: null })
    e.exitHandled?.resolve()
    if (e.c.hostConfig.AutoRemove && this.byId.get(e.c.id) === e) await this.removeRecord(e)
  }

  async wait(ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<WaitResult> {
    const c = this.entry(ref).c
    if (condition === 'not-running' && !c.state.Running) {
      return { StatusCode: c.state.ExitCode, Error: null }
    }
    return this.waiters.wait(c.id, condition === 'removed', signal)
  }

  async attach(ref: string): Promise<AttachSession> {
    const e = this.entry(ref)
    const out = new Channel<OutputChunk>()
    // A running container's output from now on; else that of its next run, from its first byte.
    if (e.run) e.run.readers.add(out)
    else e.attached.add(out)
    this.states.emit(e.c, 'attach')
    return {
      output: out,
      writeStdin: async (data) => e.run?.stdin.push(Buffer.from(data)),
      closeStdin: () => e.run?.stdin.close(),
      close: () => {
        e.attached.delete(out)
        e.run?.readers.delete(out)
        out.close()
      },
    }
  }

  async logs(
    ref: string,
    opts: Omit<LogReadOptions, 'stopWhen'>,
  ): Promise<AsyncIterable<LogEntry>> {
    const e = this.entry(ref)
    const follow = opts.follow && e.run !== undefined
    const seconds = (time: string): number => Date.parse(time) / 1000
    const wanted = (x: LogEntry): boolean =>
      (opts.since === undefined || seconds(x.time) >= opts.since) &&
      (opts.until === undefined || seconds(x.time) <= opts.until)
    const run = e.run
    async function* entries(): AsyncGenerator<LogEntry> {
      let i = opts.tail === undefined ? 0 : Math.max(0, e.log.length - opts.tail)
      for (;;) {
        for (; i < e.log.length; i++) {
          const x = e.log[i] as LogEntry
          if (!wanted(x)) {
            if (opts.until !== undefined && seconds(x.time) > opts.until) return
            continue
          }
          yield x
        }
        // Following ends once the run that was followed has exited and its output is read.
        if (!follow || opts.signal?.aborted || e.run !== run) return
        await new Promise<void>((wake) => {
          const w = (): void => {
            e.logged.delete(w)
            wake()
          }
          e.logged.add(w)
          opts.signal?.addEventListener('abort', w, { once: true })
        })
      }
    }
    return entries()
  }

  async kill(ref: string, signal = 'KILL'): Promise<void> {
    const signo = parseSignal(signal)
    const e = this.entry(ref)
    if (!e.c.state.Running) {
      throw new Conflict(`Cannot kill container: ${ref}: Container ${e.c.id} is not running`)
    }
    e.c.manuallyStopped = true
    const exit = e.exitHandled?.promise
    this.signal(e, signo)
    if (signo === 9 && exit) await settlesWithin(exit, 10_000)
  }

  private signal(e: FakeEntry, signo: number): void {
    e.run?.process.signal(signo)
    this.states.emit(e.c, 'kill', { signal: String(signo) })
  }

  async stop(ref: string, timeoutSeconds?: number, signal?: string): Promise<void> {
    const e = this.entry(ref)
    const c = e.c
    if (!c.state.Running) throw new NotModified('container already stopped')
    const signo = parseSignal(signal || c.config.StopSignal || 'TERM')
    const timeout = timeoutSeconds ?? c.config.StopTimeout ?? 10
    c.manuallyStopped = true
    const exit = e.exitHandled?.promise ?? Promise.resolve()
    this.signal(e, signo)
    const gone = timeout < 0 ? (await exit, true) : await settlesWithin(exit, timeout * 1000)
    if (!gone) {
      this.signal(e, 9)
      await exit
    }
    this.states.emit(c, 'stop')
  }

  async remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const e = this.entry(ref)
    const c = e.c
    if (c.state.Running) {
      if (!opts.force) {
        throw new Conflict(
          `cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`,
        )
      }
      const exit = e.exitHandled?.promise
      this.signal(e, 9)
      await exit
    }
    if (this.byId.get(c.id) === e) await this.removeRecord(e)
  }

  private async removeRecord(e: FakeEntry): Promise<void> {
    const c = e.c
    await this.states.transition(c, { kind: 'removing' })
    this.byId.delete(c.id)
    if (this.byName.get(c.name) === c.id) this.byName.delete(c.name)
    for (const r of e.attached) r.close()
    this.states.emit(c, 'destroy')
    this.waiters.removed(c.id, { StatusCode: c.state.ExitCode, Error: null })
  }

  async sizes(ref: string): Promise<{ rw: number; rootfs: number }> {
    const c = this.entry(ref).c
    const image = await this.opts.images.get(c.image)
    return { rw: 0, rootfs: image?.size ?? 0 }
  }

  async networkSettings(ref: string): Promise<NetworkSettings> {
    this.entry(ref)
    return emptyNetworkSettings()
  }

  /** The runtime's freeze (commit's pause): nothing runs in memory to stop, only a check. */
  async freeze(ref: string, _frozen: boolean): Promise<void> {
    this.entry(ref)
  }

  /** Moves the container to a new name (rename); Conflict in Docker's words when taken. */
  rename(c: Container, name: string): void {
    const holder = this.byName.get(name)
    if (holder !== undefined && holder !== c.id) {
      throw new Conflict(
        `Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
      )
    }
    this.byName.delete(c.name)
    this.byName.set(name, c.id)
    c.name = name
  }

  /**
   * Runs argv in the running container `e` (exec); it dies with the container. With `attach`,
   * its output is read from the first byte (FakeRun.attached).
   */
  exec(
    e: FakeEntry,
    argv: string[],
    o: { stdin: boolean; tty: boolean; attach: boolean },
  ): FakeRun {
    const stdin = new Channel<Buffer>()
    if (!o.stdin) stdin.close()
    const readers = new Set<Channel<OutputChunk>>()
    const attached = o.attach ? new Channel<OutputChunk>() : undefined
    if (attached) readers.add(attached)
    const process = startFakeProcess(argv, {
      write: (stream, data) => {
        const chunk: OutputChunk = o.tty ? onTerminal(data) : { stream, data }
        for (const r of readers) r.push(chunk)
      },
      read: () => stdin.next(),
    })
    const run: FakeRun = { argv, process, stdin, readers, ...(attached ? { attached } : {}) }
    e.execs.add(run)
    void process.exit.then(() => {
      e.execs.delete(run)
      stdin.close()
      for (const r of readers) r.close()
    })
    return run
  }
}
