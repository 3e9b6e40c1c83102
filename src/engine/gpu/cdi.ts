// The Container Device Interface (tags.cncf.io/container-device-interface): spec files as
// vendors write them to /etc/cdi and /var/run/cdi, read strictly (unknown fields and values of
// the wrong type are errors), validated with the spec's rules (versions 0.3.0 to 1.1.0, names,
// edits), gathered into a registry where a later directory overrides an earlier one, and the
// edits of the devices a container names, merged as the CDI library merges them. Pure: the
// caller reads the files and stats the device nodes.
import { parse as parseYaml, type ScalarTag } from 'yaml'
import { InvalidArgument } from '../errors.ts'

export interface CdiDeviceNode {
  path: string
  hostPath?: string
  type?: string
  major?: number
  minor?: number
  fileMode?: number
  permissions?: string
  uid?: number
  gid?: number
}

export interface CdiMount {
  hostPath: string
  containerPath: string
  options?: string[]
  type?: string
}

export interface CdiHook {
  hookName: string
  path: string
  args?: string[]
  env?: string[]
  timeout?: number
}

export interface CdiIntelRdt {
  closID?: string
  l3CacheSchema?: string
  memBwSchema?: string
  schemata?: string[]
  enableMonitoring?: boolean
}

export interface CdiNetDevice {
  hostInterfaceName: string
  name: string
}

export interface CdiContainerEdits {
  env?: string[]
  deviceNodes?: CdiDeviceNode[]
  netDevices?: CdiNetDevice[]
  hooks?: CdiHook[]
  mounts?: CdiMount[]
  intelRdt?: CdiIntelRdt
  additionalGids?: number[]
}

export interface CdiDevice {
  name: string
  annotations?: Record<string, string>
  containerEdits: CdiContainerEdits
}

export interface CdiSpec {
  cdiVersion: string
  kind: string
  annotations?: Record<string, string>
  devices: CdiDevice[]
  containerEdits?: CdiContainerEdits
}

/** A valid spec as loaded from one file. */
export interface LoadedSpec {
  spec: CdiSpec
  path: string
  /** The index of its directory: a later directory overrides an earlier one. */
  priority: number
  vendor: string
  class: string
}

export interface CdiRegistry {
  dirs: string[]
  specs: LoadedSpec[]
  /** Qualified name (vendor/class=name) → its device and spec. */
  devices: Map<string, { spec: LoadedSpec; device: CdiDevice }>
  /** Files that could not be used, and why (CDI's cache records them the same way). */
  errors: { path: string; message: string }[]
}

// ---------------------------------------------------------------------------------------------
// Strict decoding: the shape of specs-go/config.go, nothing more.

class Shape {
  constructor(readonly path: string) {}
  fail(msg: string): never {
    throw new Error(`${this.path}: ${msg}`)
  }
  at(key: string | number): Shape {
    return new Shape(typeof key === 'number' ? `${this.path}[${key}]` : `${this.path}.${key}`)
  }
}

function object(v: unknown, s: Shape, fields: readonly string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) s.fail('must be an object')
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (!fields.includes(k)) s.fail(`unknown field "${k}"`)
  }
  return o
}

function str(v: unknown, s: Shape): string {
  if (typeof v !== 'string') s.fail('must be a string')
  return v
}

function optStr(v: unknown, s: Shape): string | undefined {
  return v === undefined || v === null ? undefined : str(v, s)
}

function strList(v: unknown, s: Shape): string[] | undefined {
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v)) s.fail('must be a list of strings')
  return v.map((x, i) => str(x, s.at(i)))
}

function int(v: unknown, s: Shape, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    s.fail(`must be an integer from ${min} to ${max}`)
  }
  return v
}

function list<T>(v: unknown, s: Shape, item: (x: unknown, s: Shape) => T): T[] | undefined {
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v)) s.fail('must be a list')
  return v.map((x, i) => item(x, s.at(i)))
}

function strMap(v: unknown, s: Shape): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'object' || Array.isArray(v)) s.fail('must be a map of strings')
  const out: Record<string, string> = {}
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = str(x, s.at(k))
  return out
}

const U32 = 0xffffffff
const I64 = Number.MAX_SAFE_INTEGER

function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k]
  return o
}

function decodeEdits(v: unknown, s: Shape): CdiContainerEdits {
  if (v === undefined || v === null) return {}
  const o = object(v, s, [
    'env',
    'deviceNodes',
    'netDevices',
    'hooks',
    'mounts',
    'intelRdt',
    'additionalGids',
  ])
  return defined({
    env: strList(o.env, s.at('env')),
    deviceNodes: list(o.deviceNodes, s.at('deviceNodes'), (x, p) => {
      const d = object(x, p, [
        'path',
        'hostPath',
        'type',
        'major',
        'minor',
        'fileMode',
        'permissions',
        'uid',
        'gid',
      ])
      return defined({
        path: str(d.path ?? '', p.at('path')),
        hostPath: optStr(d.hostPath, p.at('hostPath')),
        type: optStr(d.type, p.at('type')),
        major: int(d.major, p.at('major'), -I64, I64),
        minor: int(d.minor, p.at('minor'), -I64, I64),
        fileMode: int(d.fileMode, p.at('fileMode'), 0, U32),
        permissions: optStr(d.permissions, p.at('permissions')),
        uid: int(d.uid, p.at('uid'), 0, U32),
        gid: int(d.gid, p.at('gid'), 0, U32),
      })
    }),
    netDevices: list(o.netDevices, s.at('netDevices'), (x, p) => {
      const d = object(x, p, ['hostInterfaceName', 'name'])
      return {
        hostInterfaceName: str(d.hostInterfaceName ?? '', p.at('hostInterfaceName')),
        name: str(d.name ?? '', p.at('name')),
      }
    }),
    hooks: list(o.hooks, s.at('hooks'), (x, p) => {
      const h = object(x, p, ['hookName', 'path', 'args', 'env', 'timeout'])
      return defined({
        hookName: str(h.hookName ?? '', p.at('hookName')),
        path: str(h.path ?? '', p.at('path')),
        args: strList(h.args, p.at('args')),
        env: strList(h.env, p.at('env')),
        timeout: int(h.timeout, p.at('timeout'), -I64, I64),
      })
    }),
    mounts: list(o.mounts, s.at('mounts'), (x, p) => {
      const m = object(x, p, ['hostPath', 'containerPath', 'options', 'type'])
      return defined({
        hostPath: str(m.hostPath ?? '', p.at('hostPath')),
        containerPath: str(m.containerPath ?? '', p.at('containerPath')),
        options: strList(m.options, p.at('options')),
        type: optStr(m.type, p.at('type')),
      })
    }),
    intelRdt:
      o.intelRdt === undefined || o.intelRdt === null
        ? undefined
        : (() => {
            const p = s.at('intelRdt')
            const r = object(o.intelRdt, p, [
              'closID',
              'l3CacheSchema',
              'memBwSchema',
              'schemata',
              'enableMonitoring',
            ])
            if (r.enableMonitoring !== undefined && typeof r.enableMonitoring !== 'boolean') {
              p.at('enableMonitoring').fail('must be a boolean')
            }
            return defined({
              closID: optStr(r.closID, p.at('closID')),
              l3CacheSchema: optStr(r.l3CacheSchema, p.at('l3CacheSchema')),
              memBwSchema: optStr(r.memBwSchema, p.at('memBwSchema')),
              schemata: strList(r.schemata, p.at('schemata')),
              enableMonitoring: r.enableMonitoring as boolean | undefined,
            })
          })(),
    additionalGids: list(o.additionalGids, s.at('additionalGids'), (x, p) => {
      return int(x, p, 0, U32) as number
    }),
  })
}

/** go-yaml (YAML 1.1) reads 0644 as octal; YAML 1.2 would read 644. */
const GO_OCTAL: ScalarTag = {
  identify: (v) => typeof v === 'number',
  default: true,
  tag: 'tag:yaml.org,2002:int',
  test: /^[-+]?0[0-7_]+$/,
  resolve: (s) => parseInt(s.replace(/_/g, ''), 8),
}

/** The spec in a file's text: YAML (which covers JSON), read as the Go library reads it. */
export function decodeSpec(text: string): CdiSpec {
  let raw: unknown
  try {
    // YAML 1.2's core schema, plus go-yaml's octal (0644) that CDI's Go parser reads; the
    // parser caps aliases, so a spec cannot blow up.
    raw = parseYaml(text, { uniqueKeys: true, customTags: (tags) => [GO_OCTAL, ...tags] })
  } catch (err) {
    throw new Error(`failed to unmarshal CDI Spec: ${(err as Error).message.split('\n')[0]}`, {
      cause: err,
    })
  }
  if (raw === null || raw === undefined) throw new Error('no Spec data')
  const s = new Shape('spec')
  const o = object(raw, s, ['cdiVersion', 'kind', 'annotations', 'devices', 'containerEdits'])
  return defined({
    cdiVersion: str(o.cdiVersion ?? '', s.at('cdiVersion')),
    kind: str(o.kind ?? '', s.at('kind')),
    annotations: strMap(o.annotations, s.at('annotations')),
    devices:
      list(o.devices, s.at('devices'), (x, p) => {
        const d = object(x, p, ['name', 'annotations', 'containerEdits'])
        return defined({
          name: str(d.name ?? '', p.at('name')),
          annotations: strMap(d.annotations, p.at('annotations')),
          containerEdits: decodeEdits(d.containerEdits, p.at('containerEdits')),
        })
      }) ?? [],
    containerEdits: decodeEdits(o.containerEdits, s.at('containerEdits')),
  })
}

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

function validateVersion(spec: CdiSpec): string | undefined {
  const v = spec.cdiVersion.replace(/^v/, '')
  const at = CDI_VERSIONS.indexOf(v as (typeof CDI_VERSIONS)[number])
  if (at < 0) return `invalid version "${spec.cdiVersion}"`
  const min = minimumVersion(spec)
  if (CDI_VERSIONS.indexOf(min as (typeof CDI_VERSIONS)[number]) < at) {
    return `the spec version must be at least v${min}`
  }
  return undefined
}

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
