// The GPU module on this host: reads the host's facts (discovery and the CDI specs) when a
// container asks, plans with the pure functions beside it, and fills in what only the host
// knows (device numbers, the container's library layout). Facts are read afresh each time,
// so a driver loaded or a spec generated after berthd started is seen without a restart.
import { posix } from 'node:path'
import { hasKind, type CdiDeviceNode } from './cdi.ts'
import {
  CDI_SPEC_DIRS,
  containerLayout,
  deviceNode,
  discoverNvidia,
  inRoot,
  loadCdiRegistry,
} from './host.ts'
import {
  NVIDIA_KIND,
  cdiEdits,
  combineEdits,
  discoveryEdits,
  fillNode,
  nvidiaAvailable,
  plan,
  planCdiEdits,
  type FilledNode,
  type HostFacts,
} from './plan.ts'
import { InvalidArgument } from '../errors.ts'
import {
  NVIDIA_RUNTIME,
  type GpuEdits,
  type GpuInventory,
  type GpuRequestInput,
  type Gpus,
} from './types.ts'

export interface LocalGpusOptions {
  /**
   * Where the host's files are: "/" on a real host. Tests point it at a fake root holding
   * device nodes, a linker cache and CDI specs; it is an internal setting, not a user flag.
   */
  hostRoot?: string
  cdiSpecDirs?: string[]
  /**
   * The daemon setting (--gpus-from-env): a container whose environment sets
   * NVIDIA_VISIBLE_DEVICES gets those GPUs without asking, as under NVIDIA's runtime.
   */
  fromEnv?: boolean
}

export class LocalGpus implements Gpus {
  readonly hostRoot: string
  readonly cdiSpecDirs: string[]
  readonly fromEnv: boolean

  constructor(opts: LocalGpusOptions = {}) {
    this.hostRoot = posix.resolve(opts.hostRoot ?? '/')
    this.cdiSpecDirs = opts.cdiSpecDirs ?? [...CDI_SPEC_DIRS]
    this.fromEnv = opts.fromEnv === true
  }

  private async facts(): Promise<HostFacts> {
    const [nvidia, cdi] = await Promise.all([
      discoverNvidia(this.hostRoot),
      loadCdiRegistry(this.hostRoot, this.cdiSpecDirs),
    ])
    return nvidia === undefined ? { cdi } : { nvidia, cdi }
  }

  async inventory(): Promise<GpuInventory> {
    const { nvidia, cdi } = await this.facts()
    const devices: GpuInventory['devices'] = [...cdi.devices.keys()]
      .sort()
      .map((id) => ({ id, source: 'cdi' }))
    const cdiForNvidia = hasKind(cdi, NVIDIA_KIND)
    if (nvidia !== undefined && !cdiForNvidia) {
      // Discovery answers to the CDI names NVIDIA's generator would write.
      const names = [
        'all',
        ...nvidia.gpus.flatMap((g) => [String(g.index), ...(g.uuid ? [g.uuid] : [])]),
      ]
      for (const n of names) devices.push({ id: `${NVIDIA_KIND}=${n}`, source: 'discovery' })
    }
    const inv: GpuInventory = {
      provider: cdiForNvidia ? 'cdi' : nvidia !== undefined ? 'discovery' : 'none',
      gpus: nvidia?.gpus ?? [],
      devices,
      cdiSpecDirs: [...this.cdiSpecDirs],
      warnings: [
        ...(nvidia?.warnings ?? []),
        ...cdi.errors.map((e) => `CDI: Error associated with spec file ${e.path}: ${e.message}`),
      ],
    }
    if (nvidia?.driverVersion !== undefined) inv.driverVersion = nvidia.driverVersion
    return inv
  }

  async check(input: GpuRequestInput): Promise<void> {
    const facts = await this.facts()
    // The runtime "nvidia" is there only where NVIDIA's driver is (dockerd's, when configured).
    if (input.nvidiaRuntime === true && !nvidiaAvailable(facts)) {
      throw new InvalidArgument(`unknown or invalid runtime name: ${NVIDIA_RUNTIME}`)
    }
    const p = plan(input, facts, this.fromEnv || input.nvidiaRuntime === true)
    if (p === undefined) return
    // CDI's device nodes must be readable on the host now, or the start would fail later.
    await this.fillCdiNodes(planCdiEdits(p).deviceNodes ?? [])
  }

  async edits(input: GpuRequestInput, rootfs: string): Promise<GpuEdits | undefined> {
    const facts = await this.facts()
    const p = plan(input, facts, this.fromEnv || input.nvidiaRuntime === true)
    if (p === undefined) return undefined
    let out: GpuEdits | undefined
    if (p.discovery !== undefined && facts.nvidia !== undefined) {
      const layout = await containerLayout(rootfs)
      out = discoveryEdits(facts.nvidia, p.discovery.gpus, p.discovery.capabilities, layout)
      out.env = [...p.env]
    }
    if (p.cdi.length > 0) {
      const merged = planCdiEdits(p)
      const nodes = await this.fillCdiNodes(merged.deviceNodes ?? [])
      const hostSide = new Map<string, string>()
      const paths = [
        ...(merged.mounts ?? []).map((m) => m.hostPath),
        ...(merged.hooks ?? []).map((h) => h.path),
      ]
      for (const path of paths) hostSide.set(path, await inRoot(this.hostRoot, path))
      const c = cdiEdits(
        p.cdi.map((d) => d.name),
        merged,
        nodes,
        (path) => hostSide.get(path) ?? path,
      )
      out = out === undefined ? c : combineEdits(out, c)
    }
    return out
  }

  private async fillCdiNodes(nodes: readonly CdiDeviceNode[]): Promise<FilledNode[]> {
    const filled: FilledNode[] = []
    for (const d of nodes) {
      const host = await deviceNode(this.hostRoot, d.hostPath || d.path)
      filled.push(fillNode(d, host))
    }
    return filled
  }
}
