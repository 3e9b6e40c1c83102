// The GPU module's data and interface: what the host offers (NVIDIA's driver found by
// discovery, devices named in CDI specs), what a container asks for (Docker's
// HostConfig.DeviceRequests, NVIDIA's variables in its environment), and the answer: a pure
// description of the edits its OCI spec needs. No I/O here.
import { InvalidArgument } from '../errors.ts'
import type { DeviceEdits } from '../runtime/types.ts'

/** One entry of HostConfig.DeviceRequests, as the Engine API defines it. */
export interface DeviceRequest {
  /** '' (choose by capabilities), 'nvidia', 'cdi', or another driver's name. */
  Driver: string
  /** -1 for all devices; N for the first N; 0 when DeviceIDs names them. */
  Count: number
  DeviceIDs: string[]
  /** An OR list of AND lists: [["gpu"]], [["compute","utility","gpu"]]. */
  Capabilities: string[][]
  Options: Record<string, string>
}

/** NVIDIA's driver capabilities (NVIDIA_DRIVER_CAPABILITIES), each a set of files. */
export type DriverCapability =
  'compute' | 'compat32' | 'graphics' | 'utility' | 'video' | 'display' | 'ngx'

/** One GPU the NVIDIA driver drives, numbered as nvidia-smi numbers them. */
export interface NvidiaGpu {
  /** nvidia-smi's index: the GPU's place in PCI bus order. */
  index: number
  /** The device node's minor: /dev/nvidia<minor>. */
  minor: number
  /** GPU-xxxxxxxx-...; absent when the driver's /proc files are not there. */
  uuid?: string
  /** PCI bus location, 0000:3b:00.0. */
  busId?: string
  model?: string
  /** The node on the host, or undefined when /dev/nvidia<minor> is missing. */
  node?: HostDeviceNode
}

/** A character or block device node on the host, as stat(2) reports it. */
export interface HostDeviceNode {
  /** Path on the host, inside the host root. */
  hostPath: string
  /** Path in the container (and on a real host). */
  path: string
  type: 'c' | 'b' | 'p'
  major: number
  minor: number
  fileMode: number
  uid: number
  gid: number
}

/** A driver file found on the host: a library, a binary, a firmware blob or an IPC path. */
export interface DriverFile {
  /** Where it is on the host (symlinks resolved), inside the host root. */
  hostPath: string
  /** Where it lives on a real host (the host root stripped), e.g. /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.14. */
  path: string
}

/** A driver library from the linker cache, with the names it is known by. */
export interface DriverLibrary extends DriverFile {
  /** The names the linker cache maps to it (its soname, a development link): libcuda.so.1, libcuda.so. */
  names: string[]
  /** The capabilities it serves (libnvidia-container's lists). */
  capabilities: DriverCapability[]
  /** A 32-bit library (served only with compat32). */
  lib32: boolean
}

export interface DriverBinary extends DriverFile {
  name: string
  capability: DriverCapability
}

export interface DriverIpc extends DriverFile {
  /** utility for the persistence and fabric manager sockets, compute for MPS. */
  capability: DriverCapability
}

/** NVIDIA's driver as discovery found it under a host root. */
export interface NvidiaHost {
  /** The kernel module's version (/proc/driver/nvidia/version), e.g. 550.54.14. */
  driverVersion?: string
  /** In nvidia-smi's order. */
  gpus: NvidiaGpu[]
  /** /dev/nvidiactl, /dev/nvidia-uvm, /dev/nvidia-uvm-tools, /dev/nvidia-modeset, when present. */
  control: {
    ctl?: HostDeviceNode
    uvm?: HostDeviceNode
    uvmTools?: HostDeviceNode
    modeset?: HostDeviceNode
  }
  /** /dev/nvidia-caps/* (MIG access), reported only. */
  caps: HostDeviceNode[]
  libraries: DriverLibrary[]
  binaries: DriverBinary[]
  firmware: DriverFile[]
  ipc: DriverIpc[]
  /** Things discovery could not use, for /info and the daemon's log. */
  warnings: string[]
}

/** Where a container's root filesystem keeps libraries (libnvidia-container's choice). */
export interface ContainerLayout {
  libDir: string
  lib32Dir: string
  binDir: string
}

/** Who provides a container's GPUs. */
export type GpuProvider = 'cdi' | 'discovery'

/**
 * The edits one container's OCI spec needs for its GPUs (the runtime's DeviceEdits, applied by
 * the spec builder), and where they came from. Device nodes carry their cgroup access.
 */
export interface GpuEdits extends DeviceEdits {
  /** What provided them, and the GPUs the container gets (for logs and the record). */
  providers: GpuProvider[]
  gpus: string[]
}

/** What the host offers, for /info and `berth info`. */
export interface GpuInventory {
  /** Who serves `--gpus`: a CDI spec for nvidia.com/gpu, else discovery, else nobody. */
  provider: GpuProvider | 'none'
  driverVersion?: string
  /** GPUs as discovery sees them. */
  gpus: NvidiaGpu[]
  /** Every CDI device, qualified (nvidia.com/gpu=0), and who provides it. */
  devices: { id: string; source: GpuProvider }[]
  cdiSpecDirs: string[]
  warnings: string[]
}

/** HostConfig.Runtime that asks for NVIDIA's runtime; /info lists it where there are GPUs. */
export const NVIDIA_RUNTIME = 'nvidia'

/** What one container asks for, as the spec builder knows it. */
export interface GpuRequestInput {
  deviceRequests: DeviceRequest[]
  /** The container's environment (image's and its own, in order; later entries win). */
  env: string[]
  privileged: boolean
  /**
   * The container asked for the runtime "nvidia" (`--runtime=nvidia`, nvidia-docker 2's way):
   * its environment's NVIDIA_VISIBLE_DEVICES gives it GPUs, as NVIDIA's runtime did.
   */
  nvidiaRuntime?: boolean
}

/** The GPU module as the container lifecycle and the API use it. */
export interface Gpus {
  inventory(): Promise<GpuInventory>
  /**
   * Checks a container's requests against the host at create, throwing in Docker's words, so
   * that a request that cannot be served leaves no container behind.
   */
  check(input: GpuRequestInput): Promise<void>
  /** The edits for a container at start, or undefined when it asks for no device. */
  edits(input: GpuRequestInput, rootfs: string): Promise<GpuEdits | undefined>
}

// HostConfig.DeviceRequests as a request body gives them (pure: here so that the container
// module reads them through this module's types.ts).
function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function stringList(v: unknown, field: string): string[] {
  if (v === null || v === undefined) return []
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    throw new InvalidArgument(`invalid DeviceRequests: ${field} must be a list of strings`)
  }
  return v
}

/** HostConfig.DeviceRequests from a request body; null and missing fields as Docker's zero values. */
export function parseDeviceRequests(v: unknown): DeviceRequest[] {
  if (v === null || v === undefined) return []
  if (!Array.isArray(v)) throw new InvalidArgument('invalid DeviceRequests: must be a list')
  return v.map((r): DeviceRequest => {
    if (!isRecord(r)) throw new InvalidArgument('invalid DeviceRequests: entries must be objects')
    const count = r.Count ?? 0
    if (typeof count !== 'number' || !Number.isInteger(count)) {
      throw new InvalidArgument('invalid DeviceRequests: Count must be an integer')
    }
    const driver = r.Driver ?? ''
    if (typeof driver !== 'string') {
      throw new InvalidArgument('invalid DeviceRequests: Driver must be a string')
    }
    const capsRaw = r.Capabilities ?? []
    if (!Array.isArray(capsRaw)) {
      throw new InvalidArgument('invalid DeviceRequests: Capabilities must be a list of lists')
    }
    const options: Record<string, string> = {}
    if (r.Options !== null && r.Options !== undefined) {
      if (!isRecord(r.Options)) {
        throw new InvalidArgument('invalid DeviceRequests: Options must be an object')
      }
      for (const [k, o] of Object.entries(r.Options)) {
        if (typeof o !== 'string') {
          throw new InvalidArgument('invalid DeviceRequests: Options values must be strings')
        }
        options[k] = o
      }
    }
    return {
      Driver: driver,
      Count: count,
      DeviceIDs: stringList(r.DeviceIDs, 'DeviceIDs'),
      Capabilities: capsRaw.map((c) => stringList(c, 'Capabilities')),
      Options: options,
    }
  })
}
