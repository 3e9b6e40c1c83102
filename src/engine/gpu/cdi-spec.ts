// The CDI spec's data: the shapes of a spec file (specs-go/config.go), a loaded spec, the registry.
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
