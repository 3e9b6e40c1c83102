// A container's GPUs: what it asks the GPU module for (its HostConfig.DeviceRequests and its
// environment), and the record of where the GPU files were mounted in it. runc makes a mount
// point that the image lacks (an empty file or directory) in the container's own layer; commit
// and diff leave those out, as Docker leaves out the /etc files' mount points. Each start asks
// anew and records what it got (startGpus).
import { join } from 'node:path'
import { readJson, writeJsonAtomic } from '../fsutil.ts'
import {
  NVIDIA_RUNTIME,
  parseDeviceRequests,
  type GpuEdits,
  type Gpus,
  type GpuRequestInput,
} from '../gpu/types.ts'
import type { Logger } from '../logger.ts'
import { containerEnv } from './config.ts'
import type { Container, HostConfig } from './types.ts'

/** What a container asks of the GPU module; `env` is its process's environment. */
export function gpuRequest(hc: HostConfig, env: readonly string[]): GpuRequestInput {
  return {
    deviceRequests: parseDeviceRequests(hc.DeviceRequests),
    env: [...env],
    privileged: hc.Privileged === true,
    nvidiaRuntime: hc.Runtime === NVIDIA_RUNTIME,
  }
}

/** The record in the container's directory of the GPUs its last start gave it. */
export interface GpuRecord {
  providers: string[]
  gpus: string[]
  /** Every mount target GPU edits ever had in this container (its layer keeps the stubs). */
  mountTargets: string[]
}

const RECORD = 'gpus.json'

export function readGpuRecord(dir: string): Promise<GpuRecord | undefined> {
  return readJson<GpuRecord>(join(dir, RECORD))
}

/**
 * Records a start's GPUs before the process runs (so a crash after it cannot lose a mount
 * target); targets of earlier starts are kept, since their stubs stay in the container's layer.
 */
export async function recordGpus(dir: string, edits: GpuEdits | undefined): Promise<void> {
  const before = await readGpuRecord(dir)
  if (edits === undefined && before === undefined) return
  const targets = new Set(before?.mountTargets ?? [])
  for (const m of edits?.mounts ?? []) targets.add(m.destination)
  const record: GpuRecord = {
    providers: [...(edits?.providers ?? [])],
    gpus: [...(edits?.gpus ?? [])],
    mountTargets: [...targets].sort(),
  }
  await writeJsonAtomic(join(dir, RECORD), record)
}

/**
 * The GPU edits of a container's start (the host's facts read now, so a restart sees a driver
 * loaded meanwhile), recorded before the process runs.
 */
export async function startGpus(
  x: { gpus: Pick<Gpus, 'edits'>; logger: Logger },
  c: Container,
  dir: string,
  rootfs: string,
): Promise<GpuEdits | undefined> {
  const env = containerEnv(c.config, c.config.Hostname ?? '')
  const edits = await x.gpus.edits(gpuRequest(c.hostConfig, env), rootfs)
  await recordGpus(dir, edits)
  if (edits) {
    x.logger.debug('container gets GPUs', {
      id: c.id,
      gpus: edits.gpus.join(', '),
      by: edits.providers.join(', '),
    })
  }
  return edits
}
