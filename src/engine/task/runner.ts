// The task runner over the runtime (conmon + runc): mount the root filesystem, build the spec,
// write the bundle, create and start the process; its exit; then teardown.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { faultPoint } from '../fault.ts'
import { resolveInRoot } from '../fsroot.ts'
import { writeJsonAtomic } from '../fsutil.ts'
import type { HostProfile } from '../host/types.ts'
import type { Mount } from '../layer/types.ts'
import type { Logger } from '../logger.ts'
import type {
  AttachConnection,
  ExitStatus,
  OutputChunk,
  Runtime,
  SpecBuilder,
  User,
} from '../runtime/types.ts'
import { taskSpecInput } from './spec.ts'
import type { RunOptions, StartedTask, TaskRef, TaskRunner, TaskSpec } from './types.ts'

export interface RunnerDeps {
  runtime: Pick<Runtime, 'create' | 'start' | 'attach' | 'kill' | 'delete' | 'waitExit' | 'cleanup'>
  host: HostProfile
  /** config.json from the task's input (the runtime's ociSpec). */
  spec: SpecBuilder
  mount(m: Mount): Promise<void>
  /** Must not fail for a target that is not mounted. */
  unmount(target: string): Promise<void>
  resolveUser(rootfs: string, user: string | undefined): Promise<User>
  logger: Logger
}

export class LocalTaskRunner implements TaskRunner {
  constructor(private readonly deps: RunnerDeps) {}

  async start(t: TaskSpec): Promise<StartedTask> {
    const { runtime, host } = this.deps
    const mounted: string[] = []
    try {
      const rootfs = t.rootfs[0]?.destination
      if (rootfs === undefined) throw new TypeError(`task ${t.id} has no root filesystem`)
      for (const m of t.rootfs) {
        await this.deps.mount(m)
        mounted.push(m.destination)
      }
      faultPoint('start.after-mount')
      const user = await this.deps.resolveUser(rootfs, t.process.user)
      await ensureWorkdir(rootfs, t.process.cwd)
      const adds = t.inRootfs ? await t.inRootfs(rootfs) : {}
      const spec = this.deps.spec(taskSpecInput(t, { rootfs, user, adds }, host), {
        arch: host.facts.arch,
        kernel: host.facts.kernel,
      })
      // Replaced whole (runc and an exec read it while the process runs) but not synced: it is
      // written again at every start and means nothing to a process that cannot outlive the
      // machine, so a crash that loses it loses nothing (two fsyncs less a start).
      await writeJsonAtomic(join(t.bundle, 'config.json'), spec, { durable: false })
      const { pid, monitorPid } = await runtime.create({ id: t.id, bundle: t.bundle, ...t.io })
      faultPoint('start.after-create')
      await t.onCreated?.()
      await runtime.start(t.id)
      faultPoint('start.after-start')
      return { id: t.id, pid, monitorPid }
    } catch (err) {
      await this.deps.runtime.delete(t.id, true).catch((e: unknown) => {
        this.deps.logger.warn('deleting a task that failed to start failed', {
          id: t.id,
          error: String(e),
        })
      })
      await this.unmountAll(t.id, mounted)
      throw err
    }
  }

  wait(id: string, signal?: AbortSignal): Promise<ExitStatus> {
    return this.deps.runtime.waitExit(id, signal)
  }

  async finish(ref: TaskRef): Promise<void> {
    await this.deps.runtime.delete(ref.id, false).catch((err: unknown) => {
      this.deps.logger.warn('runtime delete failed', { id: ref.id, error: String(err) })
    })
    await this.unmountAll(ref.id, ref.rootfs)
  }

  forget(id: string): Promise<void> {
    return this.deps.runtime.cleanup(id)
  }

  async discard(id: string): Promise<void> {
    try {
      await this.deps.runtime.delete(id, true)
    } finally {
      await this.deps.runtime.cleanup(id)
    }
  }

  async run(t: TaskSpec, opts: RunOptions = {}): Promise<number> {
    const { signal, output } = opts
    signal?.throwIfAborted()
    let pump: Promise<void> | undefined
    await this.start({
      ...t,
      onCreated: async () => {
        await t.onCreated?.()
        // Connected before the process runs, so no output is lost.
        if (output) pump = this.drain(t.id, await this.deps.runtime.attach(t.id), output)
      },
    })
    const ref: TaskRef = { id: t.id, rootfs: t.rootfs.map((m) => m.destination) }
    const kill = (): void => {
      this.deps.runtime.kill(t.id, 'KILL').catch((err: unknown) => {
        this.deps.logger.warn('killing an aborted task failed', { id: t.id, error: String(err) })
      })
    }
    signal?.addEventListener('abort', kill, { once: true })
    let exited = false
    try {
      if (signal?.aborted) kill()
      const { exitCode } = await this.wait(t.id)
      exited = true
      await pump
      signal?.throwIfAborted()
      return exitCode
    } finally {
      signal?.removeEventListener('abort', kill)
      if (exited && opts.cleanup) {
        // The process is gone, so its root filesystem can go first (the caller reads the layer
        // next) and runc's delete (a process of its own, ~50 ms) runs meanwhile.
        await this.unmountAll(t.id, ref.rootfs)
        opts.cleanup(this.deleteAndForget(t.id))
      } else {
        await this.finish(ref)
        await this.forget(t.id)
      }
    }
  }

  private async deleteAndForget(id: string): Promise<void> {
    await this.finish({ id, rootfs: [] })
    await this.forget(id).catch((err: unknown) => {
      this.deps.logger.warn('forgetting a task failed', { id, error: String(err) })
    })
  }

  /** Hands each chunk of the process's output to `output` until its streams close. */
  private async drain(
    id: string,
    conn: AttachConnection,
    output: (chunk: OutputChunk) => void,
  ): Promise<void> {
    try {
      for await (const chunk of conn.output) output(chunk)
    } catch (err) {
      this.deps.logger.warn('reading a task output failed', { id, error: String(err) })
    } finally {
      conn.close()
    }
  }

  private async unmountAll(id: string, targets: readonly string[]): Promise<void> {
    for (const target of [...targets].reverse()) {
      await this.deps.unmount(target).catch((err: unknown) => {
        this.deps.logger.warn('unmounting a root filesystem failed', { id, error: String(err) })
      })
    }
  }
}

/** Docker creates a missing working directory (owned by root) before the process starts. */
async function ensureWorkdir(rootfs: string, cwd: string): Promise<void> {
  if (cwd === '/' || cwd === '') return
  await mkdir(await resolveInRoot(rootfs, cwd), { recursive: true, mode: 0o755 })
}
