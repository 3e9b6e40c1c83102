// docker create: the request checked and merged with its image's config, the network planned
// (it checks its settings and writes the /etc files), the name, mounts and read-write layer
// taken, then the record made whole in one rename. A failure leaves nothing, name included.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgument } from '../errors.ts'
import { faultPoint } from '../fault.ts'
import { NVIDIA_RUNTIME, type Gpus } from '../gpu/types.ts'
import type { HostProfile } from '../host/types.ts'
import type { ImageReader } from '../image/types.ts'
import type { LayerStore } from '../layer/types.ts'
import type { Logger } from '../logger.ts'
import type { NetworkManager } from '../network/types.ts'
import { entrypointAndArgs, mergeImageConfig, validateHealthConfig } from './config.ts'
import { checkLogConfig } from './logconfig.ts'
import { gpuRequest } from './gpu.ts'
import type { ContainerMounts } from './mounts.ts'
import { randomName, validateName } from './names.ts'
import { endpointsOf, networked } from './network.ts'
import { verifyHostConfig } from './oci.ts'
import { validateRestartPolicy } from './restart.ts'
import { type ContainerStates, nowIso } from './state.ts'
import type { ContainerStore } from './store.ts'
import type { CreateRequest, HostConfig, MountPoint } from './types.ts'

/** The parts of the container service a create uses. */
export interface CreateContext {
  store: ContainerStore
  states: ContainerStates
  mounts: ContainerMounts
  images: ImageReader
  layers: LayerStore
  network: NetworkManager
  host: HostProfile
  gpus: Pick<Gpus, 'check'>
  logger: Logger
}

export async function createContainer(
  x: CreateContext,
  req: CreateRequest,
  name: string | undefined,
): Promise<{ Id: string; Warnings: string[] }> {
  if (!req.Image) throw new InvalidArgument('Config cannot be empty in order to create a container')
  // dockerd checks the request's own health check before it looks the image up.
  validateHealthConfig(req.Healthcheck)
  const image = await x.images.resolve(req.Image)
  const { HostConfig: hostConfig = {}, NetworkingConfig: networking, ...userConfig } = req
  const config = mergeImageConfig(userConfig, image.config.config)
  if (config.WorkingDir && !config.WorkingDir.startsWith('/')) {
    throw new InvalidArgument(
      `the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`,
    )
  }
  const { path, args } = entrypointAndArgs(config)
  const id = x.store.newId()
  const hc: HostConfig = { NetworkMode: 'default', ...hostConfig }
  const endpoints = endpointsOf(networking)
  // The network checks the request first (as dockerd does) and writes the /etc files into
  // the record being made.
  const draft = await x.store.draft(id)
  let finalName: string | undefined
  let mountPoints: MountPoint[] = []
  let rw = false
  let warnings: string[]
  try {
    const planned = await x.network.plan(
      networked({ id, name: name ?? '', config, hostConfig: hc, endpoints }, draft),
    )
    warnings = planned.warnings
    config.Hostname = planned.hostname
    config.Image = req.Image
    if (name) {
      const valid = validateName(name)
      x.store.reserveName(valid, id)
      finalName = valid
    } else {
      let retry = 0
      let picked: string
      do picked = randomName(retry++)
      while (x.store.nameTaken(picked))
      x.store.reserveName(picked, id)
      finalName = picked
    }
    validateRestartPolicy(hc.RestartPolicy, hc.AutoRemove === true)
    verifyHostConfig(hc, config, x.host.facts)
    hc.LogConfig = checkLogConfig(hc.LogConfig)
    // runc, and "nvidia" (runc with the GPUs the environment names; the GPU module checks it).
    const runtime = hc.Runtime ?? ''
    if (runtime !== '' && runtime !== 'runc' && runtime !== NVIDIA_RUNTIME) {
      throw new InvalidArgument(`unknown or invalid runtime name: ${String(runtime)}`)
    }
    // GPUs the host cannot give are refused now, in Docker's words, so no container is left.
    await x.gpus.check(gpuRequest(hc, config.Env ?? []))
    mountPoints = await x.mounts.resolve(id, config, hc)
    await x.layers.createRW(
      id,
      image.layers.map((l) => l.diffID),
    )
    rw = true
    faultPoint('create.after-rw')
    const points = mountPoints
    await x.store.create(
      {
        id,
        name: finalName,
        created: nowIso(),
        path,
        args,
        config,
        hostConfig: hc,
        image: image.id,
        imageRef: req.Image,
        mountPoints,
        ...(Object.keys(endpoints).length > 0 ? { endpoints } : {}),
      },
      async (dir) => {
        await mkdir(join(dir, 'rootfs'))
        await mkdir(join(dir, 'bundle'))
        await x.mounts.populate(id, points, join(dir, 'rootfs'))
        faultPoint('create.before-record')
      },
    )
    faultPoint('create.after-record')
  } catch (err) {
    await x.store.discardDraft(id)
    if (rw) await x.layers.removeRW(id)
    if (finalName !== undefined) x.store.releaseName(finalName, id)
    await x.mounts.release(id, mountPoints, true)
    throw err
  }
  x.logger.debug('container created', { id, name: finalName })
  x.states.emit(x.store.get(id), 'create')
  return { Id: id, Warnings: warnings }
}
