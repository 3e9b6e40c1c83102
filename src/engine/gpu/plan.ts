// From a container's requests and the host's facts to the edits of its OCI spec. Pure: the
// facts (discovery's findings, the CDI registry, the host's device nodes) come in as data.
import { posix } from 'node:path'
import type { Mount } from '../layer/types.ts'
import type { DeviceNode, HookStage, StagedHook } from '../runtime/types.ts'
import { InvalidArgument } from '../errors.ts'
import {
  hasKind,
  mergeEdits,
  parseQualifiedName,
  resolveDevices,
  type CdiContainerEdits,
  type CdiDevice,
  type CdiDeviceNode,
  type CdiRegistry,
  type LoadedSpec,
} from './cdi.ts'
import {
  DEFAULT_CAPABILITIES,
  checkMigRequests,
  nvidiaWants,
  serves,
  type NvidiaWants,
} from './nvidia.ts'
import { claimsFor } from './request.ts'
import type {
  ContainerLayout,
  DriverCapability,
  GpuEdits,
  GpuRequestInput,
  HostDeviceNode,
  NvidiaGpu,
  NvidiaHost,
} from './types.ts'

/** The CDI kind NVIDIA's generator writes, and the one `--gpus` maps to (as dockerd does). */
export const NVIDIA_KIND = 'nvidia.com/gpu'

export interface HostFacts {
  nvidia?: NvidiaHost
  cdi: CdiRegistry
}

/** What a container gets, before the host's device nodes are read and its rootfs looked at. */
export interface Plan {
  /** CDI devices to inject, in order. */
  cdi: { spec: LoadedSpec; device: CdiDevice; name: string }[]
  /** GPUs and capabilities served by discovery. */
  discovery?: { gpus: NvidiaGpu[]; capabilities: DriverCapability[] }
  /** Variables dockerd adds for a GPU request (NVIDIA_VISIBLE_DEVICES, ...). */
  env: string[]
}

/** Whether NVIDIA's driver is there for `--gpus`: a CDI spec for it, or the driver itself. */
export function nvidiaAvailable(facts: HostFacts): boolean {
  return hasKind(facts.cdi, NVIDIA_KIND) || facts.nvidia !== undefined
}

function setEnv(env: string[], key: string, value: string): void {
  const i = env.findIndex((e) => e.startsWith(`${key}=`))
  if (i >= 0) env.splice(i, 1)
  env.push(`${key}=${value}`)
}

const MIG_ID = /^(MIG-|\d+:\d+$)/i
const BUS_ID = /^(?:[0-9a-f]{4}|[0-9a-f]{8}):[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]$/i

function normalizeBusId(id: string): string {
  // nvidia-smi prints an 8-digit domain; /proc's files a 4-digit one.
  return id.toLowerCase().replace(/^0000([0-9a-f]{4}):/, '$1:')
}

/** The GPUs a list of IDs names: indexes, UUIDs or PCI bus IDs, as nvidia-container-cli takes them. */
export function selectGpus(host: NvidiaHost, devices: NvidiaWants['devices']): NvidiaGpu[] {
  if (devices === 'none') return []
  const picked = devices === 'all' ? [...host.gpus] : []
  if (devices !== 'all') {
    for (const id of devices) {
      let gpu: NvidiaGpu | undefined
      if (/^\d+$/.test(id)) gpu = host.gpus.find((g) => g.index === Number(id))
      else if (/^GPU-/i.test(id))
        gpu = host.gpus.find((g) => g.uuid?.toLowerCase() === id.toLowerCase())
      else if (BUS_ID.test(id)) {
        gpu = host.gpus.find(
          (g) => g.busId !== undefined && normalizeBusId(g.busId) === normalizeBusId(id),
        )
      } else if (MIG_ID.test(id)) {
        throw new InvalidArgument(
          `device error: ${id}: MIG devices are served through CDI: generate a spec with \`nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml\``,
        )
      }
      if (gpu === undefined) {
        const known = host.gpus.map((g) => (g.uuid ? `${g.index} (${g.uuid})` : String(g.index)))
        throw new InvalidArgument(
          `device error: ${id}: unknown device (this host's GPUs: ${known.length > 0 ? known.join(', ') : 'none'})`,
        )
      }
      if (!picked.includes(gpu)) picked.push(gpu)
    }
  }
  for (const g of picked) {
    if (g.node === undefined) {
      throw new InvalidArgument(
        `device error: ${g.index}: the device node /dev/nvidia${g.minor} is missing on the host (create it with nvidia-modprobe)`,
      )
    }
  }
  return picked
}

/**
 * What a container gets: its requests go to drivers as dockerd sends them; `--gpus` goes to a
 * CDI spec for nvidia.com/gpu when one exists and to discovery otherwise; the environment
 * (NVIDIA_VISIBLE_DEVICES, NVIDIA_DRIVER_CAPABILITIES) is read as NVIDIA's toolkit reads it.
 * With `fromEnv` (the daemon setting --gpus-from-env), a container whose environment asks for GPUs gets
 * them without a request, as under NVIDIA's runtime. Undefined when it asks for nothing.
 */
export function plan(input: GpuRequestInput, facts: HostFacts, fromEnv = false): Plan | undefined {
  checkMigRequests(input.env, input.privileged)
  const claims = claimsFor(input.deviceRequests, nvidiaAvailable(facts))
  const cdiForNvidia = hasKind(facts.cdi, NVIDIA_KIND)

  // dockerd adds the request's devices and capabilities to the container's environment.
  const env: string[] = []
  const ids: string[] = []
  const caps: DriverCapability[] = []
  let nvidiaClaimed = false
  const cdiNames: string[] = []
  for (const c of claims) {
    if (c.kind === 'cdi') {
      cdiNames.push(...c.names)
      continue
    }
    if (c.ids.length === 0) continue
    nvidiaClaimed = true
    for (const id of c.ids) if (!ids.includes(id)) ids.push(id)
    for (const cap of c.capabilities) if (!caps.includes(cap)) caps.push(cap)
  }
  const out: Plan = { cdi: [], env: [] }
  if (nvidiaClaimed) {
    const devices = ids.includes('all') ? ['all'] : ids
    if (cdiForNvidia) {
      cdiNames.push(...devices.map((id) => `${NVIDIA_KIND}=${id}`))
    } else {
      setEnv(env, 'NVIDIA_VISIBLE_DEVICES', devices.join(','))
      if (caps.length > 0) setEnv(env, 'NVIDIA_DRIVER_CAPABILITIES', caps.join(','))
      out.env = env
    }
  }

  // Discovery serves what the environment asks for (a request's variables included), and the
  // nvidia.com/gpu names when no CDI spec provides that kind.
  let wants: NvidiaWants | undefined
  if (!cdiForNvidia && (nvidiaClaimed || fromEnv)) {
    wants = nvidiaWants([...input.env, ...env])
  } else if (cdiForNvidia && fromEnv && !nvidiaClaimed) {
    const w = nvidiaWants(input.env)
    if (w !== undefined && w.devices !== 'none') {
      cdiNames.push(
        ...(w.devices === 'all' ? ['all'] : w.devices).map((id) => `${NVIDIA_KIND}=${id}`),
      )
    }
  }
  const viaDiscovery: string[] = []
  const viaCdi: string[] = []
  for (const name of cdiNames) {
    try {
      const q = parseQualifiedName(name)
      if (`${q.vendor}/${q.class}` === NVIDIA_KIND && !cdiForNvidia && facts.nvidia !== undefined) {
        if (!viaDiscovery.includes(q.name)) viaDiscovery.push(q.name)
        continue
      }
    } catch {
      // resolveDevices says what is wrong with the name.
    }
    if (!viaCdi.includes(name)) viaCdi.push(name)
  }
  if (viaDiscovery.length > 0) {
    const devices = viaDiscovery.includes('all') ? 'all' : viaDiscovery
    const base = nvidiaWants(input.env)
    if (wants === undefined || wants.devices === 'none') {
      wants = { devices, capabilities: base?.capabilities ?? [...DEFAULT_CAPABILITIES].sort() }
    } else if (wants.devices !== 'all') {
      wants = {
        ...wants,
        devices: devices === 'all' ? 'all' : [...new Set([...wants.devices, ...devices])],
      }
    }
  }
  out.cdi = resolveDevices(facts.cdi, viaCdi)
  if (wants !== undefined) {
    if (facts.nvidia === undefined) {
      // The daemon setting met an image asking for GPUs on a host without any.
      throw new InvalidArgument(
        `could not select device driver "" with capabilities: [[gpu]]: the image sets NVIDIA_VISIBLE_DEVICES but no NVIDIA driver was found`,
      )
    }
    out.discovery = {
      gpus: selectGpus(facts.nvidia, wants.devices),
      capabilities: wants.capabilities,
    }
  }
  if (out.cdi.length === 0 && out.discovery === undefined) return undefined
  return out
}

const RO_BIND = ['bind', 'ro', 'nosuid', 'nodev']

function nodeOf(n: HostDeviceNode, access: string): DeviceNode {
  return {
    path: n.path,
    type: n.type,
    major: n.major,
    minor: n.minor,
    fileMode: n.fileMode,
    uid: n.uid,
    gid: n.gid,
    access,
  }
}

/** Discovery's edits: the GPUs' nodes and the driver files their capabilities need, read-only. */
export function discoveryEdits(
  host: NvidiaHost,
  gpus: readonly NvidiaGpu[],
  caps: readonly DriverCapability[],
  layout: ContainerLayout,
): GpuEdits {
  // libnvidia-container's rules: the control node always, UVM with compute's libraries
  // (compute or video), modeset with display; each node allowed read and write.
  const devices: DeviceNode[] = []
  for (const g of gpus) if (g.node) devices.push(nodeOf(g.node, 'rw'))
  const { ctl, uvm, uvmTools, modeset } = host.control
  if (ctl) devices.push(nodeOf(ctl, 'rw'))
  if (caps.includes('compute') || caps.includes('video')) {
    if (uvm) devices.push(nodeOf(uvm, 'rw'))
    if (uvmTools) devices.push(nodeOf(uvmTools, 'rw'))
  }
  if (caps.includes('display') && modeset) devices.push(nodeOf(modeset, 'rw'))

  const mounts: Mount[] = []
  const seen = new Set<string>()
  const bind = (source: string, destination: string, extra: string[] = []) => {
    if (seen.has(destination)) return
    seen.add(destination)
    mounts.push({ type: 'bind', source, destination, options: [...RO_BIND, ...extra] })
  }
  for (const lib of host.libraries) {
    if (!serves(lib.capabilities, caps)) continue
    if (lib.lib32 && !caps.includes('compat32')) continue
    const dir = lib.lib32 ? layout.lib32Dir : layout.libDir
    // The file under its own name, and under each name the host's linker knows it by, so the
    // container's loader finds it in a system directory without running ldconfig.
    for (const name of [posix.basename(lib.path), ...lib.names]) {
      bind(lib.hostPath, posix.join(dir, name))
    }
  }
  for (const b of host.binaries) {
    if (caps.includes(b.capability)) bind(b.hostPath, posix.join(layout.binDir, b.name))
  }
  for (const f of host.firmware) bind(f.hostPath, f.path)
  for (const i of host.ipc) {
    if (caps.includes(i.capability)) bind(i.hostPath, i.path, ['noexec'])
  }
  return {
    devices,
    mounts,
    env: [],
    hooks: [],
    additionalGids: [],
    providers: ['discovery'],
    gpus: gpus.map((g) => (g.uuid ? `${g.index} (${g.uuid})` : String(g.index))),
  }
}

/** A CDI device node once the host's node has filled in what the spec left out. */
export interface FilledNode extends CdiDeviceNode {
  type: string
  major: number
  minor: number
}

/**
 * CDI's fillMissingInfo: type, numbers and mode from the host's node unless the spec gives
 * them. `host` is the node's stat, or an error message when it could not be read.
 */
export function fillNode(d: CdiDeviceNode, host: HostDeviceNode | string): FilledNode {
  const hostPath = d.hostPath || d.path
  const minimal = (d.type ?? '') !== '' && ((d.major ?? 0) !== 0 || d.type === 'p')
  if (typeof host === 'string') {
    if (!minimal) {
      throw new InvalidArgument(`failed to stat CDI host device "${hostPath}": ${host}`)
    }
    return { ...d, hostPath, type: d.type as string, major: d.major ?? 0, minor: d.minor ?? 0 }
  }
  const out: CdiDeviceNode = { ...d, hostPath }
  out.fileMode ??= host.fileMode
  if (minimal) return out as FilledNode
  out.type = d.type || host.type
  if (out.type !== host.type) {
    throw new InvalidArgument(
      `CDI device ("${d.path}", "${hostPath}"), host type mismatch (${out.type}, ${host.type})`,
    )
  }
  if (out.type !== 'p' && (d.major ?? 0) === 0) {
    out.major = host.major
    out.minor = host.minor
  }
  return { ...out, type: out.type, major: out.major ?? 0, minor: out.minor ?? 0 } as FilledNode
}

function depth(p: string): number {
  return (posix.normalize(p).match(/\//g) ?? []).length
}

/**
 * CDI's edits as berth's: `nodes` are the merged edits' device nodes, filled; `hostSide` maps
 * a host path into the host root. Mounts are ordered by depth as CDI orders them.
 */
export function cdiEdits(
  names: readonly string[],
  merged: CdiContainerEdits,
  nodes: readonly FilledNode[],
  hostSide: (p: string) => string,
): GpuEdits {
  if (merged.intelRdt !== undefined) {
    throw new InvalidArgument(
      `CDI device injection failed: ${names.join(', ')}: intelRdt edits are not supported by berth`,
    )
  }
  if ((merged.netDevices?.length ?? 0) > 0) {
    throw new InvalidArgument(
      `CDI device injection failed: ${names.join(', ')}: netDevices edits are not supported by berth`,
    )
  }
  const devices: DeviceNode[] = []
  for (const n of nodes) {
    const i = devices.findIndex((d) => d.path === n.path)
    if (i >= 0) devices.splice(i, 1)
    const perms = n.permissions ?? ''
    const access =
      n.type === 'b' || n.type === 'c' ? (perms === '' ? 'rwm' : perms === 'none' ? '' : perms) : ''
    const node: DeviceNode = {
      path: n.path,
      type: n.type as DeviceNode['type'],
      major: n.major,
      minor: n.minor,
      access,
    }
    if (n.fileMode !== undefined) node.fileMode = n.fileMode
    if (n.uid !== undefined) node.uid = n.uid
    if (n.gid !== undefined) node.gid = n.gid
    devices.push(node)
  }
  let mounts: Mount[] = []
  for (const m of merged.mounts ?? []) {
    mounts = mounts.filter((x) => x.destination !== m.containerPath)
    const options = [...(m.options ?? [])]
    const type = m.type || (options.includes('bind') || options.includes('rbind') ? 'bind' : '')
    mounts.push({ type, source: hostSide(m.hostPath), destination: m.containerPath, options })
  }
  mounts = mounts
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i)
    .map(({ m }) => m)
  const hooks: StagedHook[] = (merged.hooks ?? []).map((h) => {
    const hook: StagedHook = { stage: h.hookName as HookStage, path: hostSide(h.path) }
    if (h.args !== undefined) hook.args = [...h.args]
    if (h.env !== undefined) hook.env = [...h.env]
    if (h.timeout !== undefined) hook.timeout = h.timeout
    return hook
  })
  const gids: number[] = []
  for (const g of merged.additionalGids ?? []) if (g !== 0 && !gids.includes(g)) gids.push(g)
  return {
    devices,
    mounts,
    env: [...(merged.env ?? [])],
    hooks,
    additionalGids: gids,
    providers: ['cdi'],
    gpus: [...names],
  }
}

/** CDI's merged edits of a plan (for the caller to fill the device nodes of). */
export function planCdiEdits(p: Plan): CdiContainerEdits {
  return mergeEdits(p.cdi)
}

/** Two sets of edits as one: later devices and mounts replace earlier ones at the same path. */
export function combineEdits(a: GpuEdits, b: GpuEdits): GpuEdits {
  const devices = [
    ...a.devices.filter((d) => !b.devices.some((x) => x.path === d.path)),
    ...b.devices,
  ]
  const mounts = [
    ...a.mounts.filter((m) => !b.mounts.some((x) => x.destination === m.destination)),
    ...b.mounts,
  ]
  const gids = [...a.additionalGids]
  for (const g of b.additionalGids) if (!gids.includes(g)) gids.push(g)
  return {
    devices,
    mounts,
    env: [...a.env, ...b.env],
    hooks: [...a.hooks, ...b.hooks],
    additionalGids: gids,
    providers: [...new Set([...a.providers, ...b.providers])],
    gpus: [...a.gpus, ...b.gpus],
  }
}
