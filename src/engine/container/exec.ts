// exec: processes run in a running container, and TTY resizes. Records live in memory only,
// as Docker's do: they go when their container stops, and a while after they exit.
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  Conflict,
  InvalidArgument,
  Internal,
  NotFound,
  errnoCode,
  isBerthError,
} from '../errors.ts'
import type { ExecHandle, ExecRuntime, Spec, SpecProcess, User } from '../runtime/types.ts'
import { parseDetachKeys } from '../../lib/detachkeys.ts'
import { containerAttributes, type EventSink } from '../events/types.ts'
import type { Logger } from '../logger.ts'
import { containerEnv } from './service.ts'
import type {
  Container,
  ContainerReader,
  ExecApi,
  ExecCreateRequest,
  ExecInspect,
  ExecSession,
  ExecStartOptions,
} from './types.ts'

export interface ExecDeps {
  containers: ContainerReader
  runtime: ExecRuntime
  /** The container's directory: `rootfs` (mounted while it runs) and `bundle` are in it. */
  containerDir(id: string): string
  resolveUser(rootfs: string, user: string | undefined): Promise<User>
  /** What `exec --privileged` grants: every capability the host has. */
  hostCapabilities(): Promise<string[]>
  logger: Logger
  /** Where exec_create, exec_start and exec_die go (as the container's events). */
  events?: EventSink
  /** How long an exited exec stays inspectable (Docker: 5 to 10 minutes). */
  keepExitedMs?: number
}

interface ExecRecord {
  id: string
  containerId: string
  /** The container run this exec belongs to; a restart forgets it. */
  startedAt: string
  entrypoint: string
  args: string[]
  env: string[]
  user: string
  workingDir: string
  tty: boolean
  privileged: boolean
  openStdin: boolean
  openStdout: boolean
  openStderr: boolean
  detachKeys: number[]
  consoleSize: [number, number] | null
  running: boolean
  exitCode: number | null
  pid: number
  handle?: ExecHandle
  /** Settles once a start was tried (resize waits on it). */
  started: Promise<void>
  markStarted(): void
}

/** The environment the container's own process was started with (its bundle's spec). */
async function startedEnv(dir: string): Promise<string[]> {
  let text: string
  try {
    text = await readFile(join(dir, 'bundle', 'config.json'), 'utf8')
  } catch (err) {
    // Not started through a bundle (yet): there is nothing it was given.
    if (errnoCode(err) === 'ENOENT') return []
    throw err
  }
  const spec = JSON.parse(text) as Spec
  return spec.process?.env ?? []
}

/**
 * The legacy links' variables (`ALIAS_PORT…`, `ALIAS_NAME`, `ALIAS_ENV_…`) among the
 * environment a container's process was started with: what the network gave it at start and
 * its Config.Env does not hold. dockerd gives them to an exec too.
 */
export function linkEnvOf(started: readonly string[], own: readonly string[]): string[] {
  const key = (e: string) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e)
  const mine = new Set(own.map(key))
  const shape =
    /^[^=]+_(PORT|NAME|PORT_\d+_(TCP|UDP|SCTP)(_ADDR|_PORT|_PROTO|_START|_END|_PORT_START|_PORT_END)?|ENV_[^=]+)$/
  return started.filter((e) => !mine.has(key(e)) && shape.test(key(e)))
}

/** Docker's ReplaceOrAppendEnvValues: later KEY=V replaces KEY; a bare KEY removes it. */
export function replaceOrAppendEnv(base: string[], overrides: string[]): string[] {
  const out = new Map<string, string | undefined>()
  for (const e of base) out.set(e.split('=')[0] as string, e)
  for (const e of overrides) {
    const eq = e.indexOf('=')
    if (eq < 0) out.delete(e)
    else out.set(e.slice(0, eq), e)
  }
  return [...out.values()].filter((e): e is string => e !== undefined)
}

/** The command as Docker's exec events name it: the entrypoint, a space, the arguments. */
function commandLine(rec: ExecRecord): string {
  return `${rec.entrypoint} ${rec.args.join(' ')}`
}

function base64(bytes: number[]): string {
  return Buffer.from(bytes).toString('base64')
}

export class ExecService implements ExecApi {
  private readonly execs = new Map<string, ExecRecord>()

  constructor(private readonly deps: ExecDeps) {}

  private event(c: Container, rec: ExecRecord, action: string, extra = {}): void {
    this.deps.events?.emit({
      Type: 'container',
      Action: action,
      Actor: { ID: c.id, Attributes: containerAttributes(c, { execID: rec.id, ...extra }) },
    })
  }

  /** Docker's getActiveContainer: exec only in a running, unpaused container. */
  private async activeContainer(ref: string): Promise<Container> {
    const c = await this.deps.containers.get(ref)
    if (!c.state.Running) throw new Conflict(`container ${c.id} is not running`)
    if (c.state.Paused) {
      throw new Conflict(`Container ${ref} is paused, unpause the container before exec`)
    }
    if (c.state.Restarting) {
      throw new Conflict(`Container ${c.id} is restarting, wait until the container is running`)
    }
    return c
  }

  /** The exec and its container, as moby's getExecConfig checks them. */
  private async lookup(id: string): Promise<{ rec: ExecRecord; c: Container }> {
    const rec = this.execs.get(id)
    if (!rec) throw new NotFound(`No such exec instance: ${id}`)
    let c: Container
    try {
      c = await this.deps.containers.get(rec.containerId)
    } catch (err) {
      this.execs.delete(id)
      throw err
    }
    if (c.state.StartedAt !== rec.startedAt || !c.state.Running) {
      // The container stopped (or restarted) since: Docker forgets its execs.
      this.execs.delete(id)
      throw new NotFound(`No such exec instance: ${id}`)
    }
    if (c.state.Paused) {
      throw new Conflict(`Container ${c.id} is paused, unpause the container before exec`)
    }
    return { rec, c }
  }

  async createExec(ref: string, req: ExecCreateRequest): Promise<{ Id: string }> {
    const cmd = req.Cmd ?? []
    if (cmd.length === 0) throw new InvalidArgument('No exec command specified')
    const c = await this.activeContainer(ref)
    const dir = this.deps.containerDir(c.id)
    if (req.User) {
      // Docker looks the user up at create, so a bad one fails before anything runs.
      await this.deps.resolveUser(join(dir, 'rootfs'), req.User)
    }
    let detachKeys: number[] = []
    if (req.DetachKeys) {
      try {
        detachKeys = parseDetachKeys(req.DetachKeys)
      } catch {
        throw new InvalidArgument(`Invalid escape keys (${req.DetachKeys}) provided`)
      }
    }
    const tty = req.Tty === true
    let markStarted!: () => void
    const started = new Promise<void>((r) => (markStarted = r))
    const rec: ExecRecord = {
      id: randomBytes(32).toString('hex'),
      containerId: c.id,
      startedAt: c.state.StartedAt,
      entrypoint: cmd[0] as string,
      args: cmd.slice(1),
      env: replaceOrAppendEnv(
        containerEnv(
          { ...c.config, Tty: tty },
          c.config.Hostname ?? '',
          linkEnvOf(await startedEnv(dir), c.config.Env ?? []),
        ),
        req.Env ?? [],
      ),
      user: req.User || c.config.User || '',
      workingDir: req.WorkingDir || c.config.WorkingDir || '',
      tty,
      privileged: req.Privileged === true,
      openStdin: req.AttachStdin === true,
      openStdout: req.AttachStdout === true,
      openStderr: req.AttachStderr === true,
      detachKeys,
      consoleSize: req.ConsoleSize ?? null,
      running: false,
      exitCode: null,
      pid: 0,
      started,
      markStarted,
    }
    this.execs.set(rec.id, rec)
    this.deps.logger.debug('exec created', { id: rec.id, container: c.id })
    this.event(c, rec, `exec_create: ${commandLine(rec)}`)
    return { Id: rec.id }
  }

  /** The container's own process spec (as it was started), with the exec's settings over it. */
  private async processSpec(
    rec: ExecRecord,
    dir: string,
    consoleSize: [number, number] | null,
  ): Promise<SpecProcess> {
    let spec: Spec
    try {
      spec = JSON.parse(await readFile(join(dir, 'bundle', 'config.json'), 'utf8')) as Spec
    } catch (err) {
      throw new Internal(`cannot read the spec of container ${rec.containerId}: ${String(err)}`)
    }
    if (typeof spec.process !== 'object' || spec.process === null) {
      throw new Internal(`the spec of container ${rec.containerId} has no process`)
    }
    const { consoleSize: _size, ...own } = spec.process
    const p: SpecProcess = {
      ...own,
      args: [rec.entrypoint, ...rec.args],
      env: rec.env,
      cwd: rec.workingDir || '/',
      terminal: rec.tty,
    }
    if (rec.tty && consoleSize) p.consoleSize = { height: consoleSize[0], width: consoleSize[1] }
    if (rec.user) {
      const u = await this.deps.resolveUser(join(dir, 'rootfs'), rec.user)
      p.user = { uid: u.uid, gid: u.gid, additionalGids: [...u.additionalGids] }
    }
    if (rec.privileged) {
      const caps = await this.deps.hostCapabilities()
      p.capabilities = { bounding: caps, effective: [...caps], permitted: [...caps] }
    }
    return p
  }

  async startExec(id: string, opts: ExecStartOptions): Promise<ExecSession | undefined> {
    const { rec, c } = await this.lookup(id)
    if (rec.exitCode !== null) throw new Conflict(`exec command ${id} has already run`)
    if (rec.running) throw new Conflict(`exec command ${id} is already running`)
    rec.running = true
    const attach = !opts.detach && (rec.openStdin || rec.openStdout || rec.openStderr)
    this.event(c, rec, `exec_start: ${commandLine(rec)}`)
    let handle: ExecHandle
    try {
      const dir = this.deps.containerDir(c.id)
      const consoleSize = (rec.tty ? opts.consoleSize : null) ?? rec.consoleSize
      handle = await this.deps.runtime.exec({
        containerId: c.id,
        execId: rec.id,
        process: await this.processSpec(rec, dir, consoleSize),
        tty: rec.tty,
        stdin: rec.openStdin && !opts.detach,
        attach,
      })
    } catch (err) {
      rec.running = false
      // Docker records 126 when a start fails without a more precise code, and 127 for a
      // missing command since 28.0 (moby c866a7e: dockerd 20.10 to 27 overwrote it with 126,
      // a bug moby fixed).
      rec.exitCode =
        isBerthError(err) && 'exitCode' in err && typeof err.exitCode === 'number'
          ? err.exitCode
          : 126
      rec.markStarted()
      this.forgetLater(rec)
      throw err
    }
    rec.handle = handle
    rec.pid = handle.pid
    rec.markStarted()
    const exited = handle.exit.then(
      (code) => {
        rec.exitCode = code
        rec.running = false
        this.event(c, rec, 'exec_die', { exitCode: String(code) })
        this.forgetLater(rec)
        return code
      },
      (err: unknown) => {
        rec.exitCode = 126
        rec.running = false
        this.forgetLater(rec)
        throw err
      },
    )
    exited.catch(() => undefined)
    if (!attach || !handle.connection) return undefined
    const conn = handle.connection
    const { openStdout, openStderr } = rec
    return {
      tty: rec.tty,
      detachKeys: rec.detachKeys,
      exited,
      output: (async function* () {
        for await (const chunk of conn.output) {
          if (chunk.stream === 'stdout' ? openStdout : openStderr) yield chunk
        }
      })(),
      writeStdin: (data) => conn.writeStdin(data),
      closeStdin: () => conn.closeStdin(),
      close: () => conn.close(),
    }
  }

  private forgetLater(rec: ExecRecord): void {
    const t = setTimeout(
      () => {
        if (this.execs.get(rec.id) === rec) this.execs.delete(rec.id)
      },
      this.deps.keepExitedMs ?? 5 * 60_000,
    )
    t.unref()
  }

  async inspectExec(id: string): Promise<ExecInspect> {
    const rec = this.execs.get(id)
    if (!rec) throw new NotFound(`No such exec instance: ${id}`)
    let c: Container | undefined
    try {
      c = await this.deps.containers.get(rec.containerId)
    } catch {
      c = undefined
    }
    if (!c || c.state.StartedAt !== rec.startedAt || !c.state.Running) {
      this.execs.delete(id)
      throw new NotFound(`No such exec instance: ${id}`)
    }
    const processConfig: ExecInspect['ProcessConfig'] = {
      tty: rec.tty,
      entrypoint: rec.entrypoint,
      arguments: rec.args,
      privileged: rec.privileged,
    }
    if (rec.user) processConfig.user = rec.user
    return {
      ID: rec.id,
      Running: rec.running,
      ExitCode: rec.exitCode,
      ProcessConfig: processConfig,
      OpenStdin: rec.openStdin,
      OpenStderr: rec.openStderr,
      OpenStdout: rec.openStdout,
      CanRemove: false,
      ContainerID: rec.containerId,
      DetachKeys: base64(rec.detachKeys),
      Pid: rec.pid,
    }
  }

  async resizeExec(id: string, height: number, width: number): Promise<void> {
    const { rec } = await this.lookup(id)
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 10_000)))
    const ready = await Promise.race([rec.started.then(() => false), timedOut])
    clearTimeout(timer)
    if (ready) throw new Internal('timeout waiting for exec session ready')
    if (!rec.handle) throw new InvalidArgument('exec process is not started')
    if (!rec.tty) return
    try {
      await rec.handle.resize(height, width)
    } catch (err) {
      if (err instanceof Conflict) throw new NotFound('no such exec')
      throw err
    }
  }

  async resizeContainer(ref: string, height: number, width: number): Promise<void> {
    const c = await this.deps.containers.get(ref)
    if (!c.state.Running) throw new Conflict(`container ${c.id} is not running`)
    // A container without a TTY has nothing to resize; Docker answers 200 all the same.
    if (!c.config.Tty) return
    await this.deps.runtime.resizeConsole(
      join(this.deps.containerDir(c.id), 'bundle'),
      height,
      width,
    )
  }
}
