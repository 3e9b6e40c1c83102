// Strict decoding of a CDI spec file's YAML or JSON into the shape of specs-go/config.go.
import { parse as parseYaml, type ScalarTag } from 'yaml'
import type { CdiContainerEdits, CdiSpec } from './cdi-spec.ts'

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
