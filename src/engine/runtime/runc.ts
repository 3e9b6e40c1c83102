// runc: how it is invoked (`runc --root ROOT --log-format json ARGS`) and how its words become
// berth's errors, the way Docker's daemon classifies them.
import { Conflict, Internal, InvalidArgument, NotFound } from '../errors.ts'
import { spawnCollect, type SpawnResult } from '../sys/spawn.ts'
import type { RuntimeStatus, SpecResources } from './types.ts'
import { runcUpdateArgs } from './update.ts'

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

export interface RuncResult {
  code: number
  stdout: string
  stderr: string
}

/** The runc binary with its state root: each verb berth uses, with its failures classified. */
export class Runc {
  constructor(
    readonly bin: string,
    readonly root: string,
  ) {}

  /**
   * Runs `runc --root ROOT --log-format json ARGS`; never rejects on a non-zero exit. Through
   * posix_spawn (sys/spawn.ts): two or more runc calls a container or build step, each a fork of
   * the whole daemon with Node's own spawn.
   */
  async run(args: string[]): Promise<RuncResult> {
    const argv = ['--root', this.root, '--log-format', 'json', ...args]
    let r: SpawnResult
    try {
      r = await spawnCollect(this.bin, argv)
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err)
      throw new Internal(`cannot run runc: ${why}`, { cause: err })
    }
    if (r.code === null) {
      throw new Internal(
        `cannot run runc: ${this.bin} ${argv.join(' ')} ended by signal ${r.signal}: ${r.stderr.trim()}`,
      )
    }
    return { code: r.code, stdout: r.stdout, stderr: r.stderr }
  }

  async start(id: string): Promise<void> {
    const r = await this.run(['start', id])
    if (r.code === 0) return
    const desc = runcMessage(r.stderr)
    if (/does not exist/.test(desc)) throw new NotFound(`no such container: ${id}`)
    if (/cannot start (a container that has stopped|an already running container)/.test(desc)) {
      throw new Conflict(desc)
    }
    throw startError(`OCI runtime start failed: ${desc}: unknown`)
  }

  async kill(id: string, signal: string): Promise<void> {
    const r = await this.run(['kill', id, signal])
    if (r.code === 0) return
    const desc = runcMessage(r.stderr)
    if (/does not exist/.test(desc)) throw new NotFound(`no such container: ${id}`)
    if (/not running/.test(desc)) throw new Conflict(`container ${id} is not running`)
    if (/invalid signal|unknown signal/i.test(desc)) throw new InvalidArgument(desc)
    throw new Internal(`runc kill: ${desc}`)
  }

  /** Removes runc's record; with force, kills first. Missing is success. */
  async delete(id: string, force: boolean): Promise<void> {
    const r = await this.run(force ? ['delete', '--force', id] : ['delete', id])
    if (r.code === 0) return
    const desc = runcMessage(r.stderr)
    if (/does not exist/.test(desc)) return
    if (/running|paused/.test(desc)) throw new Conflict(desc)
    throw new Internal(`runc delete: ${desc}`)
  }

  async state(id: string): Promise<RuntimeStatus | undefined> {
    const r = await this.run(['state', id])
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

  pause(id: string): Promise<void> {
    return this.simple(['pause', id], 'pause')
  }

  resume(id: string): Promise<void> {
    return this.simple(['resume', id], 'resume')
  }

  update(id: string, resources: SpecResources): Promise<void> {
    return this.simple(['update', ...runcUpdateArgs(resources), id], 'update')
  }

  /** A call whose failure is NotFound (no such container), Conflict (wrong state) or 500. */
  private async simple(args: string[], what: string): Promise<void> {
    const r = await this.run(args)
    if (r.code === 0) return
    const desc = runcMessage(r.stderr)
    if (/does not exist/.test(desc)) throw new NotFound(`no such container: ${args.at(-1)}`)
    if (/not (running|paused)|is paused|is stopped/.test(desc)) throw new Conflict(desc)
    throw new Internal(`runc ${what}: ${desc}`)
  }
}
