// pause, unpause, restart, rename, prune, top, stats and update in the fake container engine
// (fake.ts), with ContainerLifecycle's rules and words (and its pure parts: the update merge,
// the resource checks, Docker's all-zero stats). test/conformance/container-side.ts holds it to
// ContainerLifecycle's behaviour. top knows only ps's default columns (-ef).
import { Conflict, InvalidArgument, NotModified } from '../errors.ts'
import type { FakeContainers } from './fake.ts'
import { cannotUpdate, mergeUpdate, verifyResources } from './lifecycle.ts'
import { validateName } from './names.ts'
import { validateRestartPolicy } from './restart.ts'
import { emptyStats } from './stats.ts'
import { validatePsArgs } from './top.ts'
import type {
  Container,
  LifecycleApi,
  PruneReport,
  StatsJson,
  TopResult,
  UpdateRequest,
} from './types.ts'

const PS_TITLES = ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']

export class FakeLifecycle implements LifecycleApi {
  constructor(private readonly containers: FakeContainers) {}

  private emit(c: Container, action: string, extra?: Record<string, string>): void {
    this.containers.states.emit(c, action, extra)
  }

  async pause(ref: string): Promise<void> {
    const c = this.containers.entry(ref).c
    if (!c.state.Running) throw new Conflict(`Container ${c.id} is not running`)
    if (c.state.Paused) throw new Conflict(`Container ${c.id} is already paused`)
    await this.containers.states.transition(c, { kind: 'pause' })
  }

  async unpause(ref: string): Promise<void> {
    const c = this.containers.entry(ref).c
    if (!c.state.Running || !c.state.Paused) throw new Conflict(`Container ${c.id} is not paused`)
    await this.containers.states.transition(c, { kind: 'unpause' })
  }

  async restart(ref: string, timeoutSeconds?: number, signal?: string): Promise<void> {
    const c = this.containers.entry(ref).c
    const notModified = (err: unknown): void => {
      if (!(err instanceof NotModified)) throw err
    }
    if (c.state.Running) await this.containers.stop(c.id, timeoutSeconds, signal).catch(notModified)
    await this.containers.start(c.id).catch(notModified)
    this.emit(c, 'restart')
  }

  async rename(ref: string, newName: string): Promise<void> {
    if (!newName || !ref) throw new InvalidArgument('Neither old nor new names may be empty')
    const name = newName.startsWith('/') ? newName.slice(1) : newName
    const c = this.containers.entry(ref).c
    if (c.name === name) {
      throw new InvalidArgument('Renaming a container with the same name as its current name')
    }
    const oldName = c.name
    try {
      validateName(`/${name}`)
      this.containers.rename(c, name)
    } catch (err) {
      if (err instanceof Conflict || err instanceof InvalidArgument) {
        const Ctor = err.constructor as new (m: string, o?: { cause: unknown }) => Error
        throw new Ctor(`Error when allocating new name: ${err.message}`, { cause: err })
      }
      throw err
    }
    this.emit(c, 'rename', { oldName: `/${oldName}` })
  }

  async prune(match: (c: Container) => boolean): Promise<PruneReport> {
    const deleted: string[] = []
    let space = 0
    for (const c of await this.containers.list()) {
      const s = c.state
      if (s.Running || s.Paused || s.Restarting || s.Status === 'removing' || !match(c)) continue
      const { rw } = await this.containers.sizes(c.id)
      await this.containers.remove(c.id, { force: false, volumes: false })
      deleted.push(c.id)
      space += rw
    }
    this.containers.states.emitGeneral('prune', { reclaimed: String(space) })
    return { ContainersDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: space }
  }

  async top(ref: string, psArgs: string): Promise<TopResult> {
    const args = psArgs || '-ef'
    validatePsArgs(args)
    const e = this.containers.entry(ref)
    const c = e.c
    if (!c.state.Running) throw new Conflict(`Container ${c.id} is not running`)
    if (args !== '-ef') throw new InvalidArgument(`the fake engine does not model ps ${args}`)
    const stime = c.state.StartedAt.slice(11, 16)
    const row = (pid: number, argv: string[]): string[] => [
      'root',
      String(pid),
      '0',
      '0',
      stime,
      '?',
      '00:00:00',
      argv.join(' '),
    ]
    const result = {
      Titles: [...PS_TITLES],
      Processes: [
        row(c.state.Pid, [c.path, ...c.args]),
        ...[...e.execs].map((x) => row(x.process.pid, x.argv)),
      ],
    }
    this.emit(c, 'top')
    return result
  }

  async stats(ref: string): Promise<StatsJson> {
    const e = this.containers.entry(ref)
    const c = e.c
    const s = emptyStats(`/${c.name}`, c.id)
    if (!c.state.Running || c.state.Restarting) return s
    // A process at rest: its memory and one pid per process, the time of the sample.
    return {
      ...s,
      read: new Date().toISOString(),
      pids_stats: { current: 1 + e.execs.size },
      num_procs: 0,
      memory_stats: { usage: 1 << 20, limit: Number(c.hostConfig.Memory ?? 0) || 2 ** 62 },
    }
  }

  async update(ref: string, req: UpdateRequest): Promise<{ Warnings: string[] | null }> {
    verifyResources(req)
    const c = this.containers.entry(ref).c
    try {
      const hc = mergeUpdate(c.hostConfig, req)
      if (req.RestartPolicy?.Name) validateRestartPolicy(hc.RestartPolicy, false)
      c.hostConfig = hc
    } catch (err) {
      throw cannotUpdate(c.id, err)
    }
    this.emit(c, 'update')
    return { Warnings: null }
  }
}
