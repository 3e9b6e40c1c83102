// Docker's network modes, for what berth has so far: a private network namespace with only
// loopback (`default`/`bridge`, and `none`), the host's (`host`), and another container's
// (`container:NAME`). Anything else is refused in Docker's words rather than ignored, so that
// nobody believes a port is published when it is not.
import { Conflict, InvalidArgument, NotFound } from '../errors.ts'
import type { HostConfig } from './types.ts'

export type NetworkPlan =
  | { kind: 'private' }
  | { kind: 'host' }
  | { kind: 'container'; ref: string }
  /** A named network; berth has none yet, so starting the container fails (moby's words). */
  | { kind: 'named'; name: string }

function publishesPorts(hc: HostConfig): boolean {
  const bindings = hc.PortBindings
  const hasBindings =
    typeof bindings === 'object' && bindings !== null && Object.keys(bindings).length > 0
  return hasBindings || hc.PublishAllPorts === true
}

/** The plan for a container's network, checked at create; warnings go back to the client. */
export function networkPlan(hc: HostConfig): { plan: NetworkPlan; warnings: string[] } {
  const mode = hc.NetworkMode || 'default'
  const ports = publishesPorts(hc)
  if (mode === 'default' || mode === 'bridge') {
    if (ports) {
      throw new InvalidArgument(
        'port publishing (-p, -P) needs the bridge network, which this berthd does not have yet; use --network host to reach a server in a container',
      )
    }
    return { plan: { kind: 'private' }, warnings: [] }
  }
  if (mode === 'none') {
    if (ports) {
      throw new InvalidArgument(
        'conflicting options: port publishing and the container type network mode',
      )
    }
    return { plan: { kind: 'private' }, warnings: [] }
  }
  if (mode === 'host') {
    const warnings = ports ? ['Published ports are discarded when using host network mode'] : []
    return { plan: { kind: 'host' }, warnings }
  }
  if (mode.startsWith('container:')) {
    const ref = mode.slice('container:'.length)
    if (ref === '') throw new InvalidArgument(`invalid network mode: ${mode}`)
    if (ports) {
      throw new InvalidArgument(
        'conflicting options: port publishing and the container type network mode',
      )
    }
    return { plan: { kind: 'container', ref }, warnings: [] }
  }
  // Like dockerd, which connects networks at start: create succeeds, start says not found.
  return { plan: { kind: 'named', name: mode }, warnings: [] }
}

export function networkNotFound(name: string): NotFound {
  return new NotFound(`network ${name} not found`)
}

/** Joining another container's network needs that container running (moby's words). */
export function notRunningToJoin(id: string): Conflict {
  return new Conflict(`cannot join network of a non running container: ${id}`)
}
