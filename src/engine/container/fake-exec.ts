// exec in the fake container engine (fake.ts): ExecService's rules and words over the fake's
// processes. test/conformance/container-side.ts holds it to ExecService's behaviour.
import { randomBytes } from 'node:crypto'
import { Conflict, InvalidArgument, NotFound } from '../errors.ts'
import { StartFailed } from '../runtime/runc.ts'
import { parseDetachKeys } from '../../lib/detachkeys.ts'
import type { FakeContainers, FakeEntry, FakeRun } from './fake.ts'
import { CommandNotFound } from './fake-process.ts'
import type {
  Container,
  ExecApi,
  ExecCreateRequest,
  ExecInspect,
  ExecSession,
  ExecStartOptions,
} from './types.ts'

interface FakeExec {
  id: string
  containerId: string
  startedAt: string
  argv: string[]
  user: string
  tty: boolean
  privileged: boolean
  openStdin: boolean
  openStdout: boolean
  openStderr: boolean
  detachKeys: number[]
  exitCode: number | null
  run?: FakeRun
}

/** Users the fake's image knows (busybox's root), by name or any number. */
function knownUser(user: string): boolean {
  const name = user.split(':')[0] ?? ''
  return name === 'root' || /^\d+$/.test(name)
}

export class FakeExecs implements ExecApi {
  private readonly execs = new Map<string, FakeExec>()

  constructor(private readonly containers: FakeContainers) {}

  private active(ref: string): FakeEntry {
    const e = this.containers.entry(ref)
    const s = e.c.state
    if (!s.Running) throw new Conflict(`container ${e.c.id} is not running`)
    if (s.Paused)
      throw new Conflict(`Container ${ref} is paused, unpause the container before exec`)
    return e
  }

  /** The exec and its container, as ExecService's lookup checks them. */
  private lookup(id: string): { x: FakeExec; e: FakeEntry } {
    const x = this.execs.get(id)
    if (!x) throw new NotFound(`No such exec instance: ${id}`)
    let e: FakeEntry
    try {
      e = this.containers.entry(x.containerId)
    } catch (err) {
      this.execs.delete(id)
      throw err
    }
    if (e.c.state.StartedAt !== x.startedAt || !e.c.state.Running) {
      this.execs.delete(id)
      throw new NotFound(`No such exec instance: ${id}`)
    }
    if (e.c.state.Paused) {
      throw new Conflict(`Container ${e.c.id} is paused, unpause the container before exec`)
    }
    return { x, e }
  }

  async createExec(ref: string, req: ExecCreateRequest): Promise<{ Id: string }> {
    const cmd = req.Cmd ?? []
    if (cmd.length === 0) throw new InvalidArgument('No exec command specified')
    const c: Container = this.active(ref).c
    if (req.User && !knownUser(req.User)) {
      throw new InvalidArgument(
        `unable to find user ${req.User.split(':')[0]}: no matching entries in passwd file`,
      )
    }
    let detachKeys: number[] = []
    if (req.DetachKeys) {
      try {
        detachKeys = parseDetachKeys(req.DetachKeys)
      } catch {
        throw new InvalidArgument(`Invalid escape keys (${req.DetachKeys}) provided`)
      }
    }
    const x: FakeExec = {
      id: randomBytes(32).toString('hex'),
      containerId: c.id,
      startedAt: c.state.StartedAt,
      argv: cmd,
      user: req.User || c.config.User || '',
      tty: req.Tty === true,
      privileged: req.Privileged === true,
      openStdin: req.AttachStdin === true,
      openStdout: req.AttachStdout === true,
      openStderr: req.AttachStderr === true,
      detachKeys,
      exitCode: null,
    }
    this.execs.set(x.id, x)
    return { Id: x.id }
  }

  async startExec(id: string, opts: ExecStartOptions): Promise<ExecSession | undefined> {
    const { x, e } = this.lookup(id)
    if (x.exitCode !== null) throw new Conflict(`exec command ${id} has already run`)
    if (x.run) throw new Conflict(`exec command ${id} is already running`)
    const attach = !opts.detach && (x.openStdin || x.openStdout || x.openStderr)
    let run: FakeRun
    try {
      run = this.containers.exec(e, x.argv, {
        stdin: x.openStdin && !opts.detach,
        tty: x.tty,
        attach,
      })
    } catch (err) {
      if (!(err instanceof CommandNotFound)) throw err
      x.exitCode = 127
      throw new StartFailed(
        `OCI runtime exec failed: exec failed: unable to start container process: ${err.message}: unknown`,
        127,
      )
    }
    x.run = run
    const output = run.attached
    const exited = run.process.exit.then((code) => {
      x.exitCode = code
      return code
    })
    if (!output) return undefined
    const { openStdout, openStderr } = x
    return {
      tty: x.tty,
      detachKeys: x.detachKeys,
      exited,
      output: (async function* () {
        for await (const chunk of output) {
          if (chunk.stream === 'stdout' ? openStdout : openStderr) yield chunk
        }
      })(),
      writeStdin: async (data) => run.stdin.push(Buffer.from(data)),
      closeStdin: () => run.stdin.close(),
      close: () => output.close(),
    }
  }

  async inspectExec(id: string): Promise<ExecInspect> {
    const x = this.execs.get(id)
    if (!x) throw new NotFound(`No such exec instance: ${id}`)
    let c: Container | undefined
    try {
      c = this.containers.entry(x.containerId).c
    } catch {
      c = undefined
    }
    if (!c || c.state.StartedAt !== x.startedAt || !c.state.Running) {
      this.execs.delete(id)
      throw new NotFound(`No such exec instance: ${id}`)
    }
    const processConfig: ExecInspect['ProcessConfig'] = {
      tty: x.tty,
      entrypoint: x.argv[0] as string,
      arguments: x.argv.slice(1),
      privileged: x.privileged,
    }
    if (x.user) processConfig.user = x.user
    return {
      ID: x.id,
      Running: x.run !== undefined && x.exitCode === null,
      ExitCode: x.exitCode,
      ProcessConfig: processConfig,
      OpenStdin: x.openStdin,
      OpenStderr: x.openStderr,
      OpenStdout: x.openStdout,
      CanRemove: false,
      ContainerID: x.containerId,
      DetachKeys: Buffer.from(x.detachKeys).toString('base64'),
      Pid: x.run?.process.pid ?? 0,
    }
  }

  async resizeExec(id: string, _height: number, _width: number): Promise<void> {
    const { x } = this.lookup(id)
    if (!x.run) throw new InvalidArgument('exec process is not started')
  }

  async resizeContainer(ref: string, _height: number, _width: number): Promise<void> {
    const c = this.containers.entry(ref).c
    if (!c.state.Running) throw new Conflict(`container ${c.id} is not running`)
  }
}
