// Lifecycle routes: pause, unpause, restart, rename, prune, top, stats, update, and the
// event stream (GET /events), in moby's shapes and words.
import type {
  Container,
  LifecycleApi,
  StatsJson,
  UpdateRequest,
} from '../../engine/container/types.ts'
import { InvalidArgument, Internal } from '../../engine/errors.ts'
import { eventJson, type EngineEvent, type EventsApi } from '../../engine/events/types.ts'
import { parsed } from '../../engine/grammar.ts'
import { timestampNanos } from '../../lib/timestamp.ts'
import { parseFilters, type Filters } from '../filters.ts'
import { readJson, sendJson, sendStatus } from '../http.ts'
import type { Ctx, Router } from '../router.ts'

function lifecycle(ctx: Ctx): LifecycleApi {
  const l = ctx.engine.lifecycle
  if (!l) throw new Internal('container lifecycle operations are not supported by this engine')
  return l
}

function events(ctx: Ctx): EventsApi {
  return ctx.engine.events
}

const id = (ctx: Ctx): string => ctx.params.id as string

async function pause(ctx: Ctx): Promise<void> {
  await lifecycle(ctx).pause(id(ctx))
  sendStatus(ctx, 204)
}

async function unpause(ctx: Ctx): Promise<void> {
  await lifecycle(ctx).unpause(id(ctx))
  sendStatus(ctx, 204)
}

async function restart(ctx: Ctx): Promise<void> {
  const t = ctx.query.has('t') ? ctx.query.int('t', 10) : undefined
  await lifecycle(ctx).restart(id(ctx), t, ctx.query.get('signal') || undefined)
  sendStatus(ctx, 204)
}

async function rename(ctx: Ctx): Promise<void> {
  await lifecycle(ctx).rename(id(ctx), ctx.query.get('name') ?? '')
  sendStatus(ctx, 204)
}

async function top(ctx: Ctx): Promise<void> {
  sendJson(ctx, 200, await lifecycle(ctx).top(id(ctx), ctx.query.get('ps_args') ?? ''))
}

async function update(ctx: Ctx): Promise<void> {
  const body = await readJson<UpdateRequest>(ctx)
  if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
    throw new InvalidArgument('invalid JSON: update config must be an object')
  }
  sendJson(ctx, 200, await lifecycle(ctx).update(id(ctx), body ?? {}))
}

/** A since/until value in any of the client's forms (lib/timestamp.ts), in unix nanoseconds. */
export function parseTimestamp(value: string, nowMs = Date.now()): bigint {
  return parsed(() => timestampNanos(value, nowMs))
}

async function prune(ctx: Ctx): Promise<void> {
  const f = parseFilters(ctx.query.get('filters'))
  f.validate(['until', 'label', 'label!'])
  let until: bigint | undefined
  for (const v of f.get('until')) until = parseTimestamp(v)
  const match = (c: Container): boolean => {
    if (until !== undefined && BigInt(Date.parse(c.created)) * 1_000_000n > until) return false
    if (!f.matchKV('label', c.config.Labels)) return false
    if (f.has('label!') && notLabelMatches(f, c.config.Labels)) return false
    return true
  }
  sendJson(ctx, 200, await lifecycle(ctx).prune(match))
}

/** moby's `label!`: any listed key (or key=value) that the container has excludes it. */
function notLabelMatches(f: Filters, labels: Record<string, string> | null | undefined): boolean {
  const l = labels ?? {}
  return f.get('label!').some((v) => {
    const eq = v.indexOf('=')
    const k = eq < 0 ? v : v.slice(0, eq)
    if (!Object.prototype.hasOwnProperty.call(l, k)) return false
    return eq < 0 || l[k] === v.slice(eq + 1)
  })
}

function writeLine(ctx: Ctx, value: unknown): boolean {
  if (ctx.res.writableEnded || ctx.res.destroyed) return false
  ctx.res.write(JSON.stringify(value) + '\n')
  return true
}

/** Docker's stats: one-shot (no precpu), a two-sample answer (1 s apart), or a stream per second. */
async function stats(ctx: Ctx): Promise<void> {
  const stream = ctx.query.boolOr('stream', true)
  const oneShot = ctx.query.bool('one-shot')
  if (stream && oneShot) throw new InvalidArgument('cannot have stream=true and one-shot=true')
  const l = lifecycle(ctx)
  const ref = id(ctx)
  let prev = await l.stats(ref)
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' })
  if (!stream) {
    if (!oneShot && prev.read !== '0001-01-01T00:00:00Z') {
      if (!(await sleep(1000, ctx.signal))) return
      prev = withPrevious(await l.stats(ref), prev)
    }
    ctx.res.end(JSON.stringify(prev) + '\n')
    return
  }
  ctx.res.flushHeaders()
  writeLine(ctx, prev)
  // One timer per open stream; it stops when the client goes or the container is removed.
  while (await sleep(1000, ctx.signal)) {
    let next: StatsJson
    try {
      next = await l.stats(ref)
    } catch {
      break
    }
    prev = withPrevious(next, prev)
    if (!writeLine(ctx, prev)) break
  }
  if (!ctx.res.writableEnded) ctx.res.end()
}

function withPrevious(next: StatsJson, prev: StatsJson): StatsJson {
  return { ...next, preread: prev.read, precpu_stats: prev.cpu_stats }
}

/** Resolves true after ms, or false at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve(true)
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      resolve(false)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** moby's events filter: exact or prefix match of names and IDs, exact type and action. */
export function eventMatcher(f: Filters): (e: EngineEvent) => boolean {
  const exact = (k: string, v: string): boolean => f.exactMatch(k, v)
  const fuzzy = (k: string, v: string): boolean =>
    f.exactMatch(k, v) || f.get(k).some((p) => v.startsWith(p))
  const stripTag = (s: string): string => {
    if (s.startsWith('sha256:')) return s
    const at = s.indexOf('@')
    const base = at >= 0 ? s.slice(0, at) : s
    const colon = base.lastIndexOf(':')
    return colon > base.lastIndexOf('/') ? base.slice(0, colon) : base
  }
  return (e) => {
    const attrs = e.Actor.Attributes
    const name = attrs.name ?? ''
    const byType = (t: string): boolean =>
      !f.has(t) || fuzzy(t, e.Actor.ID) || (name !== '' && fuzzy(t, name))
    const fuzzyEvents = f
      .get('event')
      .some((v) => ['health_status', 'exec_create', 'exec_start'].includes(v))
    if (fuzzyEvents ? !fuzzy('event', e.Action) : !exact('event', e.Action)) return false
    if (!exact('type', e.Type) || !exact('scope', e.scope)) return false
    for (const t of ['container', 'volume', 'network', 'plugin', 'daemon']) {
      if (!byType(t)) return false
    }
    if (f.has('image')) {
      const img = (e.Type === 'image' ? attrs.name : attrs.image) ?? ''
      const ok = [e.Actor.ID, img, stripTag(e.Actor.ID), stripTag(img)].some((v) =>
        f.exactMatch('image', v),
      )
      if (!ok) return false
    }
    return f.matchKV('label', attrs)
  }
}

async function eventsRoute(ctx: Ctx): Promise<void> {
  const bus = events(ctx)
  const q = ctx.query
  const since = q.get('since') ? parseTimestamp(q.get('since') as string) : undefined
  const until = q.get('until') ? parseTimestamp(q.get('until') as string) : undefined
  const f = parseFilters(q.get('filters'))
  const sub = bus.subscribe({ since, until, match: eventMatcher(f) })
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' })
  ctx.res.flushHeaders()
  ctx.res.socket?.setNoDelay(true)
  const onAbort = (): void => sub.close()
  ctx.signal.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const e of sub) {
      if (ctx.res.writableEnded || ctx.res.destroyed) break
      ctx.res.write(eventJson(e) + '\n')
    }
  } finally {
    ctx.signal.removeEventListener('abort', onAbort)
    sub.close()
    if (!ctx.res.writableEnded) ctx.res.end()
  }
}

export function lifecycleRoutes(r: Router): void {
  r.post('/containers/prune', prune)
  r.post('/containers/{id}/pause', pause)
  r.post('/containers/{id}/unpause', unpause)
  r.post('/containers/{id}/restart', restart)
  r.post('/containers/{id}/rename', rename)
  r.post('/containers/{id}/update', update)
  r.get('/containers/{id}/top', top)
  r.get('/containers/{id}/stats', stats)
  r.get('/events', eventsRoute)
}
