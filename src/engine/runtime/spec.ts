// Builds runc's config.json from a container's description, with Docker's defaults
// (moby's oci/defaults.go and daemon/oci_linux.go). Pure: no I/O, so it is table-tested.
import { release } from 'node:os'
import type { Mount } from '../layer/types.ts'
import { DEFAULT_CGROUP_PARENT, containerCgroupsPath } from '../host/types.ts'
import { DEFAULT_CAPABILITIES } from '../caps.ts'
import {
  defaultSeccomp,
  nativeArch,
  parseSeccompProfile,
  resolveSeccompProfile,
} from '../seccomp.ts'
import { applyEdits, specEdits } from './edits.ts'
import type {
  Spec,
  SpecCapabilities,
  SpecDevice,
  SpecDeviceRule,
  SpecInput,
  SpecLinux,
  SpecLinuxResources,
  SpecProcess,
  SpecSeccomp,
} from './types.ts'
import { DEFAULT_SHM_SIZE } from './types.ts'

// The spec's types live in types.ts; these names are kept for the modules that use them.
export type {
  Spec as OciSpec,
  SpecProcess as OciProcess,
  SpecCapabilities as OciCapabilities,
  SpecLinux as OciLinux,
  SpecLinuxResources as OciResources,
  SpecDeviceRule as OciDeviceRule,
  SpecDevice as OciDevice,
  SpecSeccomp as OciSeccomp,
}

export const OCI_VERSION = '1.0.2'

export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
]

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]

/**
 * Docker's cgroupfs layout is `/docker/<id>`; ours is `/berth/<id>`. Absolute, so the
 * container's cgroup does not nest under berthd's (a service manager stopping berthd
 * must not take its containers with it).
 */
export function defaultCgroupsPath(id: string): string {
  return containerCgroupsPath({ cgroupParent: DEFAULT_CGROUP_PARENT }, id)
}

function defaultMounts(shmSize: number): Mount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', 'ro'],
    },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['ro', 'nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/dev/mqueue',
      type: 'mqueue',
      source: 'mqueue',
      options: ['nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`],
    },
  ]
}

/** Docker's device cgroup rules: deny all, then the standard nodes; /dev/net/tun is denied. */
function defaultDeviceRules(): SpecDeviceRule[] {
  const allow = (major: number, minor: number): SpecDeviceRule => ({
    allow: true,
    type: 'c',
    major,
    minor,
    access: 'rwm',
  })
  return [
    { allow: false, access: 'rwm' },
    allow(1, 5), // zero
    allow(1, 3), // null
    allow(1, 9), // urandom
    allow(1, 8), // random
    allow(5, 0), // tty
    allow(5, 1), // console
    { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' }, // /dev/net/tun
  ]
}

export interface SpecExtras {
  /** A seccomp section that replaces the one the input asks for. */
  seccomp?: SpecSeccomp
  /** libseccomp's arch and the kernel release the profile is resolved for (this host's). */
  arch?: string
  kernel?: string
}

/** The seccomp section for the input (moby's WithSeccomp): none when unconfined or privileged. */
function seccompFor(input: SpecInput, caps: string[], extras: SpecExtras): SpecSeccomp | undefined {
  if (extras.seccomp !== undefined) return extras.seccomp
  const profile = input.security?.seccomp ?? ''
  if (profile === 'unconfined') return undefined
  if (input.security?.privileged && profile === '') return undefined
  const ctx = {
    capabilities: caps,
    arch: extras.arch ?? nativeArch(),
    kernel: extras.kernel ?? release(),
  }
  if (profile === '' || profile === 'builtin') return defaultSeccomp(ctx)
  return resolveSeccompProfile(parseSeccompProfile(profile), ctx)
}

/**
 * The OCI spec of one container: the base spec (Docker's defaults and the container's
 * confinement), then the input's edits in their fixed order (edits.ts).
 */
export function ociSpec(input: SpecInput, extras: SpecExtras = {}): Spec {
  return applyEdits(baseSpec(input, extras), specEdits(input))
}

/**
 * Docker's defaults and the confinement the input asks for, before any edit: the default
 * mounts (made read-only with a read-only root; /sys writable when privileged), the process,
 * the device rules, a new namespace of each kind, resources, seccomp, masked and read-only paths.
 */
export function baseSpec(input: SpecInput, extras: SpecExtras = {}): Spec {
  const privileged = input.security?.privileged === true
  const mounts = defaultMounts(input.shmSize || DEFAULT_SHM_SIZE)
  if (input.readonlyRootfs) {
    // Docker makes every default mount read-only with the root, except these.
    const keepRw = new Set(['/proc', '/dev/pts', '/dev/shm', '/dev/mqueue', '/dev'])
    for (const m of mounts) {
      if (!keepRw.has(m.destination) && !m.options.includes('ro')) m.options.push('ro')
    }
  }
  if (privileged && !input.readonlyRootfs) {
    // Docker clears "ro" from /sys and the cgroup mount of a privileged container.
    for (const m of mounts) {
      if (m.type === 'sysfs' || m.type === 'cgroup') m.options = m.options.filter((o) => o !== 'ro')
    }
  }

  const caps = [...(input.security?.capabilities ?? DEFAULT_CAPABILITIES)]
  const { user } = input.process
  const capabilities: SpecCapabilities = {
    bounding: caps,
    effective: [...caps],
    permitted: [...caps],
  }
  const process: SpecProcess = {
    terminal: input.process.terminal,
    user: { uid: user.uid, gid: user.gid, additionalGids: [...user.additionalGids] },
    args: [...input.process.args],
    env: [...input.process.env],
    cwd: input.process.cwd || '/',
    // Inheritable and ambient stay empty, as Docker's do: CapInh 0 inside.
    capabilities,
    // No rlimits: Docker's only default (NOFILE 1048576) exceeds this host's hard limit,
    // and runc fails on any rlimit at or above it.
    oomScoreAdj: input.oomScoreAdj ?? 0,
  }
  if (input.rlimits && input.rlimits.length > 0)
    process.rlimits = input.rlimits.map((r) => ({ ...r }))
  if (input.security?.noNewPrivileges) process.noNewPrivileges = true

  // Privileged: every device; else Docker's standard ones (devicesEdit adds those asked for).
  const deviceRules: SpecDeviceRule[] = privileged
    ? [{ allow: true, access: 'rwm' }]
    : defaultDeviceRules()

  const resources: SpecLinuxResources = { devices: deviceRules }
  const res = input.resources
  if (res?.memory) resources.memory = { ...res.memory }
  if (res?.cpu) resources.cpu = { ...res.cpu }
  if (res?.pids) resources.pids = { ...res.pids }
  const linux: SpecLinux = {
    // networkEdit adds Docker's network sysctls for a namespace of the container's own.
    sysctl: { ...input.sysctls },
    resources,
    cgroupsPath: input.cgroupsPath ?? defaultCgroupsPath(input.id),
    namespaces: [
      { type: 'mount' },
      { type: 'network' },
      { type: 'uts' },
      { type: 'pid' },
      { type: 'ipc' },
      { type: 'cgroup' },
    ],
    maskedPaths: privileged ? [] : [...DEFAULT_MASKED_PATHS],
    readonlyPaths: privileged ? [] : [...DEFAULT_READONLY_PATHS],
  }
  const seccomp = seccompFor(input, caps, extras)
  if (seccomp !== undefined) linux.seccomp = seccomp

  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process,
    root: input.readonlyRootfs ? { path: input.rootfs, readonly: true } : { path: input.rootfs },
    mounts,
    linux,
  }
  if (input.hostname !== '') spec.hostname = input.hostname
  return spec
}
