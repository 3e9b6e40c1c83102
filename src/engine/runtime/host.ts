// Facts about the host that confinement depends on: the capabilities it holds, its hard
// resource limits, its CPUs, an init binary, and its device nodes. Read once and cached.
import { constants as fsc } from 'node:fs'
import { access, lstat, readFile, readdir } from 'node:fs/promises'
import { availableParallelism, release } from 'node:os'
import { join } from 'node:path'
import { capsFromMask } from '../caps.ts'
import { InvalidArgument, NotFound } from '../errors.ts'
import type { HostFacts } from '../host/types.ts'
import { nativeArch } from '../seccomp.ts'
import { devMajorMinor } from '../sys/libc.ts'
import type { DeviceNode, HostDevices } from './types.ts'

// /proc/<pid>/limits row titles → Docker's ulimit names.
const LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'cpu',
  'Max file size': 'fsize',
  'Max data size': 'data',
  'Max stack size': 'stack',
  'Max core file size': 'core',
  'Max resident set': 'rss',
  'Max processes': 'nproc',
  'Max open files': 'nofile',
  'Max locked memory': 'memlock',
  'Max address space': 'as',
  'Max file locks': 'locks',
  'Max pending signals': 'sigpending',
  'Max msgqueue size': 'msgqueue',
  'Max nice priority': 'nice',
  'Max realtime priority': 'rtprio',
  'Max realtime timeout': 'rttime',
}

/** Hard limits from the text of /proc/<pid>/limits; unlimited ones are left out. */
export function parseProcLimits(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const title = Object.keys(LIMIT_NAMES).find((t) => line.startsWith(t))
    if (!title) continue
    const [, hard] = line.slice(title.length).trim().split(/\s+/)
    if (hard !== undefined && /^\d+$/.test(hard)) out[LIMIT_NAMES[title] as string] = Number(hard)
  }
  return out
}

/** The CapBnd mask from the text of /proc/<pid>/status. */
export function parseCapBnd(status: string): string {
  return /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0'
}

// tini-static and catatonit are static, so they run in any root filesystem (busybox too);
// Debian's plain tini is dynamic and works only where glibc is.
const INIT_CANDIDATES = ['/usr/bin/tini-static', '/usr/bin/catatonit', '/usr/bin/tini']

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, fsc.X_OK)
    return true
  } catch {
    return false
  }
}

async function readFacts(): Promise<HostFacts> {
  const [status, limits] = await Promise.all([
    readFile('/proc/self/status', 'utf8'),
    readFile('/proc/self/limits', 'utf8'),
  ])
  const facts: HostFacts = {
    capabilities: capsFromMask(parseCapBnd(status)),
    hardLimits: parseProcLimits(limits),
    cpus: availableParallelism(),
    arch: nativeArch(),
    kernel: release(),
  }
  for (const p of INIT_CANDIDATES) {
    if (await executable(p)) {
      facts.initPath = p
      break
    }
  }
  return facts
}

let cached: Promise<HostFacts> | undefined

export function hostFacts(): Promise<HostFacts> {
  cached ??= readFacts().catch((err: unknown) => {
    cached = undefined
    throw err
  })
  return cached
}

async function nodeAt(path: string, dest: string, access: string): Promise<DeviceNode | undefined> {
  const st = await lstat(path, { bigint: true })
  let type: DeviceNode['type']
  if (st.isCharacterDevice()) type = 'c'
  else if (st.isBlockDevice()) type = 'b'
  else if (st.isFIFO()) type = 'p'
  else return undefined
  return {
    path: dest,
    type,
    ...devMajorMinor(st.rdev),
    fileMode: Number(st.mode & 0o777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    access,
  }
}

// runc's HostDevices skips these under /dev.
const SKIP_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev'])

/** Every device node under /dev (for --privileged), as runc's HostDevices lists them. */
export async function hostDevices(root = '/dev'): Promise<DeviceNode[]> {
  const out: DeviceNode[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const ent of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, ent.name)
      if (ent.isDirectory()) {
        if (!SKIP_DIRS.has(ent.name)) await walk(p)
        continue
      }
      if (p === '/dev/console' || !(ent.isCharacterDevice() || ent.isBlockDevice())) continue
      const node = await nodeAt(p, p, 'rwm').catch(() => undefined)
      if (node) out.push(node)
    }
  }
  await walk(root)
  return out
}

/**
 * The nodes for `--device HOST[:CONTAINER][:PERMS]` (moby's DevicesFromPath): one device, or
 * every device under a directory.
 */
export async function devicesFromPath(
  hostPath: string,
  containerPath: string,
  perms: string,
): Promise<DeviceNode[]> {
  const dest = containerPath || hostPath
  let st
  try {
    st = await lstat(hostPath)
  } catch {
    throw new NotFound(
      `error gathering device information while adding custom device "${hostPath}": no such file or directory`,
    )
  }
  if (!st.isDirectory()) {
    const node = await nodeAt(hostPath, dest, perms)
    if (!node) {
      throw new InvalidArgument(
        `error gathering device information while adding custom device "${hostPath}": not a device node`,
      )
    }
    return [node]
  }
  const out: DeviceNode[] = []
  for (const node of await hostDevices(hostPath)) {
    out.push({ ...node, path: join(dest, node.path.slice(hostPath.length)), access: perms })
  }
  return out
}

/** The host's device nodes, for a container's start (container/confine.ts). */
export const localDevices: HostDevices = { all: () => hostDevices(), fromPath: devicesFromPath }
