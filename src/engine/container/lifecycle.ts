// pause, unpause, restart, rename, prune, top, stats and update: the lifecycle verbs built on
// the container service's records and lock, with Docker's rules and words.
import { availableParallelism } from 'node:os'
import { Conflict, InvalidArgument, NotModified, isBerthError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Runtime, SpecResources } from '../runtime/types.ts'
import { cgroupDirs, cgroupPids } from './cgroup.ts'
import { validateName } from './names.ts'
import { validateRestartPolicy } from './restart.ts'
import { emptyStats, sampleStats } from './stats.ts'
import type { ContainerStates } from './state.ts'
import type { ContainerStore } from './store.ts'
import { top, validatePsArgs } from './top.ts'
import type {
  Container,
  HostConfig,
  LifecycleApi,
  PruneReport,
  StatsJson,
  TopResult,
  UpdateRequest,
} from './types.ts'

/** The container service, as far as these verbs need it. */
export interface LifecycleHost {
  readonly store: ContainerStore
  /** The state machine: every state change, and every container event, goes through it. */
  readonly states: ContainerStates
  /** The container's cgroup as created. */
  cgroupsPath(id: string): string
  locked<T>(id: string, fn: () => Promise<T>): Promise<T>
  start(ref: string): Promise<void>
  stop(ref: string, timeoutSeconds?: number, signal?: string): Promise<void>
  remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void>
  sizes(ref: string): Promise<{ rw: number; rootfs: number }>
  restartPolicyChanged(id: string): void
}

export interface LifecycleDeps {
  containers: LifecycleHost
  runtime: Pick<Runtime, 'pause' | 'resume' | 'update'>
  logger: Logger
}

const MIN_MEMORY = 6 * 1024 * 1024
const CPU_PERIOD = 100_000

export class ContainerLifecycle implements LifecycleApi {
  constructor(private readonly deps: LifecycleDeps) {}

  private get store(): ContainerStore {
    return this.deps.containers.store
  }

  private emit(c: Container, action: string, extra?: Record<string, string>): void {
    this.deps.containers.states.emit(c, action, extra)
  }

  async pause(ref: string): Promise<void> {
    const c = this.store.get(ref)
    await this.deps.containers.locked(c.id, async () => {
      if (!c.state.Running) throw new Conflict(`Container ${c.id} is not running`)
      if (c.state.Paused) throw new Conflict(`Container ${c.id} is already paused`)
      if (c.state.Restarting) throw restarting(c)
      await this.deps.runtime.pause(c.id)
      await this.deps.containers.states.transition(c, { kind: 'pause' })
    })
  }

  async unpause(ref: string): Promise<void> {
    const c = this.store.get(ref)
    await this.deps.containers.locked(c.id, async () => {
      if (!c.state.Running || !c.state.Paused) {
        throw new Conflict(`Container ${c.id} is not paused`)
      }
      await this.deps.runtime.resume(c.id)
      await this.deps.containers.states.transition(c, { kind: 'unpause' })
    })
  }

  /** Docker's restart: stop if running (a manual restart does not count in RestartCount), start. */
  async restart(ref: string, timeoutSeconds?: number, signal?: string): Promise<void> {
    const c = this.store.get(ref)
    if (c.state.Running) {
      await this.deps.containers.stop(c.id, timeoutSeconds, signal).catch((err: unknown) => {
        if (!(err instanceof NotModified)) throw err
      })
    }
    await this.deps.containers.start(c.id).catch((err: unknown) => {
      if (!(err instanceof NotModified)) throw err
    })
    this.emit(c, 'restart')
  }

  async rename(ref: string, newName: string): Promise<void> {
    if (!newName || !ref) throw new InvalidArgument('Neither old nor new names may be empty')
    const name = newName.startsWith('/') ? newName.slice(1) : newName
    const c = this.store.get(ref)
    if (c.name === name) {
      throw new InvalidArgument('Renaming a container with the same name as its current name')
    }
    const oldName = c.name
    try {
      validateName(`/${name}`)
      await this.store.rename(c, name)
    } catch (err) {
      if (err instanceof Conflict) {
        throw new Conflict(`Error when allocating new name: ${err.message}`, { cause: err })
      }
      if (err instanceof InvalidArgument) {
        throw new InvalidArgument(`Error when allocating new name: ${err.message}`, { cause: err })
      }
      throw err
    }
    this.emit(c, 'rename', { oldName: `/${oldName}` })
  }

  async prune(match: (c: Container) => boolean): Promise<PruneReport> {
    const deleted: string[] = []
    let space = 0
    for (const c of this.store.list()) {
      if (!prunable(c) || !match(c)) continue
      try {
        const { rw } = await this.deps.containers.sizes(c.id)
        await this.deps.containers.remove(c.id, { force: false, volumes: false })
        deleted.push(c.id)
        space += rw
      } catch (err) {
        // dockerd skips a container it cannot remove and goes on with the others.
        this.deps.logger.warn('prune: cannot remove container', { id: c.id, error: String(err) })
      }
    }
    this.deps.containers.states.emitGeneral('prune', { reclaimed: String(space) })
    return { ContainersDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: space }
  }

  async top(ref: string, psArgs: string): Promise<TopResult> {
    const args = psArgs || '-ef'
    validatePsArgs(args)
    const c = this.store.get(ref)
    if (!c.state.Running) throw new Conflict(`Container ${c.id} is not running`)
    if (c.state.Restarting) throw restarting(c)
    const pids = await cgroupPids(
      await cgroupDirs(c.state.Pid, this.deps.containers.cgroupsPath(c.id)),
    )
    const result = await top(pids, args)
    this.emit(c, 'top')
    return result
  }

  async stats(ref: string): Promise<StatsJson> {
    const c = this.store.get(ref)
    if (!c.state.Running || c.state.Restarting) return emptyStats(`/${c.name}`, c.id)
    const dirs = await cgroupDirs(c.state.Pid, this.deps.containers.cgroupsPath(c.id))
    return sampleStats(dirs, c.state.Pid, `/${c.name}`, c.id, c.hostConfig.NetworkMode !== 'host')
  }

  async update(ref: string, req: UpdateRequest): Promise<{ Warnings: string[] | null }> {
    verifyResources(req)
    const c = this.store.get(ref)
    await this.deps.containers.locked(c.id, async () => {
      try {
        const hc = mergeUpdate(c.hostConfig, req)
        if (req.RestartPolicy?.Name) validateRestartPolicy(hc.RestartPolicy, false)
        if (c.state.Running && !c.state.Restarting) {
          const r = updateResources(req)
          if (r) await this.deps.runtime.update(c.id, r)
        }
        c.hostConfig = hc
        await this.store.saveConfig(c)
        if (req.RestartPolicy?.Name) this.deps.containers.restartPolicyChanged(c.id)
      } catch (err) {
        throw cannotUpdate(c.id, err)
      }
    })
    this.emit(c, 'update')
    return { Warnings: null }
  }
}

/** Whether `container prune` removes the container: it is stopped (created, exited or dead). */
export function prunable(c: Container): boolean {
  const s = c.state
  return !(s.Running || s.Paused || s.Restarting || s.Status === 'removing')
}

function restarting(c: Container): Conflict {
  return new Conflict(`Container ${c.id} is restarting, wait until the container is running`)
}

/** dockerd's errCannotUpdate: the cause's class, with the container named. */
export function cannotUpdate(id: string, err: unknown): unknown {
  if (!isBerthError(err) || !(err instanceof Error)) return err
  const Ctor = err.constructor as new (m: string, o?: { cause: unknown }) => Error
  return new Ctor(`Cannot update container ${id}: ${err.message}`, { cause: err })
}

/** The checks dockerd makes of the request alone (verifyContainerResources). */
export function verifyResources(r: UpdateRequest): void {
  if (r.Memory && r.Memory > 0 && r.Memory < MIN_MEMORY) {
    throw new InvalidArgument('Minimum memory limit allowed is 6MB')
  }
  if (r.MemorySwap && r.MemorySwap > 0 && r.Memory && r.MemorySwap < r.Memory) {
    throw new InvalidArgument(
      'Minimum memoryswap limit should be larger than memory limit, see usage',
    )
  }
  if (r.NanoCpus) {
    if (r.CpuPeriod) {
      throw new InvalidArgument('Conflicting options: Nano CPUs and CPU Period cannot both be set')
    }
    if (r.CpuQuota) {
      throw new InvalidArgument('Conflicting options: Nano CPUs and CPU Quota cannot both be set')
    }
    const n = availableParallelism()
    if (r.NanoCpus < 0 || r.NanoCpus > n * 1e9) {
      throw new InvalidArgument(
        `Range of CPUs is from 0.01 to ${n}.00, as there are only ${n} CPUs available`,
      )
    }
  }
}

/** The new HostConfig: set fields replace old ones; Docker's conflicts with what is set. */
export function mergeUpdate(hc: HostConfig, r: UpdateRequest): HostConfig {
  const cur = (k: string): number => Number(hc[k] ?? 0)
  const out: HostConfig = { ...hc }
  if (r.NanoCpus) {
    if (cur('CpuQuota') || cur('CpuPeriod')) {
      throw new Conflict(
        'Conflicting options: Nano CPUs cannot be updated as CPU Period/Quota has already been set',
      )
    }
    out.NanoCpus = r.NanoCpus
  }
  if (r.CpuPeriod) {
    if (cur('NanoCpus')) {
      throw new Conflict(
        'Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set',
      )
    }
    out.CpuPeriod = r.CpuPeriod
  }
  if (r.CpuQuota) {
    if (cur('NanoCpus')) {
      throw new Conflict(
        'Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set',
      )
    }
    out.CpuQuota = r.CpuQuota
  }
  if (r.CpuShares) out.CpuShares = r.CpuShares
  if (r.CpusetCpus) out.CpusetCpus = r.CpusetCpus
  if (r.CpusetMems) out.CpusetMems = r.CpusetMems
  if (r.Memory) {
    if (cur('MemorySwap') > 0 && r.Memory > cur('MemorySwap') && !r.MemorySwap) {
      throw new Conflict(
        'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time',
      )
    }
    out.Memory = r.Memory
  }
  if (r.MemorySwap) out.MemorySwap = r.MemorySwap
  if (r.MemoryReservation) out.MemoryReservation = r.MemoryReservation
  if (r.PidsLimit !== undefined && r.PidsLimit !== null) out.PidsLimit = r.PidsLimit
  if (r.RestartPolicy?.Name) {
    if (r.RestartPolicy.Name !== 'no' && hc.AutoRemove) {
      throw new Conflict(
        'Restart policy cannot be updated because AutoRemove is enabled for the container',
      )
    }
    out.RestartPolicy = {
      Name: r.RestartPolicy.Name,
      MaximumRetryCount: r.RestartPolicy.MaximumRetryCount ?? 0,
    }
  }
  return out
}

/** The limits to hand `runc update`, or undefined when the request changes none. */
export function updateResources(r: UpdateRequest): SpecResources | undefined {
  const out: SpecResources = {}
  if (r.Memory || r.MemorySwap || r.MemoryReservation) {
    out.memory = {
      ...(r.Memory ? { limit: r.Memory } : {}),
      ...(r.MemorySwap ? { swap: r.MemorySwap } : {}),
      ...(r.MemoryReservation ? { reservation: r.MemoryReservation } : {}),
    }
  }
  const cpu: NonNullable<SpecResources['cpu']> = {}
  if (r.NanoCpus) {
    cpu.period = CPU_PERIOD
    cpu.quota = Math.round((r.NanoCpus * CPU_PERIOD) / 1e9)
  }
  if (r.CpuPeriod) cpu.period = r.CpuPeriod
  if (r.CpuQuota) cpu.quota = r.CpuQuota
  if (r.CpuShares) cpu.shares = r.CpuShares
  if (r.CpusetCpus) cpu.cpus = r.CpusetCpus
  if (r.CpusetMems) cpu.mems = r.CpusetMems
  if (Object.keys(cpu).length > 0) out.cpu = cpu
  if (r.PidsLimit !== undefined && r.PidsLimit !== null) out.pids = { limit: r.PidsLimit }
  return Object.keys(out).length > 0 ? out : undefined
}
