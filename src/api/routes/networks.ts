// The /networks routes: list, inspect, create, remove, connect, disconnect and prune, in
// Docker's JSON shapes; the network module does the work.
import { Internal, InvalidArgument, NotFound } from '../../engine/errors.ts'
import type {
  EndpointSettings,
  NetworkApi,
  NetworkCreateRequest,
} from '../../engine/network/types.ts'
import { parseFilters } from '../filters.ts'
import { readJson, sendJson, sendStatus } from '../http.ts'
import type { Ctx, Router } from '../router.ts'

function networks(ctx: Ctx): NetworkApi {
  const n = ctx.engine.networks
  if (!n) throw new Internal('networks are not supported by this engine')
  return n
}

async function list(ctx: Ctx): Promise<void> {
  const f = parseFilters(ctx.query.get('filters'))
  sendJson(ctx, 200, await networks(ctx).list(f.toRecord()))
}

async function inspect(ctx: Ctx): Promise<void> {
  const scope = ctx.query.get('scope')
  if (scope && scope !== 'local') {
    throw new NotFound(`network ${ctx.params.id as string} not found`)
  }
  sendJson(ctx, 200, await networks(ctx).inspect(ctx.params.id as string))
}

function stringMap(v: unknown, what: string): Record<string, string> | null {
  if (v === undefined || v === null) return null
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new InvalidArgument(`invalid JSON: ${what} must be an object`)
  }
  const out: Record<string, string> = {}
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'string')
      throw new InvalidArgument(`invalid JSON: ${what}.${k} must be a string`)
    out[k] = x
  }
  return out
}

async function create(ctx: Ctx): Promise<void> {
  const body = (await readJson<Record<string, unknown>>(ctx)) ?? {}
  if (typeof body !== 'object' || Array.isArray(body))
    throw new InvalidArgument('invalid JSON: expected an object')
  if (body.Name !== undefined && typeof body.Name !== 'string') {
    throw new InvalidArgument('invalid JSON: Name must be a string')
  }
  const req: NetworkCreateRequest = {
    ...(body as Partial<NetworkCreateRequest>),
    Name: (body.Name as string | undefined) ?? '',
    Options: stringMap(body.Options, 'Options'),
    Labels: stringMap(body.Labels, 'Labels'),
  }
  sendJson(ctx, 201, await networks(ctx).create(req))
}

async function remove(ctx: Ctx): Promise<void> {
  await networks(ctx).remove(ctx.params.id as string)
  sendStatus(ctx, 204)
}

async function connect(ctx: Ctx): Promise<void> {
  const body = (await readJson<{ Container?: unknown; EndpointConfig?: unknown }>(ctx)) ?? {}
  if (typeof body.Container !== 'string' || body.Container === '') {
    throw new InvalidArgument('invalid name or ID supplied: ""')
  }
  const ep = (body.EndpointConfig ?? null) as Partial<EndpointSettings> | null
  await networks(ctx).connect(ctx.params.id as string, body.Container, ep)
  sendStatus(ctx, 200)
}

async function disconnect(ctx: Ctx): Promise<void> {
  const body = (await readJson<{ Container?: unknown; Force?: unknown }>(ctx)) ?? {}
  if (typeof body.Container !== 'string' || body.Container === '') {
    throw new InvalidArgument('invalid name or ID supplied: ""')
  }
  await networks(ctx).disconnect(ctx.params.id as string, body.Container, body.Force === true)
  sendStatus(ctx, 200)
}

async function prune(ctx: Ctx): Promise<void> {
  const f = parseFilters(ctx.query.get('filters'))
  sendJson(ctx, 200, await networks(ctx).prune(f.toRecord()))
}

export function networkRoutes(r: Router): void {
  r.get('/networks', list)
  r.post('/networks/create', create)
  r.post('/networks/prune', prune)
  r.get('/networks/{id}', inspect)
  r.delete('/networks/{id}', remove)
  r.post('/networks/{id}/connect', connect)
  r.post('/networks/{id}/disconnect', disconnect)
}
