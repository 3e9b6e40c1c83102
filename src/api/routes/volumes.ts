// The /volumes routes (list, create, inspect, remove, prune) and the MountPoint shape that
// container inspect and list show.
import type { Container } from '../../engine/container/types.ts'
import type { VolumeApi } from '../../engine/volume/types.ts'
import { parseFilters } from '../filters.ts'
import { readJson, sendJson, sendStatus } from '../http.ts'
import type { Ctx, Router } from '../router.ts'
import { versionLessThan } from '../version.ts'

function volumes(ctx: Ctx): VolumeApi {
  return ctx.engine.volumes
}

/** Docker's MountPoint list of a container (inspect's and list's Mounts). */
export function mountPoints(c: Container): Record<string, unknown>[] {
  return (c.mountPoints ?? []).map((m) => ({
    Type: m.Type,
    ...(m.Name ? { Name: m.Name } : {}),
    Source: m.Source,
    Destination: m.Destination,
    ...(m.Driver ? { Driver: m.Driver } : {}),
    Mode: m.Mode,
    RW: m.RW,
    Propagation: m.Propagation,
  }))
}

function stringMap(v: unknown): Record<string, string> | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null
  const out: Record<string, string> = {}
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = String(x)
  return out
}

async function list(ctx: Ctx): Promise<void> {
  const f = parseFilters(ctx.query.get('filters'))
  const vols = await volumes(ctx).list(f.toRecord())
  // A volume the driver cannot read is listed, and why is said here, as Docker's list warns.
  const warnings = vols.flatMap((v) =>
    v.Status?.Error ? [`volume ${v.Name}: ${v.Status.Error}`] : [],
  )
  sendJson(ctx, 200, { Volumes: vols, Warnings: warnings.length > 0 ? warnings : null })
}

async function create(ctx: Ctx): Promise<void> {
  const body = (await readJson<Record<string, unknown>>(ctx)) ?? {}
  const v = await volumes(ctx).create({
    name: typeof body.Name === 'string' ? body.Name : '',
    driver: typeof body.Driver === 'string' ? body.Driver : '',
    labels: stringMap(body.Labels),
    options: stringMap(body.DriverOpts),
  })
  sendJson(ctx, 201, v)
}

async function inspect(ctx: Ctx): Promise<void> {
  sendJson(ctx, 200, await volumes(ctx).get(ctx.params.name as string))
}

async function remove(ctx: Ctx): Promise<void> {
  await volumes(ctx).remove(ctx.params.name as string, { force: ctx.query.bool('force') })
  sendStatus(ctx, 204)
}

async function prune(ctx: Ctx): Promise<void> {
  const f = parseFilters(ctx.query.get('filters'))
  // Before 1.42 a prune removed named volumes too.
  if (versionLessThan(ctx.apiVersion, '1.42')) f.add('all', 'true')
  sendJson(ctx, 200, await volumes(ctx).prune(f.toRecord()))
}

export function volumeRoutes(r: Router): void {
  r.get('/volumes', list)
  r.post('/volumes/create', create)
  r.post('/volumes/prune', prune)
  r.get('/volumes/{name}', inspect)
  r.delete('/volumes/{name}', remove)
}
