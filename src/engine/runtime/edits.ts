// Edits of the OCI spec: each feature that changes a container's spec beyond the base (its
// mounts, devices, injected devices such as GPUs with their files, variables and hooks, network
// namespace, root propagation, console, user namespace) is a pure SpecEdit here, and
// specEdits() is the one place where they are listed, in the order they apply. Adding a
// feature is one edit and one line in that list.
import type { Mount } from '../layer/types.ts'
import type {
  ConsoleSize,
  DeviceEdits,
  DeviceNode,
  IdMapping,
  Spec,
  SpecDeviceRule,
  SpecEdit,
  SpecInput,
} from './types.ts'

/** Docker's sysctls for a network namespace of the container's own. */
export const OWN_NETWORK_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.ip_unprivileged_port_start': '0',
  'net.ipv4.ping_group_range': '0 2147483647',
}

/** The input's edits, in the order they apply. */
export function specEdits(input: SpecInput): SpecEdit[] {
  return [
    mountsEdit(input.mounts),
    devicesEdit(input.devices ?? []),
    deviceEditsEdit(input.deviceEdits),
    networkEdit(input),
    rootfsPropagationEdit(input.rootfsPropagation),
    consoleSizeEdit(input.process.consoleSize),
    idMappingsEdit(input.idMappings),
    bindHostSysEdit(input.bindHostSys === true),
  ]
}

/**
 * The host's /sys bound in place of a new sysfs (and its cgroup mount): rootless under the
 * host's network namespace, where the kernel refuses a sysfs mount to a user namespace that
 * does not own the network namespace. Read-only unless the sysfs mount was writable.
 */
export function bindHostSysEdit(bind: boolean): SpecEdit {
  return (s) => {
    if (!bind) return s
    const mounts = s.mounts.flatMap((m) => {
      if (m.type === 'cgroup' && m.destination === '/sys/fs/cgroup') return []
      if (m.type !== 'sysfs') return [m]
      const ro = m.options.includes('ro') ? ['ro'] : []
      return [
        {
          destination: m.destination,
          type: 'bind',
          source: '/sys',
          options: ['rbind', 'nosuid', 'noexec', 'nodev', ...ro],
        },
      ]
    })
    return { ...s, mounts }
  }
}

export function applyEdits(base: Spec, edits: readonly SpecEdit[]): Spec {
  return edits.reduce((s, edit) => edit(s), base)
}

/**
 * The container's own mounts after the spec's: a default mount they replace (same
 * destination, or anything under /dev when /dev itself is mounted) is left out, as Docker does.
 */
export function mountsEdit(mounts: readonly Mount[]): SpecEdit {
  return (s) => {
    if (mounts.length === 0) return s
    const dests = new Set(mounts.map((m) => m.destination))
    const mountsDev = dests.has('/dev')
    const kept = s.mounts.filter(
      (m) => !dests.has(m.destination) && !(mountsDev && m.destination.startsWith('/dev/')),
    )
    return { ...s, mounts: [...kept, ...mounts.map((m) => ({ ...m, options: [...m.options] }))] }
  }
}

function allowsEveryDevice(rules: readonly SpecDeviceRule[]): boolean {
  return rules.some((r) => r.allow && r.type === undefined && r.major === undefined)
}

/**
 * Device nodes made in the container, each replacing a node at its path, and each allowed in
 * its device cgroup with its access: nothing to allow for an empty access (a CDI node with
 * permissions "none", a fifo), nor when every device is, as under --privileged.
 */
export function devicesEdit(devices: readonly DeviceNode[]): SpecEdit {
  return (s) => {
    if (devices.length === 0) return s
    const rules = s.linux.resources.devices
    const added: SpecDeviceRule[] = allowsEveryDevice(rules)
      ? []
      : devices
          .filter((d) => d.access !== '')
          .map((d) => ({
            allow: true,
            type: d.type === 'b' ? 'b' : 'c',
            major: d.major,
            minor: d.minor,
            access: d.access,
          }))
    const paths = new Set(devices.map((d) => d.path))
    return {
      ...s,
      linux: {
        ...s.linux,
        resources: { ...s.linux.resources, devices: [...rules, ...added] },
        devices: [
          ...(s.linux.devices ?? []).filter((d) => !paths.has(d.path)),
          ...devices.map(({ access: _access, ...d }) => ({ ...d })),
        ],
      },
    }
  }
}

/**
 * Injected devices (GPUs, CDI devices) with what comes with them: their nodes (owned by the
 * process's user when the edit names no owner, as CDI says), their mounts after the
 * container's own (replacing one at the same destination), variables that replace the
 * process's, hooks at their stages after any already there, and supplementary groups.
 */
export function deviceEditsEdit(e: DeviceEdits | undefined): SpecEdit {
  return (s) => {
    if (e === undefined) return s
    const { uid, gid } = s.process.user
    const nodes = e.devices.map((d) => {
      const n = { ...d }
      if (n.uid === undefined && uid > 0) n.uid = uid
      if (n.gid === undefined && gid > 0) n.gid = gid
      return n
    })
    const withNodes = devicesEdit(nodes)(s)
    const dests = new Set(e.mounts.map((m) => m.destination))
    const mounts = [
      ...withNodes.mounts.filter((m) => !dests.has(m.destination)),
      ...e.mounts.map((m) => ({ ...m, options: [...m.options] })),
    ]
    const env = [...s.process.env]
    for (const kv of e.env) {
      const key = kv.slice(0, kv.indexOf('=') + 1) || kv
      const i = env.findIndex((x) => x.startsWith(key))
      if (i >= 0) env[i] = kv
      else env.push(kv)
    }
    const gids = [...(s.process.user.additionalGids ?? [])]
    for (const g of e.additionalGids) if (!gids.includes(g)) gids.push(g)
    let hooks = s.hooks
    for (const { stage, ...hook } of e.hooks) {
      hooks = { ...hooks, [stage]: [...(hooks?.[stage] ?? []), hook] }
    }
    return {
      ...withNodes,
      mounts,
      process: { ...s.process, env, user: { ...s.process.user, additionalGids: gids } },
      ...(hooks !== undefined ? { hooks } : {}),
    }
  }
}

/**
 * The network namespace: a new one with Docker's two network sysctls (under the container's
 * own), an existing one to join (the same sysctls apply there), or the host's: no namespace,
 * and no network sysctls, which would change the host (runc refuses them there).
 */
export function networkEdit(net: {
  hostNetwork?: boolean
  netnsPath?: string
  ownNetworkSysctls?: Record<string, string>
}): SpecEdit {
  return (s) => {
    if (net.hostNetwork) {
      return {
        ...s,
        linux: { ...s.linux, namespaces: s.linux.namespaces.filter((n) => n.type !== 'network') },
      }
    }
    const path = net.netnsPath
    return {
      ...s,
      linux: {
        ...s.linux,
        sysctl: { ...OWN_NETWORK_SYSCTLS, ...net.ownNetworkSysctls, ...s.linux.sysctl },
        namespaces: s.linux.namespaces.map((n) =>
          n.type === 'network' && path !== undefined ? { ...n, path } : n,
        ),
      },
    }
  }
}

/** The root mount's propagation (shared or rslave when a bind mount asks for it). */
export function rootfsPropagationEdit(propagation: string | undefined): SpecEdit {
  return (s) =>
    propagation === undefined ? s : { ...s, linux: { ...s.linux, rootfsPropagation: propagation } }
}

/** The pty's size before the process runs (a terminal only), so no resize is needed after. */
export function consoleSizeEdit(size: ConsoleSize | undefined): SpecEdit {
  return (s) =>
    size === undefined || s.process.terminal !== true
      ? s
      : { ...s, process: { ...s.process, consoleSize: { ...size } } }
}

/** A user namespace of the container's own, with these mappings (rootless). */
export function idMappingsEdit(m: { uid: IdMapping[]; gid: IdMapping[] } | undefined): SpecEdit {
  return (s) => {
    if (m === undefined) return s
    const namespaces = s.linux.namespaces.some((n) => n.type === 'user')
      ? s.linux.namespaces
      : [...s.linux.namespaces, { type: 'user' as const }]
    return {
      ...s,
      linux: {
        ...s.linux,
        namespaces,
        uidMappings: m.uid.map((x) => ({ ...x })),
        gidMappings: m.gid.map((x) => ({ ...x })),
      },
    }
  }
}
