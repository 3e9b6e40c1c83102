// Generates engine-api.json: the request bodies of the Engine API, as JSON Schema that checks
// what Go's encoding/json checks when dockerd decodes them, taken from Docker's own swagger.
//
//   node --import tsx src/api/schema/generate.ts SWAGGER.yaml SOURCE > src/api/schema/engine-api.json
//
// SWAGGER.yaml is moby's api/docs/v1.NN.yaml (the frozen document of one API version) and
// SOURCE names where it came from (repository, commit, path), recorded in the output.
//
// dockerd decodes a body into Go structs and only then checks values with its own words
// (restart policy names, port specs, ranges). So this keeps only what decoding checks: each
// field's JSON type (null is always accepted: Go leaves the zero value), integer ranges by
// Go type, and nothing else: enum, minimum, required and the like are the engine's to judge.
// Each node carries the Go names dockerd's decoding error prints (x-go-struct on structs,
// x-go-type on every typed node), and $refs are inlined so the API can walk the tree.
import { readFileSync } from 'node:fs'
import { format } from 'prettier'
import { parse } from 'yaml'

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Schema = { [k: string]: Json }

/** The bodies berthd takes (and those the builder, registry and network work will take). */
const BODIES: { op: string; goName: string }[] = [
  { op: 'POST /containers/create', goName: 'container.CreateRequest' },
  { op: 'POST /containers/{id}/update', goName: 'container.UpdateConfig' },
  { op: 'POST /containers/{id}/exec', goName: 'container.ExecOptions' },
  { op: 'POST /exec/{id}/start', goName: 'container.ExecStartOptions' },
  { op: 'POST /commit', goName: 'container.Config' },
  { op: 'POST /volumes/create', goName: 'volume.CreateOptions' },
  { op: 'POST /auth', goName: 'registry.AuthConfig' },
  { op: 'POST /networks/create', goName: 'network.CreateRequest' },
  { op: 'POST /networks/{id}/connect', goName: 'network.ConnectOptions' },
  { op: 'POST /networks/{id}/disconnect', goName: 'network.DisconnectOptions' },
]

/** Swagger definitions whose Go type has another name, or lives in another package. */
const GO_NAMES: Record<string, string> = {
  ContainerConfig: 'container.Config',
  HostConfig: 'container.HostConfig',
  Resources: 'container.Resources',
  RestartPolicy: 'container.RestartPolicy',
  HealthConfig: 'container.HealthConfig',
  DeviceMapping: 'container.DeviceMapping',
  DeviceRequest: 'container.DeviceRequest',
  ThrottleDevice: 'blkiodev.ThrottleDevice',
  NetworkingConfig: 'network.NetworkingConfig',
  EndpointSettings: 'network.EndpointSettings',
  EndpointIPAMConfig: 'network.EndpointIPAMConfig',
  IPAM: 'network.IPAM',
  IPAMConfig: 'network.IPAMConfig',
  PortMap: 'nat.PortMap',
  PortBinding: 'nat.PortBinding',
  Mount: 'mount.Mount',
  MountType: 'mount.Type',
  VolumeCreateOptions: 'volume.CreateOptions',
  ClusterVolumeSpec: 'volume.ClusterVolumeSpec',
  Topology: 'volume.Topology',
  AuthConfig: 'registry.AuthConfig',
  ConfigReference: 'network.ConfigReference',
}

/**
 * Fields whose Go type decodes more than the swagger says: strslice.StrSlice takes a string
 * or an array of strings (`"Cmd": "echo hi"` is valid), and reports a mismatch as one against
 * a string.
 */
const STR_SLICES: [string, string][] = [
  ['ContainerConfig', 'Cmd'],
  ['ContainerConfig', 'Entrypoint'],
  ['ContainerConfig', 'Shell'],
]

/**
 * Go types the swagger does not spell (it says `integer` for time.Duration and for both int
 * and int64), by definition and path inside it, so errors name the type dockerd names.
 */
const GO_TYPES: [string, string, string][] = [
  ['HealthConfig', 'properties.Interval', 'time.Duration'],
  ['HealthConfig', 'properties.Timeout', 'time.Duration'],
  ['HealthConfig', 'properties.StartPeriod', 'time.Duration'],
  ['HealthConfig', 'properties.StartInterval', 'time.Duration'],
  ['HealthConfig', 'properties.Retries', 'int'],
  ['ContainerConfig', 'properties.StopTimeout', 'int'],
  ['RestartPolicy', 'properties.MaximumRetryCount', 'int'],
  ['HostConfig', 'allOf.1.properties.OomScoreAdj', 'int'],
  ['HostConfig', 'allOf.1.properties.ConsoleSize.items', 'uint'],
  ['Resources', 'properties.Ulimits.items', 'units.Ulimit'],
]

/** Go types for swagger's integer formats; an unformatted integer is mostly an int64 in moby. */
const INT_RANGES: Record<string, [string, number, number]> = {
  int8: ['int8', -128, 127],
  int16: ['int16', -32768, 32767],
  int32: ['int32', -2147483648, 2147483647],
  int64: ['int64', -(2 ** 63), 2 ** 63 - 1],
  uint8: ['uint8', 0, 255],
  uint16: ['uint16', 0, 65535],
  uint32: ['uint32', 0, 4294967295],
  uint64: ['uint64', 0, 2 ** 64 - 1],
  '': ['int64', -(2 ** 63), 2 ** 63 - 1],
}

async function main(): Promise<void> {
  const [file, source] = process.argv.slice(2)
  if (!file || !source) {
    process.stderr.write('usage: generate.ts SWAGGER.yaml "repo@commit:path"\n')
    process.exit(2)
  }
  const doc = parse(readFileSync(file, 'utf8')) as {
    info: { version: string }
    definitions: Record<string, Schema>
    paths: Record<string, Record<string, { parameters?: Schema[] }>>
  }
  for (const [def, field] of STR_SLICES) {
    const prop = (doc.definitions[def]?.properties as Record<string, Schema> | undefined)?.[field]
    if (!prop) throw new Error(`${def}.${field}: not in the swagger`)
    prop['x-strslice'] = true
  }
  for (const [def, path, goType] of GO_TYPES) {
    let node: Json | undefined = doc.definitions[def] ?? null
    for (const k of path.split('.')) {
      node = node && typeof node === 'object' ? (node as Record<string, Json>)[k] : undefined
    }
    if (!node || typeof node !== 'object' || Array.isArray(node)) {
      throw new Error(`${def}.${path}: not in the swagger`)
    }
    node['x-go-name'] = goType
  }
  const bodies: Record<string, Json> = {}
  for (const { op, goName } of BODIES) {
    const [method, path] = op.split(' ') as [string, string]
    const params = doc.paths[path]?.[method.toLowerCase()]?.parameters ?? []
    const body = params.find((p) => p.in === 'body')
    if (!body) throw new Error(`${op}: no body in the swagger`)
    bodies[op] = convert(body.schema as Schema, doc.definitions, goName)
  }
  // Every operation that takes a JSON body, so a test can tell when berthd serves one of them
  // without its schema here.
  const jsonBodies: string[] = []
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const body = op.parameters?.find((p) => p.in === 'body')
      const consumes = (op as { consumes?: string[] }).consumes ?? []
      if (body && consumes.includes('application/json'))
        jsonBodies.push(`${method.toUpperCase()} ${path}`)
    }
  }
  const out = {
    $comment:
      'Generated by src/api/schema/generate.ts from the Engine API swagger named in source; do not edit.',
    apiVersion: doc.info.version,
    source,
    jsonBodies,
    bodies,
  }
  // Formatted as the repository's prettier check wants it.
  process.stdout.write(await format(JSON.stringify(out), { parser: 'json' }))
}

/**
 * One swagger schema as a decoding schema. `goName` names the Go type when the caller knows it
 * (a body's root, a definition).
 */
function convert(s: Schema, defs: Record<string, Schema>, goName: string | undefined): Schema {
  if (typeof s.$ref === 'string') {
    const name = s.$ref.replace('#/definitions/', '')
    const def = defs[name]
    if (!def) throw new Error(`unknown definition ${name}`)
    return convert(def, defs, goName ?? GO_NAMES[name] ?? name)
  }
  // A Go type named above; an allOf of one part is that part (Mount.Type is a mount.Type).
  if (typeof s['x-go-name'] === 'string' && goName === undefined) goName = s['x-go-name']
  if (Array.isArray(s.allOf) && s.allOf.length === 1)
    return convert(s.allOf[0] as Schema, defs, goName)
  if (Array.isArray(s.allOf)) {
    // allOf merges embedded structs: their fields are promoted into the outer one.
    const merged: Schema = { type: 'object', properties: {} }
    for (const part of s.allOf as Schema[]) {
      const c = convert(part, defs, goName)
      Object.assign(merged.properties as Schema, c.properties ?? {})
      if (c.additionalProperties !== undefined) merged.additionalProperties = c.additionalProperties
    }
    return withGo(merged, goName ?? 'struct')
  }
  const type = typeof s.type === 'string' ? s.type : s.properties ? 'object' : undefined
  switch (type) {
    case 'string':
      return { type: ['string', 'null'], 'x-go-type': goName ?? 'string' }
    case 'boolean':
      return { type: ['boolean', 'null'], 'x-go-type': 'bool' }
    case 'number':
      return { type: ['number', 'null'], 'x-go-type': 'float64' }
    case 'integer': {
      const [go, min, max] =
        INT_RANGES[typeof s.format === 'string' ? s.format : ''] ?? INT_RANGES['']!
      return { type: ['integer', 'null'], minimum: min, maximum: max, 'x-go-type': goName ?? go }
    }
    case 'array': {
      const items = s.items ? convert(s.items as Schema, defs, undefined) : {}
      const itemType = typeof items['x-go-type'] === 'string' ? items['x-go-type'] : 'interface {}'
      if (s['x-strslice'] === true) {
        return {
          type: ['array', 'string', 'null'],
          items,
          'x-go-type': 'string',
          'x-go-strslice': true,
        }
      }
      return { type: ['array', 'null'], items, 'x-go-type': goName ?? `[]${itemType}` }
    }
    case 'object': {
      const out: Schema = { type: ['object', 'null'] }
      if (s.properties && typeof s.properties === 'object') {
        const props: Schema = {}
        const struct = goName ?? (typeof s.title === 'string' ? s.title : 'struct')
        for (const [k, v] of Object.entries(s.properties as Record<string, Schema>)) {
          props[k] = convert(v, defs, undefined)
        }
        out.properties = props
        out['x-go-struct'] = unqualified(struct)
        out['x-go-type'] = struct
      }
      if (s.additionalProperties && typeof s.additionalProperties === 'object') {
        const v = convert(s.additionalProperties as Schema, defs, undefined)
        out.additionalProperties = v
        out['x-go-type'] ??=
          goName ??
          `map[string]${typeof v['x-go-type'] === 'string' ? v['x-go-type'] : 'interface {}'}`
      }
      // An object without fields (ExposedPorts' values) is Go's struct {}.
      out['x-go-type'] ??= goName ?? 'struct {}'
      return out
    }
    default:
      return {}
  }
}

/** Go's error names a struct without its package ("HostConfig.Memory"), a type with it. */
function unqualified(goName: string): string {
  return goName.slice(goName.lastIndexOf('.') + 1)
}

function withGo(s: Schema, goName: string): Schema {
  s.type = ['object', 'null']
  s['x-go-struct'] = unqualified(goName)
  s['x-go-type'] = goName
  return s
}

await main()
