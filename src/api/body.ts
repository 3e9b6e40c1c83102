// Request bodies decoded as dockerd decodes them, before any engine call: each body is checked
// against the Engine API's own definition of it (schema/engine-api.json, generated from Docker's
// swagger), with Go's encoding/json rules, so that a wrong type is a 400 naming the field in
// Docker's words and never reaches the engine.
//
// Go's decoder, which these rules follow: object keys match struct fields case-insensitively
// (an exact match first); null leaves a field at its zero value; unknown fields are ignored;
// a value of the wrong JSON type is an error naming the struct field and its Go type; and
// strslice fields (Cmd, Entrypoint, Shell) take a string as a one-element list. Values are not
// judged here (restart policy names, port specs, ranges): the engine does that in Docker's words.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { InvalidArgument } from '../engine/errors.ts'
import definitions from './schema/engine-api.json' with { type: 'json' }

/** A node of the generated schema: JSON Schema plus the Go names (x-go-*) errors print. */
export interface BodySchema {
  type?: string | string[]
  properties?: Record<string, BodySchema>
  additionalProperties?: BodySchema
  items?: BodySchema
  'x-go-type'?: string
  'x-go-struct'?: string
  'x-go-strslice'?: boolean
}

const bodies = definitions.bodies as unknown as Record<string, BodySchema>

/** The Engine API version whose swagger the definitions come from. */
export const DEFINITIONS_VERSION = definitions.apiVersion

/** Every operation Docker's swagger gives a JSON body ("POST /containers/create", ...). */
export const JSON_BODY_OPERATIONS: readonly string[] = definitions.jsonBodies

/** The operations whose bodies berth checks. */
export function bodyOperations(): string[] {
  return Object.keys(bodies)
}

// Compiling the create body's check takes ajv a few hundred milliseconds, so each is compiled
// when its operation is first used, without ajv's code optimisation (which doubles that) and
// without checking the schema against the meta-schema (body.test.ts does that once).
const ajv = new Ajv({
  allErrors: true,
  allowUnionTypes: true,
  validateSchema: false,
  code: { optimize: false },
  keywords: ['x-go-type', 'x-go-struct', 'x-go-strslice'],
})
const compiled = new Map<string, ValidateFunction>()

/** The compiled check of one operation's body, compiled on first use. */
function validatorFor(op: string): ValidateFunction | undefined {
  let v = compiled.get(op)
  if (v === undefined) {
    const schema = bodies[op]
    if (schema === undefined) return undefined
    v = ajv.compile(schema)
    compiled.set(op, v)
  }
  return v
}

/** The schema of an operation's body ("POST /containers/{id}/exec"), if Docker defines one. */
export function bodySchema(op: string): BodySchema | undefined {
  return bodies[op]
}

/**
 * Decodes a parsed JSON body for `op` as dockerd would: keys matched to fields, types checked
 * (InvalidArgument in Docker's words otherwise), nulls and strslices resolved. Bodies of
 * operations without a definition are returned as they are.
 */
export function decodeBody(op: string, value: unknown): unknown {
  const schema = bodies[op]
  const validate = validatorFor(op)
  if (schema === undefined || validate === undefined) return value
  const keyed = canonicalKeys(schema, value)
  if (!validate(keyed)) throw new InvalidArgument(messageFor(schema, keyed, validate.errors ?? []))
  return zeroNulls(schema, keyed)
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Renames keys that match a field only case-insensitively, as Go's decoder matches them. */
function canonicalKeys(s: BodySchema, v: unknown): unknown {
  if (Array.isArray(v)) return s.items ? v.map((x) => canonicalKeys(s.items!, x)) : v
  if (!isObject(v)) return v
  const out: Record<string, unknown> = {}
  const fields = s.properties ? Object.keys(s.properties) : []
  for (const [k, x] of Object.entries(v)) {
    let field: string | undefined
    if (s.properties && Object.hasOwn(s.properties, k)) field = k
    else if (fields.length > 0) {
      const lower = k.toLowerCase()
      field = fields.find((f) => f.toLowerCase() === lower)
    }
    if (field !== undefined) {
      // The exact key wins over one that matches only case-insensitively.
      if (field !== k && Object.hasOwn(v, field)) continue
      out[field] = canonicalKeys(s.properties![field]!, x)
    } else if (s.additionalProperties) {
      out[k] = canonicalKeys(s.additionalProperties, x)
    } else {
      out[k] = x
    }
  }
  return out
}

/**
 * Go's zero values for nulls: a null field is left out (the engine's "not given"), a null
 * list item or map value of a scalar type becomes that type's zero; strslices become lists.
 */
function zeroNulls(s: BodySchema, v: unknown): unknown {
  if (s['x-go-strslice'] && typeof v === 'string') return [v]
  if (Array.isArray(v)) {
    const items = s.items
    return items ? v.map((x) => (x === null ? zeroOf(items) : zeroNulls(items, x))) : v
  }
  if (!isObject(v)) return v
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) {
    const field = s.properties?.[k]
    if (field !== undefined) {
      if (x !== null) out[k] = zeroNulls(field, x)
    } else if (s.additionalProperties) {
      out[k] = x === null ? zeroOf(s.additionalProperties) : zeroNulls(s.additionalProperties, x)
    } else {
      out[k] = x
    }
  }
  return out
}

function zeroOf(s: BodySchema): unknown {
  const types = Array.isArray(s.type) ? s.type : [s.type]
  if (s['x-go-strslice']) return null
  if (types.includes('string')) return ''
  if (types.includes('integer') || types.includes('number')) return 0
  if (types.includes('boolean')) return false
  if (types.includes('object') && s.properties) return {}
  return null
}

/** JSON Pointer segments of an ajv instancePath. */
function segments(pointer: string): string[] {
  if (pointer === '') return []
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** Where an error's value sits in the document, for picking the first one as Go would. */
function documentOrder(value: unknown, segs: string[]): number[] {
  const order: number[] = []
  let v = value
  for (const seg of segs) {
    if (Array.isArray(v)) {
      order.push(Number(seg))
      v = v[Number(seg)]
    } else if (isObject(v)) {
      order.push(Object.keys(v).indexOf(seg))
      v = v[seg]
    } else break
  }
  return order
}

function before(a: number[], b: number[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]!
  }
  return a.length < b.length
}

/** Go's name for a JSON value's kind in UnmarshalTypeError ("number 1.5" for bad integers). */
function jsonKind(v: unknown, goType: string): string {
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'boolean') return 'bool'
  if (typeof v === 'number') {
    const integer = /^u?int\d*$/.test(goType) || goType === 'time.Duration'
    return integer ? `number ${String(v).replace('e+', 'e')}` : 'number'
  }
  if (typeof v === 'string') return 'string'
  return 'object'
}

/**
 * encoding/json's UnmarshalTypeError for the first mismatch in document order:
 * `json: cannot unmarshal KIND into Go struct field STRUCT.FIELD.PATH of type GOTYPE`, with
 * dockerd's "invalid JSON: " before it.
 */
function messageFor(root: BodySchema, value: unknown, errors: ErrorObject[]): string {
  let first: { segs: string[]; order: number[] } | undefined
  for (const e of errors) {
    const segs = segments(e.instancePath)
    const order = documentOrder(value, segs)
    if (first === undefined || before(order, first.order)) first = { segs, order }
  }
  const segs = first?.segs ?? []
  let node = root
  let v: unknown = value
  let struct: string | undefined
  const fields: string[] = []
  for (const seg of segs) {
    if (node['x-go-strslice']) break
    if (node.properties && Object.hasOwn(node.properties, seg)) {
      struct = node['x-go-struct']
      fields.push(seg)
      node = node.properties[seg]!
    } else if (node.additionalProperties) {
      node = node.additionalProperties
    } else if (node.items) {
      node = node.items
    } else break
    v = Array.isArray(v) ? v[Number(seg)] : isObject(v) ? v[seg] : undefined
  }
  const goType = node['x-go-type'] ?? 'interface {}'
  const kind = jsonKind(v, goType)
  const where =
    struct !== undefined && fields.length > 0
      ? `Go struct field ${struct}.${fields.join('.')}`
      : 'Go value'
  return `invalid JSON: json: cannot unmarshal ${kind} into ${where} of type ${goType}`
}
