// --gpus for run and create, and CDI device names given to --device, sent as the docker CLI
// sends them (cli/opts/gpus.go; since docker 25, qualified CDI names in --device become one
// DeviceRequest for the "cdi" driver instead of device mappings).
import { CliError, list } from './command.ts'
import type { FlagDef, ParsedFlags } from './flags.ts'

export const gpuFlags: FlagDef[] = [
  {
    long: 'gpus',
    kind: 'list',
    typeName: 'gpu-request',
    desc: "GPU devices to add to the container ('all' to pass all GPUs)",
  },
]

/** HostConfig.DeviceRequests' entries, with Go's nil slices and maps as null. */
export interface DeviceRequest {
  Driver: string
  Count: number
  DeviceIDs: string[] | null
  Capabilities: string[][] | null
  Options: Record<string, string> | null
}

function invalid(raw: string, why: string): CliError {
  return new CliError(`invalid argument ${JSON.stringify(raw)} for "--gpus" flag: ${why}`, 125)
}

/** One record as Go's encoding/csv reads it, with its error words (columns from 1). */
export function csvRecord(s: string): string[] {
  if (s === '') throw new Error('EOF')
  const fields: string[] = []
  let i = 0
  for (;;) {
    let field = ''
    if (s[i] === '"') {
      i++
      for (;;) {
        const q = s.indexOf('"', i)
        if (q < 0) {
          throw new Error(
            `parse error on line 1, column ${s.length + 1}: extraneous or missing " in quoted-field`,
          )
        }
        field += s.slice(i, q)
        i = q + 1
        if (s[i] === '"') {
          field += '"'
          i++
          continue
        }
        if (i < s.length && s[i] !== ',') {
          throw new Error(
            `parse error on line 1, column ${q + 1}: extraneous or missing " in quoted-field`,
          )
        }
        break
      }
    } else {
      const end = s.indexOf(',', i) < 0 ? s.length : s.indexOf(',', i)
      field = s.slice(i, end)
      const bare = field.indexOf('"')
      if (bare >= 0) {
        throw new Error(`parse error on line 1, column ${i + bare + 1}: bare " in non-quoted-field`)
      }
      i = end
    }
    fields.push(field)
    if (i >= s.length) return fields
    i++ // the comma
  }
}

function parseCount(raw: string, v: string): number {
  if (v === 'all') return -1
  if (!/^[+-]?\d+$/.test(v)) {
    throw invalid(
      raw,
      `invalid count (${v}): value must be either "all" or an integer: invalid syntax`,
    )
  }
  return Number(v)
}

/** One --gpus value (opts.GpuOpts.Set). */
export function parseGpuRequest(raw: string): DeviceRequest {
  let fields: string[]
  try {
    fields = csvRecord(raw)
  } catch (e) {
    throw invalid(raw, (e as Error).message)
  }
  const req: DeviceRequest = {
    Driver: '',
    Count: 0,
    DeviceIDs: null,
    Capabilities: null,
    Options: null,
  }
  const seen = new Set<string>()
  for (const field of fields) {
    const eq = field.indexOf('=')
    const key = eq < 0 ? field : field.slice(0, eq)
    const val = eq < 0 ? '' : field.slice(eq + 1)
    if (seen.has(key)) throw invalid(raw, `gpu request key '${key}' can be specified only once`)
    seen.add(key)
    if (eq < 0) {
      seen.add('count')
      req.Count = parseCount(raw, key)
      continue
    }
    switch (key) {
      case 'driver':
        req.Driver = val
        break
      case 'count':
        req.Count = parseCount(raw, val)
        break
      case 'device':
        req.DeviceIDs = val.split(',')
        break
      case 'capabilities':
        req.Capabilities = [[...val.split(','), 'gpu']]
        break
      case 'options': {
        let opts: string[]
        try {
          opts = csvRecord(val)
        } catch (e) {
          throw invalid(raw, `failed to read gpu options: ${(e as Error).message}`)
        }
        req.Options = {}
        for (const o of opts) {
          const i = o.indexOf('=')
          req.Options[i < 0 ? o : o.slice(0, i)] = i < 0 ? '' : o.slice(i + 1)
        }
        break
      }
      default:
        throw invalid(raw, `unexpected key '${key}' in '${field}'`)
    }
  }
  if (!seen.has('count') && req.DeviceIDs === null) req.Count = 1
  req.Options ??= {}
  req.Capabilities ??= [['gpu']]
  return req
}

const VENDOR = /^[A-Za-z](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/
const CLASS = /^[A-Za-z](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$/
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?$/

/** Whether a --device value is a qualified CDI name, vendor.com/class=name (CDI's parser). */
export function isCdiName(device: string): boolean {
  const eq = device.indexOf('=')
  const slash = device.indexOf('/')
  if (eq < 0 || slash < 0 || slash > eq) return false
  const vendor = device.slice(0, slash)
  const cls = device.slice(slash + 1, eq)
  const name = device.slice(eq + 1)
  return VENDOR.test(vendor) && CLASS.test(cls) && NAME.test(name)
}

/**
 * HostConfig.DeviceRequests from --gpus and the CDI names among --device (null when none), and
 * the --device values left for device mappings.
 */
export function deviceRequests(f: ParsedFlags): {
  requests: DeviceRequest[] | null
  devices: string[]
} {
  const requests = list(f, 'gpus').map(parseGpuRequest)
  const devices: string[] = []
  const cdi: string[] = []
  for (const d of list(f, 'device')) (isCdiName(d) ? cdi : devices).push(d)
  if (cdi.length > 0) {
    requests.push({ Driver: 'cdi', Count: 0, DeviceIDs: cdi, Capabilities: null, Options: null })
  }
  return { requests: requests.length > 0 ? requests : null, devices }
}
