// A container's process as a task for the task runner: its record, its HostConfig and its
// network turned into the runner's TaskSpec. The container's directory holds the root
// filesystem's mount point and the bundle.
import { join } from 'node:path'
import type { Mount } from '../layer/types.ts'
import type { PreparedNetwork } from '../network/types.ts'
import type { HostFacts } from '../host/types.ts'
import type { RootfsAdditions, TaskRef, TaskSpec } from '../task/types.ts'
import { checkLogConfig, logFileOptions } from './logconfig.ts'
import { containerEnv } from './config.ts'
import { consoleSizeOf } from './console.ts'
import { rootfsPropagation } from './mounts.ts'
import { containerConfinement, hostnameOf, processArgs } from './oci.ts'
import type { Container } from './types.ts'

/** Where a container's files are: its directory, root filesystem mount point and bundle. */
export function containerPaths(dir: string): { dir: string; rootfs: string; bundle: string } {
  return { dir, rootfs: join(dir, 'rootfs'), bundle: join(dir, 'bundle') }
}

/** The task runner's handle on a container's process, for finishing it after its exit. */
export function containerTaskRef(c: Container, dir: string): TaskRef {
  return { id: c.id, rootfs: [containerPaths(dir).rootfs] }
}

export interface ContainerTaskParts {
  /** The container's directory. */
  dir: string
  /** Its root filesystem (the layer store's overlay mount at DIR/rootfs). */
  rootfs: Mount
  network: PreparedNetwork
  host: HostFacts
  /** Volume and bind mount points, groups and devices, once the root filesystem is mounted. */
  inRootfs(rootfs: string): Promise<RootfsAdditions>
  /** Connects the clients that attached before the start. */
  onCreated(): Promise<void>
}

export function containerTask(c: Container, p: ContainerTaskParts): TaskSpec {
  const hostname = hostnameOf(c)
  const { confinement, mounts } = containerConfinement(c, p.host)
  return {
    id: c.id,
    bundle: containerPaths(p.dir).bundle,
    rootfs: [p.rootfs],
    hostname,
    process: {
      args: processArgs(c),
      env: containerEnv(c.config, c.config.Hostname ?? '', p.network.env),
      user: c.config.User ?? '',
      cwd: c.config.WorkingDir || '/',
      terminal: c.config.Tty === true,
      consoleSize: consoleSizeOf(c),
    },
    mounts,
    network: p.network,
    confinement,
    rootfsPropagation: rootfsPropagation(c.mountPoints ?? []),
    io: {
      logPath: c.logPath,
      log: logFileOptions(checkLogConfig(c.hostConfig.LogConfig)),
      tty: c.config.Tty === true,
      openStdin: c.config.OpenStdin === true,
      stdinOnce: c.config.StdinOnce === true,
    },
    inRootfs: p.inRootfs,
    onCreated: p.onCreated,
  }
}
