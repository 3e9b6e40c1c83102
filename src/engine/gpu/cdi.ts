// The Container Device Interface (tags.cncf.io/container-device-interface): spec files as
// vendors write them to /etc/cdi and /var/run/cdi, read strictly (unknown fields and values of
// the wrong type are errors), validated with the spec's rules (versions 0.3.0 to 1.1.0, names,
// edits), gathered into a registry where a later directory overrides an earlier one, and the
// edits of the devices a container names, merged as the CDI library merges them. Pure: the
// caller reads the files and stats the device nodes.
// The spec's shapes are cdi-spec.ts, decoding cdi-decode.ts, names and versions cdi-names.ts.
import { InvalidArgument } from '../errors.ts'
import { decodeSpec } from './cdi-decode.ts'
import {
  parseQualifiedName,
  parseQualifier,
  validateClassName,
  validateDeviceName,
  validateVendorName,
  validateVersion,
  type QualifiedName,
} from './cdi-names.ts'
import type {
  CdiContainerEdits,
  CdiDevice,
  CdiIntelRdt,
  CdiRegistry,
  CdiSpec,
  LoadedSpec,
} from './cdi-spec.ts'

export type {
  CdiContainerEdits,
  CdiDevice,
  CdiDeviceNode,
  CdiHook,
  CdiIntelRdt,
  CdiMount,
  CdiNetDevice,
  CdiRegistry,
  CdiSpec,
  LoadedSpec,
} from './cdi-spec.ts'
export { decodeSpec } from './cdi-decode.ts'
export {
  CDI_VERSIONS,
  isQualifiedName,
  minimumVersion,
  parseQualifiedName,
  parseQualifier,
  validateClassName,
  validateDeviceName,
  validateVendorName,
  type QualifiedName,
} from './cdi-names.ts'

// ---------------------------------------------------------------------------------------------
// Validation (pkg/cdi: spec.go, device.go, container-edits.go).

export const HOOK_NAMES = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
] as const

function validateEnv(env: readonly string[] | undefined): string | undefined {
  for (const v of env ?? []) {
    if (v.indexOf('=') <= 0) return `invalid environment variable "${v}"`
  }
  return undefined
}

export function validateEdits(e: CdiContainerEdits): string | undefined {
  const env = validateEnv(e.env)
  if (env !== undefined) return `invalid container edits: ${env}`
  for (const d of e.deviceNodes ?? []) {
    if (d.path === '') return 'invalid (empty) device path'
    if (!['', 'b', 'c', 'u', 'p'].includes(d.type ?? '')) {
      return `device "${d.path}": invalid type "${d.type}"`
    }
    const perms = d.permissions ?? ''
    if (perms !== '' && perms !== 'none' && !/^[rwm]+$/.test(perms)) {
      return `device "${d.path}": invalid permissions "${perms}"`
    }
  }
  for (const h of e.hooks ?? []) {
    if (!(HOOK_NAMES as readonly string[]).includes(h.hookName)) {
      return `invalid hook name "${h.hookName}"`
    }
    if (h.path === '') return `invalid hook "${h.hookName}" with empty path`
    const he = validateEnv(h.env)
    if (he !== undefined) return `invalid hook "${h.hookName}": ${he}`
  }
  for (const m of e.mounts ?? []) {
    if (m.hostPath === '') return 'invalid mount, empty host path'
    if (m.containerPath === '') return 'invalid mount, empty container path'
  }
  if (e.intelRdt !== undefined) {
    const c = e.intelRdt.closID ?? ''
    if (c !== '/' && (c.length >= 4096 || c === '.' || c === '..' || /[/\n]/.test(c))) {
      return 'invalid ClosID'
    }
  }
  const hosts = new Map<string, string>()
  const names = new Map<string, string>()
  for (const n of e.netDevices ?? []) {
    if (n.hostInterfaceName === '') return 'invalid linux net device, empty HostInterfaceName'
    if (n.name === '') return 'invalid linux net device, empty Name'
    const h = hosts.get(n.hostInterfaceName)
    if (h !== undefined) {
      return `invalid linux net device, duplicate HostInterfaceName "${n.hostInterfaceName}" with names "${n.name}" and "${h}"`
    }
    hosts.set(n.hostInterfaceName, n.name)
    const o = names.get(n.name)
    if (o !== undefined) {
      return `invalid linux net device, duplicate Name "${n.name}" with HostInterfaceName "${n.hostInterfaceName}" and "${o}"`
    }
    names.set(n.name, n.hostInterfaceName)
  }
  return undefined
}

function emptyEdits(e: CdiContainerEdits): boolean {
  return (
    (e.env?.length ?? 0) === 0 &&
    (e.deviceNodes?.length ?? 0) === 0 &&
    (e.hooks?.length ?? 0) === 0 &&
    (e.mounts?.length ?? 0) === 0 &&
    (e.additionalGids?.length ?? 0) === 0 &&
    e.intelRdt === undefined &&
    (e.netDevices?.length ?? 0) === 0
  )
}

/**
 * A spec file's text, decoded and validated; throws with CDI's words (prefixed by the file)
 * when the spec cannot be used.
 */
export function loadSpec(text: string, path: string, priority: number): LoadedSpec {
  let spec: CdiSpec
  try {
    spec = decodeSpec(text)
  } catch (err) {
    throw new Error(`failed to parse CDI Spec "${path}": ${(err as Error).message}`, { cause: err })
  }
  const invalid = (why: string): never => {
    throw new Error(`invalid CDI Spec "${path}": ${why}`)
  }
  const [vendor, cls] = parseQualifier(spec.kind)
  const v = validateVersion(spec) ?? validateVendorName(vendor) ?? validateClassName(cls)
  if (v !== undefined) invalid(v)
  const common = validateEdits(spec.containerEdits ?? {})
  if (common !== undefined) invalid(common)
  const seen = new Set<string>()
  for (const d of spec.devices) {
    const bad = validateDeviceName(d.name)
    if (bad !== undefined) invalid(`failed add device "${d.name}": ${bad}`)
    if (emptyEdits(d.containerEdits)) {
      invalid(`failed add device "${d.name}": invalid device, empty device edits`)
    }
    const e = validateEdits(d.containerEdits)
    if (e !== undefined) invalid(`failed add device "${d.name}": invalid device "${d.name}": ${e}`)
    if (seen.has(d.name)) invalid(`invalid spec, multiple device "${d.name}"`)
    seen.add(d.name)
  }
  if (spec.devices.length === 0) invalid('invalid spec, no devices')
  return { spec, path, priority, vendor, class: cls }
}

/**
 * The registry of the specs found, in directory order: a device in a later directory replaces
 * one of the same name in an earlier one; two of the same priority conflict, and neither is
 * used (CDI's cache rules).
 */
export function buildRegistry(
  dirs: readonly string[],
  loaded: readonly (LoadedSpec | { path: string; error: string })[],
): CdiRegistry {
  const reg: CdiRegistry = { dirs: [...dirs], specs: [], devices: new Map(), errors: [] }
  const conflicts = new Set<string>()
  for (const l of loaded) {
    if ('error' in l) {
      reg.errors.push({ path: l.path, message: l.error })
      continue
    }
    reg.specs.push(l)
    for (const device of l.spec.devices) {
      const q = `${l.vendor}/${l.class}=${device.name}`
      const other = reg.devices.get(q)
      if (other !== undefined) {
        if (other.spec.priority > l.priority) continue
        if (other.spec.priority === l.priority) {
          const msg = `conflicting device "${q}" (specs "${l.path}", "${other.spec.path}")`
          reg.errors.push({ path: l.path, message: msg })
          conflicts.add(q)
          continue
        }
      }
      reg.devices.set(q, { spec: l, device })
    }
  }
  for (const q of conflicts) reg.devices.delete(q)
  return reg
}

/** Whether any spec provides devices of a kind (vendor/class). */
export function hasKind(reg: CdiRegistry, kind: string): boolean {
  for (const q of reg.devices.keys()) if (q.startsWith(`${kind}=`)) return true
  return false
}

function unresolvable(name: string, why: string): InvalidArgument {
  return new InvalidArgument(
    `CDI device injection failed: unresolvable CDI devices ${name}: ${why}`,
  )
}

function describeMissing(reg: CdiRegistry, q: QualifiedName, name: string): InvalidArgument {
  const kinds = new Set([...reg.devices.keys()].map((k) => k.slice(0, k.indexOf('='))))
  const vendors = [...new Set([...kinds].map((k) => k.slice(0, k.indexOf('/'))))].sort()
  const where = reg.dirs.join(', ')
  const broken =
    reg.errors.length > 0 ? ` (unusable specs: ${reg.errors.map((e) => e.message).join('; ')})` : ''
  if (!vendors.includes(q.vendor)) {
    const known = vendors.length > 0 ? `; vendors with specs: ${vendors.join(', ')}` : ''
    return unresolvable(name, `no CDI spec for vendor "${q.vendor}" in ${where}${known}${broken}`)
  }
  const kind = `${q.vendor}/${q.class}`
  if (!kinds.has(kind)) {
    const classes = [...kinds]
      .filter((k) => k.startsWith(`${q.vendor}/`))
      .map((k) => k.slice(q.vendor.length + 1))
      .sort()
    return unresolvable(
      name,
      `vendor "${q.vendor}" has no device class "${q.class}" (classes: ${classes.join(', ')})${broken}`,
    )
  }
  const devices = [...reg.devices.keys()]
    .filter((k) => k.startsWith(`${kind}=`))
    .map((k) => k.slice(kind.length + 1))
    .sort()
  return unresolvable(
    name,
    `no device "${q.name}" of kind "${kind}" (devices: ${devices.join(', ')})${broken}`,
  )
}

/** The devices' entries, in the order asked, with a clear error for a name that is not there. */
export function resolveDevices(
  reg: CdiRegistry,
  names: readonly string[],
): { spec: LoadedSpec; device: CdiDevice; name: string }[] {
  return names.map((name) => {
    let q: QualifiedName
    try {
      q = parseQualifiedName(name)
    } catch (err) {
      throw unresolvable(name, (err as Error).message)
    }
    const found = reg.devices.get(`${q.vendor}/${q.class}=${q.name}`)
    if (found === undefined) throw describeMissing(reg, q, name)
    return { ...found, name }
  })
}

/**
 * The edits of the named devices, merged as the CDI cache merges them: each spec's common
 * edits once (before its first device's), then each device's own.
 */
export function mergeEdits(
  resolved: readonly { spec: LoadedSpec; device: CdiDevice }[],
): CdiContainerEdits {
  const out: Required<Omit<CdiContainerEdits, 'intelRdt'>> & { intelRdt?: CdiIntelRdt } = {
    env: [],
    deviceNodes: [],
    netDevices: [],
    hooks: [],
    mounts: [],
    additionalGids: [],
  }
  const add = (e: CdiContainerEdits) => {
    out.env.push(...(e.env ?? []))
    out.deviceNodes.push(...(e.deviceNodes ?? []))
    out.netDevices.push(...(e.netDevices ?? []))
    out.hooks.push(...(e.hooks ?? []))
    out.mounts.push(...(e.mounts ?? []))
    out.additionalGids.push(...(e.additionalGids ?? []))
    if (e.intelRdt !== undefined) out.intelRdt = e.intelRdt
  }
  const seen = new Set<LoadedSpec>()
  for (const r of resolved) {
    if (!seen.has(r.spec)) {
      seen.add(r.spec)
      add(r.spec.spec.containerEdits ?? {})
    }
    add(r.device.containerEdits)
  }
  return out
}
