// CDI names (vendor.com/class=name, pkg/parser) and spec versions (specs-go/version.go).
import { InvalidArgument } from '../errors.ts'
import type { CdiContainerEdits, CdiSpec } from './cdi-spec.ts'

// ---------------------------------------------------------------------------------------------
// Names (pkg/parser).

function isLetter(c: string): boolean {
  return /^[A-Za-z]$/.test(c)
}

function isAlnum(c: string): boolean {
  return /^[A-Za-z0-9]$/.test(c)
}

function checkVendorOrClass(name: string): string | undefined {
  if (name === '') return 'empty name'
  if (!isLetter(name[0] as string)) return `"${name}", should start with letter`
  for (const c of name.slice(1, -1)) {
    if (!isAlnum(c) && !'_-.'.includes(c)) return `invalid character '${c}' in name "${name}"`
  }
  if (name.length > 1 && !isAlnum(name[name.length - 1] as string)) {
    return `"${name}", should end with a letter or digit`
  }
  return undefined
}

export function validateVendorName(vendor: string): string | undefined {
  const e = checkVendorOrClass(vendor)
  return e === undefined ? undefined : `invalid vendor. ${e}`
}

export function validateClassName(cls: string): string | undefined {
  const e = checkVendorOrClass(cls)
  return e === undefined ? undefined : `invalid class. ${e}`
}

export function validateDeviceName(name: string): string | undefined {
  if (name === '') return 'invalid (empty) device name'
  if (!isAlnum(name[0] as string))
    return `invalid class "${name}", should start with a letter or digit`
  for (const c of name.slice(1, -1)) {
    if (!isAlnum(c) && !'_-.:'.includes(c)) {
      return `invalid character '${c}' in device name "${name}"`
    }
  }
  if (name.length > 1 && !isAlnum(name[name.length - 1] as string)) {
    return `invalid name "${name}", should end with a letter or digit`
  }
  return undefined
}

/** vendor.com/class → [vendor, class]; an unqualified kind gives an empty vendor. */
export function parseQualifier(kind: string): [string, string] {
  const i = kind.indexOf('/')
  if (i <= 0 || i === kind.length - 1) return ['', kind]
  return [kind.slice(0, i), kind.slice(i + 1)]
}

export interface QualifiedName {
  vendor: string
  class: string
  name: string
}

/** Parses vendor.com/class=name, with the parser's errors. */
export function parseQualifiedName(device: string): QualifiedName {
  const fail = (why: string): never => {
    throw new InvalidArgument(why)
  }
  let vendor = ''
  let cls = ''
  let name = device
  const eq = device.indexOf('=')
  if (device !== '' && device[0] !== '/' && eq > 0 && eq < device.length - 1) {
    const [v, c] = parseQualifier(device.slice(0, eq))
    if (v !== '') {
      vendor = v
      cls = c
      name = device.slice(eq + 1)
    }
  }
  if (vendor === '') fail(`unqualified device "${device}", missing vendor`)
  const e =
    validateVendorName(vendor) ?? validateClassName(cls) ?? validateDeviceName(name) ?? undefined
  if (e !== undefined) fail(`invalid device "${device}": ${e}`)
  return { vendor, class: cls, name }
}

/** Whether a --device value names a CDI device (the docker CLI's test). */
export function isQualifiedName(device: string): boolean {
  try {
    parseQualifiedName(device)
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// Versions (specs-go/version.go): the known versions, and the least one a spec's fields need.

export const CDI_VERSIONS = [
  '1.1.0',
  '1.0.0',
  '0.8.0',
  '0.7.0',
  '0.6.0',
  '0.5.0',
  '0.4.0',
  '0.3.0',
  '0.2.0',
  '0.1.0',
] as const

function allEdits(spec: CdiSpec): CdiContainerEdits[] {
  return [...spec.devices.map((d) => d.containerEdits), spec.containerEdits ?? {}]
}

/** The oldest spec version that has every field the spec uses. */
export function minimumVersion(spec: CdiSpec): string {
  const edits = allEdits(spec)
  if (
    edits.some(
      (e) =>
        (e.netDevices?.length ?? 0) > 0 ||
        (e.intelRdt !== undefined &&
          (e.intelRdt.schemata !== undefined || e.intelRdt.enableMonitoring === true)),
    )
  ) {
    return '1.1.0'
  }
  if (edits.some((e) => e.intelRdt !== undefined || (e.additionalGids?.length ?? 0) > 0)) {
    return '0.7.0'
  }
  const cls = parseQualifier(spec.kind)[1]
  if (
    Object.keys(spec.annotations ?? {}).length > 0 ||
    spec.devices.some((d) => Object.keys(d.annotations ?? {}).length > 0) ||
    (spec.kind.includes('/') && cls.includes('.'))
  ) {
    return '0.6.0'
  }
  if (
    spec.devices.some((d) => /^[0-9]/.test(d.name)) ||
    edits.some((e) => (e.deviceNodes ?? []).some((n) => (n.hostPath ?? '') !== ''))
  ) {
    return '0.5.0'
  }
  if (edits.some((e) => (e.mounts ?? []).some((m) => (m.type ?? '') !== ''))) return '0.4.0'
  return '0.3.0'
}

export function validateVersion(spec: CdiSpec): string | undefined {
  const v = spec.cdiVersion.replace(/^v/, '')
  const at = CDI_VERSIONS.indexOf(v as (typeof CDI_VERSIONS)[number])
  if (at < 0) return `invalid version "${spec.cdiVersion}"`
  const min = minimumVersion(spec)
  if (CDI_VERSIONS.indexOf(min as (typeof CDI_VERSIONS)[number]) < at) {
    return `the spec version must be at least v${min}`
  }
  return undefined
}
