// POST /build (the classic builder's endpoint, which the docker CLI uses without buildx) and
// POST /build/prune. The request body is the build context, streamed to the engine as it arrives.
import type { BuildEvent, BuildOptions, NetworkMode } from '../../engine/builder/types.ts'
import { InvalidArgument, Unavailable } from '../../engine/errors.ts'
// eslint-disable-next-line berth/boundaries -- X-Registry-Config decoding is wire format, kept beside the client it feeds (as routes/registry.ts does)
import { decodeRegistryConfig } from '../../engine/registry/authconfig.ts'
import { familiarString, parseNamed, tagNameOnly } from '../../engine/reference/reference.ts'
import { parseFilters } from '../filters.ts'
import { logError, messageOf } from '../errors.ts'
import { readJson, sendJson } from '../http.ts'
import type { Ctx, Router } from '../router.ts'
import { JsonStream, type JsonMessage } from '../stream.ts'
import { timestampNanos } from '../../lib/timestamp.ts'
import { ClassicStream } from './build-stream.ts'
import { readContextFrame, readSecretsFrame } from './build-secrets.ts'
import {
  CONTEXT_DIGEST_QUERY,
  CONTEXT_PATH_QUERY,
  CONTEXT_QUERY,
  CONTEXT_SAME_QUERY,
  SCAN_BUILD_PATH,
  SECRETS_QUERY,
} from '../../lib/build-secrets.ts'
import { contextKeyOf, scanDigestOf } from '../../lib/build-digest.ts'

function jsonMap(raw: string | undefined, name: string): Record<string, string | null> {
  if (raw === undefined || raw === '') return {}
  let v: unknown
  try {
    v = JSON.parse(raw)
  } catch {
    throw new InvalidArgument(`invalid ${name} JSON: ${raw}`)
  }
  if (v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v))
    throw new InvalidArgument(`invalid ${name} JSON: ${raw}`)
  const out: Record<string, string | null> = {}
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (val !== null && typeof val !== 'string')
      throw new InvalidArgument(`invalid ${name} JSON: ${raw}`)
    out[k] = val
  }
  return out
}

function networkMode(raw: string | undefined): NetworkMode {
  switch (raw ?? '') {
    case '':
    case 'default':
    case 'bridge':
      return 'default'
    case 'none':
      return 'none'
    case 'host':
      return 'host'
    default:
      throw new InvalidArgument(
        `network mode ${JSON.stringify(raw)} is not supported for builds: use default, none or host`,
      )
  }
}

/** Docker's error line, with the exit code of a failed step. */
function errorMessage(err: unknown, code: number | undefined): JsonMessage {
  const message = messageOf(err)
  return { errorDetail: code === undefined ? { message } : { code, message }, error: message }
}

/** The event as berth's CLI reads it (its own progress display), output as text. */
function berthEvent(e: BuildEvent): unknown {
  return e.type === 'output' ? { ...e, data: e.data.toString('utf8') } : e
}

function headerValue(ctx: Ctx, name: string): string | undefined {
  const v = ctx.req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

async function build(ctx: Ctx, scan = false): Promise<void> {
  const builder = ctx.engine.builder
  if (!builder) throw new Unavailable('this daemon has no builder')
  const q = ctx.query
  if (q.get('version') === '2') {
    throw new InvalidArgument(
      'BuildKit builds (version 2) are not supported; berth builds with its own builder through the classic API',
    )
  }
  if (q.get('remote'))
    throw new InvalidArgument(
      'remote build contexts (remote=) are not supported; send the context in the request body',
    )
  const tags: string[] = []
  for (const t of q.all('t')) {
    if (t === '') continue
    const ref = parseNamed(t)
    if (ref.digest !== undefined)
      throw new InvalidArgument('refusing to create a tag with a digest reference')
    tags.push(familiarString(tagNameOnly(ref)))
  }
  const quiet = q.bool('q')
  const berth = q.bool('berthprogress')
  const opts: BuildOptions = {
    dockerfile: q.get('dockerfile') || 'Dockerfile',
    tags,
    buildArgs: jsonMap(q.get('buildargs'), 'buildargs'),
    labels: Object.fromEntries(
      Object.entries(jsonMap(q.get('labels'), 'labels')).map(([k, v]) => [k, v ?? '']),
    ),
    ...(q.get('target') ? { target: q.get('target')! } : {}),
    noCache: q.bool('nocache'),
    pull: q.bool('pull'),
    network: networkMode(q.get('networkmode')),
    extraHosts: q
      .all('extrahosts')
      .flatMap((h) => h.split(','))
      .filter((h) => h !== ''),
    ...(q.get('platform') ? { platform: q.get('platform')! } : {}),
    // The credentials the client has, by registry, for FROM images it pulls.
    registryAuth: decodeRegistryConfig(headerValue(ctx, 'x-registry-config')),
    signal: ctx.signal,
  }
  for (const h of opts.extraHosts) {
    if (!/^[^:]+:.+$/.test(h)) throw new InvalidArgument(`invalid IP address in add-host: "${h}"`)
  }
  // berth's CLI sends `--secret` values in a frame before the context (build-secrets.ts).
  if (q.bool(SECRETS_QUERY)) opts.secrets = await readSecretsFrame(ctx.req)
  // berth's synced context: a listing of every path, then a tar of what changed.
  const contextKey = q.get(CONTEXT_QUERY)
  const same = q.get(CONTEXT_SAME_QUERY)
  if (scan) {
    // An unchanged rebuild that sends its scan: the rest of the body, hashed here.
    const real = q.get(CONTEXT_PATH_QUERY)
    if (!real) throw new InvalidArgument(`build context: ${CONTEXT_PATH_QUERY} is missing`)
    opts.syncedContext = { key: contextKeyOf(real), unchanged: await scanDigestOf(ctx.req) }
  } else if (contextKey && same) {
    // Unchanged since the kept copy: no listing and no tar follow (a 409 if it is not so).
    opts.syncedContext = { key: contextKey, unchanged: same }
  } else if (contextKey) {
    const digest = q.get(CONTEXT_DIGEST_QUERY)
    if (digest && !/^[0-9a-f]{64}$/.test(digest))
      throw new InvalidArgument(`invalid build context digest: ${digest}`)
    opts.syncedContext = {
      key: contextKey,
      listing: await readContextFrame(ctx.req),
      ...(digest ? { digest } : {}),
    }
  }
  const stream = new JsonStream(ctx)
  const classic = new ClassicStream((m) => {
    if (!quiet) stream.write(m)
  })
  let result
  let exitCode: number | undefined
  try {
    result = await builder.build(ctx.req, opts, (e) => {
      if (e.type === 'error') exitCode = e.exitCode
      classic.handle(e)
      if (berth) stream.write({ id: 'berth.build', aux: berthEvent(e) })
    })
  } catch (err) {
    // Before anything was sent, the error is the response; after, it ends the stream.
    if (!stream.started) throw err
    logError({ req: ctx.req, res: ctx.res, logger: ctx.logger }, err)
    classic.flushAll()
    stream.write(errorMessage(err, exitCode))
    stream.end()
    return
  }
  if (quiet) {
    stream.write({ stream: `${result.imageId}\n` })
    stream.end()
    return
  }
  stream.write({ aux: { ID: result.imageId } })
  if (result.unusedArgs.length > 0) {
    stream.write({
      stream: `[Warning] One or more build-args [${result.unusedArgs.join(' ')}] were not consumed\n`,
    })
  }
  stream.write({ stream: `Successfully built ${result.imageId.slice(7, 19)}\n` })
  for (const t of result.tags) stream.write({ stream: `Successfully tagged ${t}\n` })
  stream.end()
}

/** The build cache filters moby passes on to BuildKit (its cacheFields), and until/unused-for. */
const CACHE_FILTERS = ['id', 'parent', 'type', 'description', 'inuse', 'shared', 'private']

/**
 * moby's build-cache prune filters: `until` (or its older name `unused-for`) is a duration or a
 * timestamp, once; it keeps what was used since then.
 */
function keepDuration(f: ReturnType<typeof parseFilters>, now: number): number | undefined {
  const until = f.get('until')
  const unusedFor = f.get('unused-for')
  if (until.length > 0 && unusedFor.length > 0)
    throw new InvalidArgument('conflicting filters: "until" and "unused-for"')
  const key = unusedFor.length > 0 ? 'unused-for' : 'until'
  const values = [...until, ...unusedFor]
  if (values.length === 0) return undefined
  if (values.length > 1) throw new InvalidArgument('filters expect only one value')
  let at: number
  try {
    at = Number(timestampNanos(values[0]!, now)) / 1e6
  } catch (err) {
    throw new InvalidArgument(
      `"${key}" filter expects a duration (e.g., '24h') or a timestamp: ${(err as Error).message}`,
      { cause: err },
    )
  }
  return Math.max(now - at, 0)
}

async function prune(ctx: Ctx): Promise<void> {
  const builder = ctx.engine.builder
  if (!builder) throw new Unavailable('this daemon has no builder')
  const filters = parseFilters(ctx.query.get('filters'))
  filters.validate(['until', 'unused-for', ...CACHE_FILTERS])
  for (const k of CACHE_FILTERS) {
    if (filters.has(k)) {
      throw new InvalidArgument(
        `the ${k} filter of builder prune is not supported by berth; until is`,
      )
    }
  }
  const keep = keepDuration(filters, Date.now())
  // keep-storage (API < 1.48) and its newer name reserved-space: bytes of cache to keep.
  const keepBytes = ctx.query.int('reserved-space', ctx.query.int('keep-storage', 0))
  if (keepBytes < 0) throw new InvalidArgument('keep-storage must not be negative')
  const r = await builder.prune({
    all: ctx.query.bool('all'),
    ...(keep !== undefined ? { keepDuration: keep } : {}),
    ...(keepBytes > 0 ? { keepBytes } : {}),
  })
  sendJson(ctx, 200, { CachesDeleted: r.deleted, SpaceReclaimed: r.spaceReclaimed })
}

/** berth's synced contexts: which paths of the client's listing the daemon needs sent. */
async function contextNeeds(ctx: Ctx): Promise<void> {
  const builder = ctx.engine.builder
  if (!builder) throw new Unavailable('this daemon has no builder')
  const key = ctx.query.get('key') ?? ''
  const body = await readJson<{ Listing?: Record<string, string> }>(ctx, 256 * 1024 * 1024)
  const listing = body?.Listing
  if (!listing || typeof listing !== 'object')
    throw new InvalidArgument('build context: the body needs a Listing object')
  sendJson(ctx, 200, { Needs: await builder.contextNeeds(key, listing) })
}

export function buildRoutes(r: Router): void {
  r.post('/build', (ctx) => build(ctx))
  // berth's CLI asks here first with an unchanged synced context: dockerd answers 404, and the
  // CLI then sends the context as to any daemon.
  r.post('/berth/v1/build', (ctx) => build(ctx))
  // the same with the client's scan in the body, hashed here (lib/build-secrets.ts)
  r.post(SCAN_BUILD_PATH, (ctx) => build(ctx, true))
  r.post('/berth/v1/build/context', contextNeeds)
  r.post('/build/prune', prune)
}
