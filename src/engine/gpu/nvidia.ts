// What NVIDIA's container toolkit knows, as data and pure functions: which driver files serve
// which capability (libnvidia-container's lists), and how a container's environment asks for
// GPUs (NVIDIA_VISIBLE_DEVICES, NVIDIA_DRIVER_CAPABILITIES), as the toolkit reads them.
import { InvalidArgument } from '../errors.ts'
import type { DriverCapability } from './types.ts'

export const ALL_CAPABILITIES: readonly DriverCapability[] = [
  'compute',
  'compat32',
  'display',
  'graphics',
  'ngx',
  'utility',
  'video',
]

/** The toolkit's default when an image names no capability. */
export const DEFAULT_CAPABILITIES: readonly DriverCapability[] = ['utility', 'compute']

/**
 * Driver libraries by what they serve (libnvidia-container's nvc_info.c), matched as
 * prefixes of the names in the linker cache. The display libraries (X server modules) and the
 * GLVND loaders are the host's business and stay out.
 */
export const LIBRARIES: Readonly<Record<string, readonly DriverCapability[]>> = {
  // utility
  'libnvidia-ml.so': ['utility'],
  'libnvidia-cfg.so': ['utility'],
  'libnvidia-nscq.so': ['utility'],
  // compute (video needs them too: NVENC and NVDEC run through CUDA)
  'libcuda.so': ['compute', 'video'],
  'libcudadebugger.so': ['compute', 'video'],
  'libnvidia-opencl.so': ['compute', 'video'],
  'libnvidia-gpucomp.so': ['compute', 'video'],
  'libnvidia-ptxjitcompiler.so': ['compute', 'video'],
  'libnvidia-fatbinaryloader.so': ['compute', 'video'],
  'libnvidia-allocator.so': ['compute', 'video'],
  'libnvidia-compiler.so': ['compute', 'video'],
  'libnvidia-pkcs11.so': ['compute', 'video'],
  'libnvidia-pkcs11-openssl3.so': ['compute', 'video'],
  'libnvidia-nvvm.so': ['compute', 'video'],
  'libnvidia-tileiras.so': ['compute', 'video'],
  // video
  'libvdpau_nvidia.so': ['video'],
  'libnvidia-encode.so': ['video'],
  'libnvidia-opticalflow.so': ['video'],
  'libnvcuvid.so': ['video'],
  // graphics (display implies graphics)
  'libnvidia-eglcore.so': ['graphics', 'display'],
  'libnvidia-glcore.so': ['graphics', 'display'],
  'libnvidia-tls.so': ['graphics', 'display'],
  'libnvidia-glsi.so': ['graphics', 'display'],
  'libnvidia-fbc.so': ['graphics', 'display'],
  'libnvidia-ifr.so': ['graphics', 'display'],
  'libnvidia-rtcore.so': ['graphics', 'display'],
  'libnvoptix.so': ['graphics', 'display'],
  'libGLX_nvidia.so': ['graphics', 'display'],
  'libEGL_nvidia.so': ['graphics', 'display'],
  'libGLESv2_nvidia.so': ['graphics', 'display'],
  'libGLESv1_CM_nvidia.so': ['graphics', 'display'],
  'libnvidia-glvkspirv.so': ['graphics', 'display'],
  'libnvidia-cbl.so': ['graphics', 'display'],
  // ngx
  'libnvidia-ngx.so': ['ngx'],
}

/** The libraries' names that match a linker cache key, longest prefix first. */
export function libraryFor(key: string): string | undefined {
  let best: string | undefined
  for (const name of Object.keys(LIBRARIES)) {
    if (key.startsWith(name) && (best === undefined || name.length > best.length)) best = name
  }
  return best
}

/** Driver binaries (nvidia-smi and friends) and the capability that brings each. */
export const BINARIES: Readonly<Record<string, DriverCapability>> = {
  'nvidia-smi': 'utility',
  'nvidia-debugdump': 'utility',
  'nvidia-persistenced': 'utility',
  'nv-fabricmanager': 'utility',
  'nvidia-cuda-mps-control': 'compute',
  'nvidia-cuda-mps-server': 'compute',
}

/** Where a host keeps binaries (a daemon's PATH). */
export const BINARY_DIRS = [
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/sbin',
  '/usr/bin',
  '/sbin',
  '/bin',
]

/** IPC endpoints of the driver's daemons, and the capability that mounts each. */
export const IPC_PATHS: Readonly<Record<string, DriverCapability>> = {
  '/var/run/nvidia-persistenced/socket': 'utility',
  '/var/run/nvidia-fabricmanager/socket': 'utility',
  '/tmp/nvidia-mps': 'compute',
}

/** NVIDIA's fixed device numbers (nvidia-modprobe). */
export const NVIDIA_MAJOR = 195
export const NVIDIA_CTL_MINOR = 255
export const NVIDIA_MODESET_MINOR = 254

/** What a container's environment asks of NVIDIA's driver. */
export interface NvidiaWants {
  /** 'all', 'none' (the driver's files but no GPU), or GPU indexes, UUIDs or bus IDs. */
  devices: 'all' | 'none' | string[]
  capabilities: DriverCapability[]
}

/** The environment as a map, later entries winning (as the toolkit reads a spec's env). */
export function envMap(env: readonly string[]): Map<string, string> {
  const m = new Map<string, string>()
  for (const e of env) {
    const i = e.indexOf('=')
    if (i > 0) m.set(e.slice(0, i), e.slice(i + 1))
  }
  return m
}

/** A "legacy" CUDA image sets CUDA_VERSION but not NVIDIA_REQUIRE_CUDA: it gets every GPU. */
function isLegacyImage(env: Map<string, string>): boolean {
  return (env.get('CUDA_VERSION') ?? '') !== '' && (env.get('NVIDIA_REQUIRE_CUDA') ?? '') === ''
}

/** Parses NVIDIA_DRIVER_CAPABILITIES' value ('all', or a comma list). */
export function parseCapabilities(value: string): DriverCapability[] {
  const asked = value
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '')
  if (asked.includes('all')) return [...ALL_CAPABILITIES]
  const unknown = asked.filter((c) => !(ALL_CAPABILITIES as readonly string[]).includes(c))
  if (unknown.length > 0) {
    throw new InvalidArgument(
      `unsupported capabilities found in '${asked.join(',')}' (allowed '${ALL_CAPABILITIES.join(',')}')`,
    )
  }
  return [...new Set(asked as DriverCapability[])].sort()
}

/**
 * What the environment asks for, as the toolkit reads it (internal/config/image): undefined
 * when the container is not a GPU container (NVIDIA_VISIBLE_DEVICES unset, empty or "void").
 */
export function nvidiaWants(env: readonly string[]): NvidiaWants | undefined {
  const m = envMap(env)
  const legacy = isLegacyImage(m)
  let ids: string[]
  const visible = m.get('NVIDIA_VISIBLE_DEVICES')
  if (visible === undefined) ids = legacy ? ['all'] : []
  else
    ids = visible
      .split(',')
      .map((d) => d.trim())
      .filter((d) => d !== '')
  if (ids.length === 0 || ids.includes('void')) return undefined
  let devices: NvidiaWants['devices'] = ids
  // The first special value decides, as NewVisibleDevices does.
  for (const id of ids) {
    if (id === 'all' || id === 'none') {
      devices = id
      break
    }
  }
  if (Array.isArray(devices)) devices = [...new Set(devices)]

  const capsValue = m.get('NVIDIA_DRIVER_CAPABILITIES')
  let capabilities: DriverCapability[]
  if (capsValue === undefined && legacy) capabilities = [...ALL_CAPABILITIES]
  else if (capsValue !== undefined && capsValue.trim() !== '')
    capabilities = parseCapabilities(capsValue)
  else capabilities = [...DEFAULT_CAPABILITIES].sort()
  return { devices, capabilities }
}

/**
 * The toolkit refuses MIG management in a container that is not privileged; so does berth
 * (and a privileged container has every device node already).
 */
export function checkMigRequests(env: readonly string[], privileged: boolean): void {
  if (privileged) return
  const m = envMap(env)
  for (const key of ['NVIDIA_MIG_CONFIG_DEVICES', 'NVIDIA_MIG_MONITOR_DEVICES']) {
    if ((m.get(key) ?? '') !== '') {
      throw new InvalidArgument(
        `cannot set ${key.replace('NVIDIA_', '')} in non privileged container`,
      )
    }
  }
}

/** The capabilities' union of what each set brings (video brings compute's libraries). */
export function serves(
  fileCaps: readonly DriverCapability[],
  wanted: readonly DriverCapability[],
): boolean {
  return fileCaps.some((c) => wanted.includes(c))
}
