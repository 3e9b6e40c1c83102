// docker rm's steps after the checks: the record (or its move to the trash), the runtime's
// record, the rootfs mount, the network, the read-write layer and the mounts, in an order that
// a crash at any point leaves strays to clear, never a record without its filesystem.
import { faultPoint } from '../fault.ts'
import type { LayerStore } from '../layer/types.ts'
import type { Logger } from '../logger.ts'
import type { NetworkManager } from '../network/types.ts'
import type { TaskRunner } from '../task/types.ts'
import type { ContainerMounts } from './mounts.ts'
import { networked } from './network.ts'
import type { ContainerStates } from './state.ts'
import type { ContainerStore } from './store.ts'
import type { Supervisor } from './supervisor.ts'
import { containerPaths } from './task.ts'
import type { ContainerTrash } from './trash.ts'
import type { Container } from './types.ts'
import type { UnsavedTracker } from './unsaved.ts'
import type { Waiters } from './waiters.ts'

/** The parts of the container service a removal uses. */
export interface RemoveContext {
  store: ContainerStore
  states: ContainerStates
  mounts: ContainerMounts
  tracker: UnsavedTracker
  removed: ContainerTrash
  waiters: Waiters
  supervisor: Pick<Supervisor, 'forget'>
  /** Background cleanups of removed containers, awaited by the service's settle(). */
  cleanups: Set<Promise<void>>
  tasks: TaskRunner
  network: NetworkManager
  layers: LayerStore
  logger: Logger
  unmount(target: string): Promise<void>
}

/**
 * Removes a container. With deferCleanup (a --rm container that just exited) the record
 * goes first and the waiters hear of it at once; the runtime record, mount and layer are
 * cleared right after in the background. A crash in between leaves strays that the next
 * start removes, never a record without its filesystem. With the trash on, the record and
 * the writable layer are kept there instead of deleted (a --rm container's only when it
 * turns out to hold changes); every client sees the same removal.
 */
export async function removeContainer(
  x: RemoveContext,
  c: Container,
  opts: { force: boolean; volumes: boolean },
  how: { deferCleanup?: boolean },
): Promise<void> {
  const { tasks, network } = x
  const dir = x.store.containerDir(c.id)
  const nc = networked(c, dir)
  const keep = x.removed.takes(c)
  await x.states.transition(c, { kind: 'removing' })
  const clearRuntime = async (): Promise<void> => {
    if (how.deferCleanup) await tasks.discard(c.id)
    else await tasks.forget(c.id)
    faultPoint('rm.after-runtime')
  }
  const unsaved = x.tracker.record(c.id)
  const releaseMounts = (): Promise<void> =>
    x.mounts.release(c.id, c.mountPoints ?? [], opts.volumes)
  const clearRest = async (): Promise<void> => {
    // An exited --rm container's network is released here rather than at its exit (its
    // disconnect was told at the exit, in dockerd's order, by the supervisor).
    if (how.deferCleanup) await network.release(nc)
    await network.remove(nc)
    if (!keep) await x.layers.removeRW(c.id)
    if (!how.deferCleanup) await releaseMounts()
    if (keep) x.removed.settle(c.id, unsaved)
  }
  if (!how.deferCleanup) await clearRuntime()
  // The rootfs is mounted inside the record's directory: never delete through it.
  await unmountRootfs(x, c.id)
  if (keep) await x.removed.put(c, { pending: how.deferCleanup === true })
  else await x.store.delete(c)
  x.tracker.forget(c.id)
  x.states.emit(c, 'destroy')
  faultPoint('rm.after-record')
  if (how.deferCleanup) {
    // The volumes are free before the client waiting for the removal hears of it (docker run
    // --rm then docker volume rm), as with dockerd; it is quick (unmounted at the exit already).
    await releaseMounts().catch((err: unknown) => {
      x.logger.warn('releasing volumes after removal failed', { id: c.id, error: String(err) })
    })
    const cleanup = clearRuntime()
      .then(clearRest)
      .catch((err: unknown) => {
        x.logger.warn('cleanup after removal failed', { id: c.id, error: String(err) })
      })
      .finally(() => x.cleanups.delete(cleanup))
    x.cleanups.add(cleanup)
  } else {
    await clearRest()
  }
  x.supervisor.forget(c.id)
  x.waiters.removed(c.id, { StatusCode: c.state.ExitCode, Error: null })
  x.logger.debug('container removed', { id: c.id, kept: keep })
}

/** Unmounts a container's root filesystem; nothing mounted is fine, a failure is logged. */
async function unmountRootfs(x: RemoveContext, id: string): Promise<void> {
  await x.unmount(containerPaths(x.store.containerDir(id)).rootfs).catch((err: unknown) => {
    x.logger.warn('unmounting a root filesystem failed', { id, error: String(err) })
  })
}
