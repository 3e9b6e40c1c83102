// Reads the host's GPU facts under a host root ("/" on a real host; a fake root in tests):
// NVIDIA's driver as libnvidia-container finds it (its /proc files, device nodes, the linker
// cache, binaries, firmware, IPC endpoints), the CDI spec directories, and a container's
// library layout. Reading only; every path stays inside the root.
import { lstat, readFile, readdir, stat } from 'node:fs/promises'
import { posix } from 'node:path'
import { errnoCode, isBerthError } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import { devMajorMinor } from '../sys/libc.ts'
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
  const buses = await list(procDir)
  // Read at once; warnings kept in bus order.
  const notes: string[][] = buses.map(() => [])
  const read = async (bus: string, i: number): Promise<Omit<NvidiaGpu, 'index'> | undefined> => {
    const warn = (w: string) => notes[i]?.push(w)
    const text = await readText(posix.join(procDir as string, bus, 'information'))
    if (text === undefined) return undefined
    const info = parseGpuInformation(text)
    const minor = Number(info['Device Minor'])
    if (!Number.isInteger(minor)) {
      warn(`GPU at ${bus}: no device minor in its information file`)
      return undefined
    }
    const g: Omit<NvidiaGpu, 'index'> = {
      minor,
      busId: (info['Bus Location'] || bus).toLowerCase(),
    }
    if (info['GPU UUID']) g.uuid = info['GPU UUID']
    if (info.Model) g.model = info.Model
    const node = await charNode(root, `/dev/nvidia${minor}`)
    if (node) g.node = node
    else warn(`GPU ${g.uuid ?? bus}: /dev/nvidia${minor} is missing`)
    return g
  }
  const found = (await Promise.all(buses.map(read))).filter(
    (g): g is Omit<NvidiaGpu, 'index'> => g !== undefined,
  )
  warnings.push(...notes.flat())
  if (found.length > 0) {
    // NVML (and so nvidia-smi) numbers GPUs in PCI bus order.
    found.sort((a, b) => ((a.busId as string) < (b.busId as string) ? -1 : 1))
    return found.map((g, index) => ({ index, ...g }))
  }
  // Without the driver's /proc files (some containerised hosts), the device nodes are all
  // there is: numbered by minor.
  const names = (await list(await tryInRoot(root, '/dev'))).filter((n) => /^nvidia\d+$/.test(n))
  const nodes = (await Promise.all(names.map((n) => charNode(root, `/dev/${n}`)))).filter(
    (n): n is HostDeviceNode => n !== undefined,
  )
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
  const wanted = entries.filter(
    (e) => (e.flags === native || e.flags === lib32) && libraryFor(e.key) !== undefined,
  )
  const files = await Promise.all(wanted.map((e) => regularFile(root, e.path)))
  const byPath = new Map<string, DriverLibrary>()
  for (const [i, e] of wanted.entries()) {
    const is32 = e.flags !== native
    const name = libraryFor(e.key) as string
    const file = files[i]
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
  // The first of the PATH directories that has it, as a shell would find it.
  const found = await Promise.all(
    Object.entries(BINARIES).map(async ([name, capability]) => {
      const hits = await Promise.all(BINARY_DIRS.map((d) => regularFile(root, posix.join(d, name))))
      const f = hits.find((h) => h !== undefined)
      return f && { ...f, name, capability }
    }),
  )
  return found.filter((b): b is DriverBinary => b !== undefined)
}

async function findFirmware(root: string, version: string | undefined): Promise<DriverFile[]> {
  if (version === undefined) return []
  const dir = `/lib/firmware/nvidia/${version}`
  const names = (await list(await tryInRoot(root, dir))).filter((n) => /^gsp.*\.bin$/.test(n))
  const files = await Promise.all(names.map((n) => regularFile(root, posix.join(dir, n))))
  // Mounted where the driver looks for it, under the host's own path.
  return names.flatMap((n, i) => {
    const f = files[i]
    return f ? [{ hostPath: f.hostPath, path: posix.join(dir, n) }] : []
  })
}

async function findIpc(root: string): Promise<DriverIpc[]> {
  const found = await Promise.all(
    Object.entries(IPC_PATHS).map(async ([path, capability]) => {
      const hostPath = await tryInRoot(root, path)
      if (hostPath === undefined) return undefined
      try {
        await lstat(hostPath)
      } catch {
        return undefined
      }
      return { hostPath, path, capability }
    }),
  )
  return found.filter((i): i is DriverIpc => i !== undefined)
}

/**
 * NVIDIA's driver under a host root, or undefined when there is none (no /proc files, no
 * control node, no GPU node).
 */
export async function discoverNvidia(root: string): Promise<NvidiaHost | undefined> {
  const warnings: string[] = []
  const [versionText, gpus, ctl, uvm, uvmTools, modeset] = await Promise.all([
    tryInRoot(root, '/proc/driver/nvidia/version').then(readText),
    findGpus(root, warnings),
    charNode(root, '/dev/nvidiactl'),
    charNode(root, '/dev/nvidia-uvm'),
    charNode(root, '/dev/nvidia-uvm-tools'),
    charNode(root, '/dev/nvidia-modeset'),
  ])
  if (versionText === undefined && ctl === undefined && gpus.length === 0) return undefined
  if (ctl === undefined) warnings.push('/dev/nvidiactl is missing: CUDA cannot reach the driver')
  const control: NvidiaHost['control'] = {}
  if (ctl) control.ctl = ctl
  if (uvm) control.uvm = uvm
  if (uvmTools) control.uvmTools = uvmTools
  if (modeset) control.modeset = modeset

  const version = versionText === undefined ? undefined : parseDriverVersion(versionText)
  const capNames = await list(await tryInRoot(root, '/dev/nvidia-caps'))
  const [caps, libs, binaries, ipc] = await Promise.all([
    Promise.all(capNames.map((n) => charNode(root, `/dev/nvidia-caps/${n}`))),
    findLibraries(root, version, warnings),
    findBinaries(root),
    findIpc(root),
  ])
  const host: NvidiaHost = {
    gpus,
    control,
    caps: caps.filter((c): c is HostDeviceNode => c !== undefined),
    libraries: libs.libraries,
    binaries,
    firmware: await findFirmware(root, libs.version),
    ipc,
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
