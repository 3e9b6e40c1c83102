// Reads the host's GPU facts under a host root ("/" on a real host; a fake root in tests):
// NVIDIA's driver as libnvidia-container finds it (its /proc files, device nodes, the linker
// cache, binaries, firmware, IPC endpoints), the CDI spec directories, and a container's
// library layout. Reading only; every path stays inside the root.
import { lstat, readFile, readdir, stat } from 'node:fs/promises'
import { posix } from 'node:path'
import { errnoCode, isBerthError } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import { devMajorMinor } from '../runtime/host.ts'
import { buildRegistry, loadSpec, type CdiRegistry, type LoadedSpec } from './cdi.ts'
import { lib32Flags, nativeLibFlags, parseLdCache } from './ldcache.ts'
import { BINARIES, BINARY_DIRS, IPC_PATHS, LIBRARIES, libraryFor } from './nvidia.ts'
import type {
  ContainerLayout,
  DriverBinary,
  DriverFile,
  DriverIpc,
  DriverLibrary,
  HostDeviceNode,
  NvidiaGpu,
  NvidiaHost,
} from './types.ts'

/** The CDI spec directories, in priority order (a later one overrides an earlier one). */
export const CDI_SPEC_DIRS = ['/etc/cdi', '/var/run/cdi']

/** A host path (as a real host names it) inside the root, symlinks resolved within it. */
export function inRoot(root: string, p: string): Promise<string> {
  return resolveInRoot(root, p)
}

/** inRoot, or undefined where the path cannot be resolved (a symlink loop). */
async function tryInRoot(root: string, p: string): Promise<string | undefined> {
  try {
    return await resolveInRoot(root, p)
  } catch {
    return undefined
  }
}

/** The path a real host would name a path inside the root by. */
function hostView(root: string, hostPath: string): string {
  return posix.join('/', posix.relative(root, hostPath))
}

async function readText(path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined
    throw err
  }
}

async function list(dir: string | undefined): Promise<string[]> {
  if (dir === undefined) return []
  try {
    return (await readdir(dir)).sort()
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return []
    throw err
  }
}

/** The device node at a path (as the host names it), or a reason it is not one. */
export async function deviceNode(root: string, path: string): Promise<HostDeviceNode | string> {
  const hostPath = await tryInRoot(root, path)
  if (hostPath === undefined) return 'too many levels of symbolic links'
  let st
  try {
    st = await lstat(hostPath, { bigint: true })
  } catch (err) {
    return errnoCode(err) === 'ENOENT' ? 'no such file or directory' : String(err)
  }
  let type: HostDeviceNode['type']
  if (st.isCharacterDevice()) type = 'c'
  else if (st.isBlockDevice()) type = 'b'
  else if (st.isFIFO()) type = 'p'
  else return 'not a device node'
  return {
    hostPath,
    path,
    type,
    ...devMajorMinor(st.rdev),
    fileMode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  }
}

async function charNode(root: string, path: string): Promise<HostDeviceNode | undefined> {
  const n = await deviceNode(root, path)
  return typeof n !== 'string' && n.type === 'c' ? n : undefined
}

async function regularFile(root: string, path: string): Promise<DriverFile | undefined> {
  const hostPath = await tryInRoot(root, path)
  if (hostPath === undefined) return undefined
  try {
    if (!(await stat(hostPath)).isFile()) return undefined
  } catch {
    return undefined
  }
  return { hostPath, path: hostView(root, hostPath) }
}

/** The kernel module's version from /proc/driver/nvidia/version's text. */
export function parseDriverVersion(text: string): string | undefined {
  return /Kernel Module(?:\s+for\s+\S+)?\s+(\d+(?:\.\d+)+)/.exec(text)?.[1]
}

/** "Key: value" lines of /proc/driver/nvidia/gpus/BUS/information. */
export function parseGpuInformation(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim()
  }
  return out
}

async function findGpus(root: string, warnings: string[]): Promise<NvidiaGpu[]> {
  const procDir = await tryInRoot(root, '/proc/driver/nvidia/gpus')
  const found: Omit<NvidiaGpu, 'index'>[] = []
  for (const bus of await list(procDir)) {
    const text = await readText(posix.join(procDir as string, bus, 'information'))
    if (text === undefined) continue
    const info = parseGpuInformation(text)
    const minor = Number(info['Device Minor'])
    if (!Number.isInteger(minor)) {
      warnings.push(`GPU at ${bus}: no device minor in its information file`)
      continue
    }
    const g: Omit<NvidiaGpu, 'index'> = {
      minor,
      busId: (info['Bus Location'] || bus).toLowerCase(),
    }
    if (info['GPU UUID']) g.uuid = info['GPU UUID']
    if (info.Model) g.model = info.Model
    const node = await charNode(root, `/dev/nvidia${minor}`)
    if (node) g.node = node
    else warnings.push(`GPU ${g.uuid ?? bus}: /dev/nvidia${minor} is missing`)
    found.push(g)
  }
  if (found.length > 0) {
    // NVML (and so nvidia-smi) numbers GPUs in PCI bus order.
    found.sort((a, b) => ((a.busId as string) < (b.busId as string) ? -1 : 1))
    return found.map((g, index) => ({ index, ...g }))
  }
  // Without the driver's /proc files (some containerised hosts), the device nodes are all
  // there is: numbered by minor.
  const nodes: HostDeviceNode[] = []
  for (const name of await list(await tryInRoot(root, '/dev'))) {
    if (!/^nvidia\d+$/.test(name)) continue
    const n = await charNode(root, `/dev/${name}`)
    if (n) nodes.push(n)
  }
  nodes.sort((a, b) => a.minor - b.minor)
  return nodes.map((node, index) => ({ index, minor: node.minor, node }))
}

async function findLibraries(
  root: string,
  version: string | undefined,
  warnings: string[],
): Promise<{ libraries: DriverLibrary[]; version?: string }> {
  let buf: Buffer
  try {
    buf = await readFile(await inRoot(root, '/etc/ld.so.cache'))
  } catch (err) {
    const why = isBerthError(err) ? err.message : (errnoCode(err) ?? String(err))
    warnings.push(`no linker cache at /etc/ld.so.cache (${why}): no driver libraries`)
    return { libraries: [] }
  }
  let entries
  try {
    entries = parseLdCache(buf)
  } catch (err) {
    warnings.push(`/etc/ld.so.cache: ${(err as Error).message}`)
    return { libraries: [] }
  }
  const native = nativeLibFlags()
  const lib32 = lib32Flags()
  const byPath = new Map<string, DriverLibrary>()
  for (const e of entries) {
    const isNative = e.flags === native
    const is32 = lib32 !== undefined && e.flags === lib32
    if (!isNative && !is32) continue
    const name = libraryFor(e.key)
    if (name === undefined) continue
    const file = await regularFile(root, e.path)
    if (file === undefined) continue
    const key = `${is32 ? '32' : '64'}:${file.path}`
    let lib = byPath.get(key)
    if (lib === undefined) {
      lib = { ...file, names: [], capabilities: [...(LIBRARIES[name] ?? [])], lib32: is32 }
      byPath.set(key, lib)
    }
    if (!lib.names.includes(e.key)) lib.names.push(e.key)
  }
  // Only the driver's own version, as libnvidia-container selects them: an older driver's
  // leftovers in the cache stay out. Without /proc's version, libcuda's name tells it.
  const v =
    version ??
    [...byPath.values()]
      .filter((l) => !l.lib32 && l.names.some((n) => n.startsWith('libcuda.so')))
      .map((l) => /\.so\.(\d+\.\d+(?:\.\d+)?)$/.exec(l.path)?.[1])
      .find((x) => x !== undefined)
  const libraries = [...byPath.values()].filter((l) => v === undefined || l.path.endsWith(`.${v}`))
  libraries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return v === undefined ? { libraries } : { libraries, version: v }
}

async function findBinaries(root: string): Promise<DriverBinary[]> {
  const out: DriverBinary[] = []
  for (const [name, capability] of Object.entries(BINARIES)) {
    for (const dir of BINARY_DIRS) {
      const f = await regularFile(root, posix.join(dir, name))
      if (f) {
        out.push({ ...f, name, capability })
        break
      }
    }
  }
  return out
}

async function findFirmware(root: string, version: string | undefined): Promise<DriverFile[]> {
  if (version === undefined) return []
  const dir = `/lib/firmware/nvidia/${version}`
  const out: DriverFile[] = []
  for (const name of await list(await tryInRoot(root, dir))) {
    if (!/^gsp.*\.bin$/.test(name)) continue
    const f = await regularFile(root, posix.join(dir, name))
    // Mounted where the driver looks for it, under the host's own path.
    if (f) out.push({ hostPath: f.hostPath, path: posix.join(dir, name) })
  }
  return out
}

async function findIpc(root: string): Promise<DriverIpc[]> {
  const out: DriverIpc[] = []
  for (const [path, capability] of Object.entries(IPC_PATHS)) {
    const hostPath = await tryInRoot(root, path)
    if (hostPath === undefined) continue
    try {
      await lstat(hostPath)
    } catch {
      continue
    }
    out.push({ hostPath, path, capability })
  }
  return out
}

/**
 * NVIDIA's driver under a host root, or undefined when there is none (no /proc files, no
 * control node, no GPU node).
 */
export async function discoverNvidia(root: string): Promise<NvidiaHost | undefined> {
  const warnings: string[] = []
  const versionText = await readText(await tryInRoot(root, '/proc/driver/nvidia/version'))
  const version = versionText === undefined ? undefined : parseDriverVersion(versionText)
  const gpus = await findGpus(root, warnings)
  const control: NvidiaHost['control'] = {}
  const ctl = await charNode(root, '/dev/nvidiactl')
  if (ctl) control.ctl = ctl
  const uvm = await charNode(root, '/dev/nvidia-uvm')
  if (uvm) control.uvm = uvm
  const uvmTools = await charNode(root, '/dev/nvidia-uvm-tools')
  if (uvmTools) control.uvmTools = uvmTools
  const modeset = await charNode(root, '/dev/nvidia-modeset')
  if (modeset) control.modeset = modeset
  if (versionText === undefined && ctl === undefined && gpus.length === 0) return undefined
  if (ctl === undefined) warnings.push('/dev/nvidiactl is missing: CUDA cannot reach the driver')

  const caps: HostDeviceNode[] = []
  for (const name of await list(await tryInRoot(root, '/dev/nvidia-caps'))) {
    const n = await charNode(root, `/dev/nvidia-caps/${name}`)
    if (n) caps.push(n)
  }
  const libs = await findLibraries(root, version, warnings)
  const host: NvidiaHost = {
    gpus,
    control,
    caps,
    libraries: libs.libraries,
    binaries: await findBinaries(root),
    firmware: await findFirmware(root, libs.version),
    ipc: await findIpc(root),
    warnings,
  }
  if (libs.version !== undefined) host.driverVersion = libs.version
  return host
}

/** Every spec in the CDI directories under the root; unusable files are recorded, not thrown. */
export async function loadCdiRegistry(
  root: string,
  dirs: readonly string[] = CDI_SPEC_DIRS,
): Promise<CdiRegistry> {
  const loaded: (LoadedSpec | { path: string; error: string })[] = []
  for (const [priority, dir] of dirs.entries()) {
    const hostDir = await tryInRoot(root, dir)
    if (hostDir === undefined) continue
    for (const name of await list(hostDir)) {
      const ext = posix.extname(name)
      if (ext !== '.json' && ext !== '.yaml') continue
      const path = posix.join(dir, name)
      let text: string
      try {
        const hostPath = posix.join(hostDir, name)
        if ((await stat(hostPath)).isDirectory()) continue
        text = await readFile(hostPath, 'utf8')
      } catch (err) {
        loaded.push({ path, error: `failed to read CDI Spec "${path}": ${String(err)}` })
        continue
      }
      try {
        loaded.push(loadSpec(text, path, priority))
      } catch (err) {
        loaded.push({ path, error: (err as Error).message })
      }
    }
  }
  return buildRegistry(dirs, loaded)
}

const TRIPLETS: Record<string, [string, string | undefined]> = {
  x64: ['x86_64-linux-gnu', 'i386-linux-gnu'],
  arm64: ['aarch64-linux-gnu', undefined],
  ppc64: ['powerpc64le-linux-gnu', undefined],
}

async function existsIn(rootfs: string, p: string): Promise<string | undefined> {
  const real = await resolveInRoot(rootfs, p)
  try {
    await stat(real)
    return real
  } catch {
    return undefined
  }
}

/**
 * Where the container's distribution keeps libraries, as libnvidia-container decides:
 * Debian's multiarch directories when /etc/debian_version is there, else /usr/lib64 (and
 * /usr/lib32 or /usr/lib for 32-bit ones).
 */
export async function containerLayout(
  rootfs: string,
  arch: string = process.arch,
): Promise<ContainerLayout> {
  const [triplet, triplet32] = TRIPLETS[arch] ?? [undefined, undefined]
  if (triplet !== undefined && (await existsIn(rootfs, '/etc/debian_version')) !== undefined) {
    return {
      libDir: `/usr/lib/${triplet}`,
      lib32Dir: `/usr/lib/${triplet32 ?? triplet}`,
      binDir: '/usr/bin',
    }
  }
  let lib32Dir = '/usr/lib32'
  if ((await existsIn(rootfs, '/usr/lib32')) === undefined) {
    const alt = await existsIn(rootfs, '/usr/lib')
    if (alt !== undefined && alt !== (await existsIn(rootfs, '/usr/lib64'))) lib32Dir = '/usr/lib'
  }
  return { libDir: '/usr/lib64', lib32Dir, binDir: '/usr/bin' }
}
