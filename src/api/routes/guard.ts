// berth's own routes, for work left in containers: their unsaved changes and the trash of
// removed ones. Docker has neither, so they live under /berth/v1/, apart from Docker's paths
// and JSON: every other client sees exactly Docker's API, a future Docker endpoint cannot
// collide with them, and the berth CLI knows a daemon without them (dockerd) by a 404 and
// falls back to Docker's behaviour.
//
//   GET    /berth/v1/containers/unsaved           every container, as known now (ps)
//          ?prune=1&filters=…                     those `container prune` would remove, measured
//   GET    /berth/v1/containers/{id}/unsaved      one container, measured now (rm's guard)
//   GET    /berth/v1/trash                        the removed containers kept, and for how long
//   POST   /berth/v1/trash/{id}/restore?name=     brings one back
//   DELETE /berth/v1/trash/{id}                   deletes one entry
//   POST   /berth/v1/trash/purge                  deletes every entry
import type { GuardApi } from '../../engine/container/types.ts'
import { NotFound } from '../../engine/errors.ts'
import { sendJson } from '../http.ts'
import type { Ctx, Router } from '../router.ts'
import { pruneMatch } from './lifecycle.ts'

function guard(ctx: Ctx): GuardApi {
  const g = ctx.engine.guard
  // As an unknown path is answered, so that clients treat it as a daemon without the guard.
  if (!g) throw new NotFound('page not found')
  return g
}

async function unsavedList(ctx: Ctx): Promise<void> {
  const g = guard(ctx)
  if (ctx.query.bool('prune')) {
    sendJson(ctx, 200, await g.unsavedPrunable(pruneMatch(ctx.query.get('filters'))))
    return
  }
  sendJson(ctx, 200, await g.unsavedAll())
}

async function unsavedOne(ctx: Ctx): Promise<void> {
  sendJson(ctx, 200, await guard(ctx).unsaved(ctx.params.id as string))
}

async function trashList(ctx: Ctx): Promise<void> {
  sendJson(ctx, 200, await guard(ctx).trash())
}

async function restore(ctx: Ctx): Promise<void> {
  sendJson(
    ctx,
    200,
    await guard(ctx).restore(ctx.params.id as string, ctx.query.get('name') || undefined),
  )
}

async function purgeOne(ctx: Ctx): Promise<void> {
  sendJson(ctx, 200, await guard(ctx).purge([ctx.params.id as string]))
}

async function purgeAll(ctx: Ctx): Promise<void> {
  sendJson(ctx, 200, await guard(ctx).purge())
}

export function guardRoutes(r: Router): void {
  r.get('/berth/v1/containers/unsaved', unsavedList)
  r.get('/berth/v1/containers/{id}/unsaved', unsavedOne)
  r.get('/berth/v1/trash', trashList)
  r.post('/berth/v1/trash/purge', purgeAll)
  r.post('/berth/v1/trash/{id}/restore', restore)
  r.delete('/berth/v1/trash/{id}', purgeOne)
}
