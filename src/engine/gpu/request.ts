// HostConfig.DeviceRequests as dockerd reads them (daemon/devices.go, devices_nvidia_linux.go,
// cdi.go): each request goes to a device driver, chosen by name or by capabilities, and becomes
// a claim on NVIDIA's GPUs or on CDI devices. Pure.
import { InvalidArgument } from '../errors.ts'
import { ALL_CAPABILITIES } from './nvidia.ts'
import type { DeviceRequest, DriverCapability } from './types.ts'

/** What one request asks of a provider. */
export type Claim =
  | {
      kind: 'nvidia'
      /** 'all', or GPU indexes, UUIDs or bus IDs; empty asks for nothing. */
      ids: string[]
      /** NVIDIA capabilities the request named (NVIDIA_DRIVER_CAPABILITIES), if any. */
      capabilities: DriverCapability[]
    }
  | { kind: 'cdi'; names: string[] }

/** The capabilities NVIDIA's driver answers to (moby's allNvidiaCaps, plus "gpu" and "nvidia"). */
const NVIDIA_CAPSET = new Set(['gpu', 'nvidia', ...ALL_CAPABILITIES.filter((c) => c !== 'ngx')])

export { parseDeviceRequests } from './types.ts'

/** Go's %v of a [][]string: [[compute utility gpu]]. */
export function formatCapabilities(caps: readonly (readonly string[])[]): string {
  return `[${caps.map((c) => `[${c.join(' ')}]`).join(' ')}]`
}

/** moby's capabilities.Set.Match: the first AND list the set holds wholly, or undefined. */
export function matchCapabilities(
  set: ReadonlySet<string>,
  caps: readonly (readonly string[])[],
): readonly string[] | undefined {
  return caps.find((and) => and.every((c) => set.has(c)))
}

/** No driver takes the request: Docker's words (daemon/errors.go incompatibleDeviceRequest). */
export function incompatible(r: DeviceRequest): InvalidArgument {
  return new InvalidArgument(
    `could not select device driver "${r.Driver}" with capabilities: ${formatCapabilities(r.Capabilities)}`,
  )
}

/** The device IDs a request names (moby's getRequestedDevicesIDs). */
export function requestedIds(r: DeviceRequest): string[] {
  if (r.Count !== 0 && r.DeviceIDs.length > 0) {
    throw new InvalidArgument('cannot set both Count and DeviceIDs on device request')
  }
  if (r.DeviceIDs.length > 0) return [...r.DeviceIDs]
  if (r.Count > 0) return Array.from({ length: r.Count }, (_, i) => String(i))
  if (r.Count < 0) return ['all']
  return []
}

/**
 * The claim of each request. `nvidia` says whether NVIDIA's driver is on the host (by
 * discovery or a CDI spec for nvidia.com/gpu): without it, a request for GPUs fails as it does
 * on dockerd without NVIDIA's toolkit. The "cdi" driver is always there (Docker 25+).
 */
export function claimsFor(requests: readonly DeviceRequest[], nvidia: boolean): Claim[] {
  return requests.map((r): Claim => {
    if (r.Driver === 'cdi') {
      if (r.Count !== 0) throw new InvalidArgument('unexpected count in CDI device request')
      if (Object.keys(r.Options).length > 0) {
        throw new InvalidArgument('unexpected options in CDI device request')
      }
      return { kind: 'cdi', names: [...r.DeviceIDs] }
    }
    let selected: readonly string[] | undefined
    if (r.Driver === '') {
      selected = nvidia ? matchCapabilities(NVIDIA_CAPSET, r.Capabilities) : undefined
      if (selected === undefined) throw incompatible(r)
    } else if (r.Driver === 'nvidia' && nvidia) {
      // A driver asked by name serves the request whatever its capabilities say.
      selected = matchCapabilities(NVIDIA_CAPSET, r.Capabilities) ?? []
    } else {
      throw incompatible(r)
    }
    const capabilities = selected.filter((c): c is DriverCapability =>
      (ALL_CAPABILITIES as readonly string[]).includes(c),
    )
    return { kind: 'nvidia', ids: requestedIds(r), capabilities }
  })
}
