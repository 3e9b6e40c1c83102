// The /images routes: list, inspect, history, tag, remove, prune, load, save,
// and import (POST /images/create with fromSrc). Shapes follow moby's image router.
import { once } from 'node:events'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import type { Digest } from '../../engine/digest.ts'
import { Forbidden, Internal, InvalidArgument, NotFound } from '../../engine/errors.ts'
import type { Image, ImageRunConfig } from '../../engine/image/types.ts'
import type { Ctx, Router } from '../router.ts'
import { sendJson, sendStatus } from '../http.ts'
import { parseFilters, type Filters } from '../filters.ts'
import { JsonStream } from '../stream.ts'
import { errorLine, logError } from '../errors.ts'
import { globToRegExp } from '../../lib/glob.ts'
import { familiarName, parseNamed, type Reference } from '../../engine/reference/reference.ts'
import { timestampNanos } from '../../lib/timestamp.ts'
import { versionAtLeast, versionLessThan } from '../version.ts'

const LIST_FILTERS = ['dangling', 'label', 'before', 'since', 'reference', 'until']
const PRUNE_FILTERS = ['dangling', 'label', 'label!', 'until']

function createdMs(img: Image): number | undefined {
  const c = img.config.created
  if (!c) return undefined
  const t = Date.parse(c)
  return Number.isNaN(t) ? undefined : t
}

function unixSeconds(img: Image): number {
  const t = createdMs(img)
  return t === undefined ? 0 : Math.floor(t / 1000)
}

/** An `until` filter value (a Go duration ago, a date, or unix seconds) in unix ms. */
export function parseTimestamp(value: string, now: number): number {
  try {
    return Number(timestampNanos(value, now)) / 1e6
  } catch (err) {
    throw new InvalidArgument(`invalid value for 'until' filter: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

/** The strings a `reference` pattern may match for a stored reference, as moby tries them. */
function refTargets(ref: string): string[] {
  let r: Reference
  try {
    r = parseNamed(ref)
  } catch {
    return [ref]
  }
  const targets = [ref, familiarName(r), r.name]
  if (r.digest === undefined) targets.push(`${r.name}:${r.tag ?? 'latest'}`)
  else targets.push(`${r.name}@${r.digest}`)
  return targets
}

function matchesReference(filters: Filters, ref: string): boolean {
  const patterns = filters.get('reference')
  const targets = refTargets(ref)
  for (const pat of patterns) {
    let re: RegExp
    try {
      re = globToRegExp(pat)
    } catch {
      throw new InvalidArgument('syntax error in pattern')
    }
    if (targets.some((t) => re.test(t))) return true
  }
  return false
}

async function listImages(ctx: Ctx): Promise<void> {
  const { query, engine, apiVersion } = ctx
  const filters = parseFilters(query.get('filters'))
  // API 1.24 clients send the reference filter as `filter`.
  if (versionLessThan(apiVersion, '1.25') && !filters.has('reference') && query.get('filter')) {
    filters.add('reference', query.get('filter')!)
  }
  filters.validate(LIST_FILTERS)
  const danglingOnly = filters.boolOr('dangling', false)
  const all = query.bool('all')
  const now = Date.now()

  let before: number | undefined
  for (const v of filters.get('before')) {
    const t = createdMs(await engine.images.resolve(v))
    if (t !== undefined && (before === undefined || t < before)) before = t
  }
  for (const v of filters.get('until')) {
    const t = parseTimestamp(v, now)
    if (before === undefined || t < before) before = t
  }
  let since: number | undefined
  for (const v of filters.get('since')) {
    const t = createdMs(await engine.images.resolve(v))
    if (t !== undefined && (since === undefined || t > since)) since = t
  }

  const images = await engine.images.list()
  const hasChildren = new Set<string>()
  for (const img of images) if (img.parent) hasChildren.add(img.parent)

  const out: { created: number; summary: Record<string, unknown> }[] = []
  for (const img of images) {
    // Dangling means a head (no children) without tags, as in moby's Heads().
    if (danglingOnly && hasChildren.has(img.id)) continue
    const t = createdMs(img)
    if (before !== undefined && (t === undefined || t >= before)) continue
    if (since !== undefined && (t === undefined || t <= since)) continue
    if (filters.has('label') && !filters.matchKV('label', img.config.config?.Labels)) continue

    let repoTags = img.repoTags
    let repoDigests = img.repoDigests
    if (filters.has('reference')) {
      repoTags = repoTags.filter((r) => matchesReference(filters, r))
      repoDigests = repoDigests.filter((r) => matchesReference(filters, r))
    }
    if (repoTags.length === 0 && repoDigests.length === 0) {
      if (all || !hasChildren.has(img.id)) {
        if (filters.has('dangling') && !danglingOnly) continue
        if (filters.has('reference')) continue
      } else continue
    } else if (danglingOnly && repoTags.length > 0) continue

    if (versionLessThan(apiVersion, '1.43') && repoTags.length === 0 && repoDigests.length === 0) {
      repoTags = ['<none>:<none>']
      repoDigests = ['<none>@<none>']
    }
    const summary: Record<string, unknown> = {
      Containers: -1,
      Created: unixSeconds(img),
      Id: img.id,
      Labels: img.config.config?.Labels ?? null,
      ParentId: img.parent ?? '',
      RepoDigests: repoDigests,
      RepoTags: repoTags,
      SharedSize: -1,
      Size: img.size,
    }
    if (versionLessThan(apiVersion, '1.44')) summary['VirtualSize'] = img.size
    out.push({ created: t ?? 0, summary })
  }
  out.sort((a, b) => b.created - a.created)
  sendJson(
    ctx,
    200,
    out.map((o) => o.summary),
  )
}

/** An image's run config in the container-config shape API 1.45 and older clients read. */
export function legacyConfig(c: ImageRunConfig | undefined): Record<string, unknown> {
  const src = (c ?? {}) as ImageRunConfig & Record<string, unknown>
  const out: Record<string, unknown> = {
    Hostname: src['Hostname'] ?? '',
    Domainname: src['Domainname'] ?? '',
    User: src.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
  }
  if (src.ExposedPorts && Object.keys(src.ExposedPorts).length > 0)
    out['ExposedPorts'] = src.ExposedPorts
  Object.assign(out, {
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: src.Env ?? null,
    Cmd: src.Cmd ?? null,
  })
  if (src['Healthcheck'] !== undefined) out['Healthcheck'] = src['Healthcheck']
  if (src['ArgsEscaped']) out['ArgsEscaped'] = src['ArgsEscaped']
  Object.assign(out, {
    Image: src['Image'] ?? '',
    Volumes: src.Volumes ?? null,
    WorkingDir: src.WorkingDir ?? '',
    Entrypoint: src.Entrypoint ?? null,
    OnBuild: src.OnBuild ?? null,
    Labels: src.Labels ?? null,
  })
  if (src.StopSignal) out['StopSignal'] = src.StopSignal
  if (src['StopTimeout'] !== undefined) out['StopTimeout'] = src['StopTimeout']
  if (src.Shell && src.Shell.length > 0) out['Shell'] = src.Shell
  return out
}

const ZERO_TIME = '0001-01-01T00:00:00Z'

export function inspectImage(img: Image, apiVersion: string): Record<string, unknown> {
  const cfg = img.config
  const history = cfg.history ?? []
  const comment =
    cfg.comment || (history.length > 0 ? (history[history.length - 1]!.comment ?? '') : '')
  let created = cfg.created ?? ''
  if (created === '' && versionLessThan(apiVersion, '1.44')) created = ZERO_TIME
  const out: Record<string, unknown> = {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Parent: img.parent ?? '',
    Comment: comment,
    Created: created,
  }
  if (versionLessThan(apiVersion, '1.45')) {
    out['Container'] = cfg.container ?? ''
    out['ContainerConfig'] = legacyConfig(cfg.container_config)
  }
  Object.assign(out, {
    DockerVersion: cfg.docker_version ?? '',
    Author: cfg.author ?? '',
    Config: legacyConfig(cfg.config),
    Architecture: cfg.architecture,
  })
  if (cfg.variant) out['Variant'] = cfg.variant
  out['Os'] = cfg.os
  out['Size'] = img.size
  if (versionLessThan(apiVersion, '1.44')) out['VirtualSize'] = img.size
  out['GraphDriver'] = { Data: null, Name: 'overlay2' }
  const rootfs: Record<string, unknown> = { Type: cfg.rootfs.type }
  if (cfg.rootfs.diff_ids.length > 0) rootfs['Layers'] = cfg.rootfs.diff_ids
  out['RootFS'] = rootfs
  out['Metadata'] = { LastTagTime: img.addedAt || ZERO_TIME }
  return out
}

async function getImage(ctx: Ctx): Promise<void> {
  const img = await ctx.engine.images.resolve(ctx.params['name']!)
  sendJson(ctx, 200, inspectImage(img, ctx.apiVersion))
}

interface HistoryItem {
  Comment: string
  Created: number
  CreatedBy: string
  Id: string
  Size: number
  Tags: string[] | null
}

/** `docker history`: newest first; IDs only where an image we hold owns the step. */
export async function imageHistory(ctx: Ctx, img: Image): Promise<HistoryItem[]> {
  const items: HistoryItem[] = []
  let layer = 0
  const single = img.layers.length === 1
  for (const h of img.config.history ?? []) {
    let size = 0
    if (!h.empty_layer) {
      const l = img.layers[layer]
      if (!l) throw new Internal('too many non-empty layers in History section')
      // The store keeps unpacked sizes per image, not per layer; for one layer they agree.
      size = single ? img.size : l.blobSize
      layer++
    }
    const t = h.created ? Date.parse(h.created) : NaN
    items.unshift({
      Comment: h.comment ?? '',
      Created: Number.isNaN(t) ? 0 : Math.floor(t / 1000),
      CreatedBy: h.created_by ?? '',
      Id: '<missing>',
      Size: size,
      Tags: null,
    })
  }
  let cur: Image | undefined = img
  for (const item of items) {
    if (!cur) break
    item.Id = cur.id
    item.Tags = cur.repoTags.length > 0 ? [...cur.repoTags] : null
    if (!cur.parent) break
    cur = await ctx.engine.images.get(cur.parent as Digest)
  }
  return items
}

async function getHistory(ctx: Ctx): Promise<void> {
  const img = await ctx.engine.images.resolve(ctx.params['name']!)
  sendJson(ctx, 200, await imageHistory(ctx, img))
}

/**
 * moby's RepoTagReference: `repo` may carry its own tag, `tag` overrides it. The CLI sends
 * normalized names (docker.io/library/foo); the store is given familiar ones.
 */
/** httputils.RepoTagReference's reference, familiar: repo and tag (latest by default). */
function repoTag(repo: string, tag: string): string | undefined {
  if (repo === '') return undefined
  const r = parseNamed(repo)
  if (r.digest !== undefined && tag === '') return `${familiarName(r)}@${r.digest}`
  return `${familiarName(r)}:${tag || r.tag || 'latest'}`
}

async function tagImage(ctx: Ctx): Promise<void> {
  const repo = ctx.query.get('repo') ?? ''
  const tag = ctx.query.get('tag') ?? ''
  if (repo === '')
    throw new InvalidArgument(
      'invalid reference format: repository name must have at least one component',
    )
  if (familiarName(parseNamed(repo)) === 'sha256') {
    throw new InvalidArgument('refusing to create an ambiguous tag using digest algorithm as name')
  }
  await ctx.engine.images.tag(ctx.params['name']!, repoTag(repo, tag)!)
  sendStatus(ctx, 201)
}

async function deleteImage(ctx: Ctx): Promise<void> {
  const name = ctx.params['name'] ?? ''
  if (name.trim() === '') throw new InvalidArgument('image name cannot be blank')
  const list = await ctx.engine.images.remove(name, {
    force: ctx.query.bool('force'),
    noPrune: ctx.query.bool('noprune'),
  })
  sendJson(ctx, 200, list)
}

async function pruneImages(ctx: Ctx): Promise<void> {
  const filters = parseFilters(ctx.query.get('filters'))
  filters.validate(PRUNE_FILTERS)
  const danglingOnly = filters.boolOr('dangling', true)
  for (const v of filters.get('until')) parseTimestamp(v, Date.now())
  const r = await ctx.engine.images.prune({ all: !danglingOnly, filters: filters.toRecord() })
  sendJson(ctx, 200, {
    ImagesDeleted: r.deleted.length > 0 ? r.deleted : null,
    SpaceReclaimed: r.spaceReclaimed,
  })
}

async function loadImages(ctx: Ctx): Promise<void> {
  const quiet = ctx.query.boolOr('quiet', true)
  const out = new JsonStream(ctx)
  let announced = false
  try {
    const r = await ctx.engine.images.load(ctx.req, {
      signal: ctx.signal,
      // Messages (`Loaded image: x`, renames) always go out; progress bars only when not quiet.
      progress: (p) => {
        if (p.stream !== undefined) {
          if (p.stream.startsWith('Loaded image')) announced = true
          out.write(p)
        } else if (!quiet) out.write(p)
      },
    })
    if (!announced) {
      for (const ref of r.loaded) {
        out.text(ref.startsWith('sha256:') ? `Loaded image ID: ${ref}\n` : `Loaded image: ${ref}\n`)
      }
    }
  } catch (err) {
    // moby reports load failures in the stream, status 200, whether or not it has begun.
    logError({ req: ctx.req, res: ctx.res, logger: ctx.logger }, err)
    out.write(errorLine(err))
  }
  out.end()
}

async function saveImages(ctx: Ctx): Promise<void> {
  const name = ctx.params['name']
  const names = name !== undefined ? [name] : ctx.query.all('names')
  const archive = await ctx.engine.images.save(names, { signal: ctx.signal })
  const it = archive[Symbol.asyncIterator]()
  // Errors before the first byte still get their status.
  let first: IteratorResult<Buffer>
  try {
    first = (await it.next()) as IteratorResult<Buffer>
  } catch (err) {
    archive.destroy()
    throw err
  }
  ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' })
  try {
    for (let r = first; !r.done; r = (await it.next()) as IteratorResult<Buffer>) {
      if (!ctx.res.write(r.value)) await once(ctx.res, 'drain', { signal: ctx.signal })
    }
  } catch (err) {
    archive.destroy()
    throw err
  }
  ctx.res.end()
}

/** Counts bytes through and reports them as Docker's "Importing" progress. */
class ProgressCounter extends Transform {
  private current = 0
  private last = 0
  constructor(
    private readonly total: number | undefined,
    private readonly report: (current: number, total: number | undefined) => void,
  ) {
    super()
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.current += chunk.length
    const now = Date.now()
    if (now - this.last >= 100) {
      this.last = now
      this.report(this.current, this.total)
    }
    cb(null, chunk)
  }
  override _flush(cb: TransformCallback): void {
    this.report(this.current, this.total)
    cb()
  }
}

async function importImage(ctx: Ctx, src: string): Promise<void> {
  const repo = ctx.query.get('repo') ?? ''
  const tag = ctx.query.get('tag') ?? ''
  const message = ctx.query.get('message') || `Imported from ${src}`
  const platform = versionAtLeast(ctx.apiVersion, '1.32')
    ? ctx.query.get('platform') || undefined
    : undefined
  const target = repoTag(repo, tag)
  const out = new JsonStream(ctx)
  let tar: Readable
  if (src === '-') {
    tar = ctx.req
  } else {
    const url = src.includes('://') ? src : `http://${src}`
    let u: URL
    try {
      u = new URL(url)
    } catch (err) {
      throw new InvalidArgument(`parse ${JSON.stringify(url)}: invalid URL`, { cause: err })
    }
    let resp: Response
    try {
      resp = await fetch(u, { signal: ctx.signal })
    } catch (err) {
      throw new Internal(`Get ${JSON.stringify(u.href)}: ${(err as Error).message}`, { cause: err })
    }
    if (!resp.ok || !resp.body) {
      const body = await resp.text().catch(() => '')
      const msg = `failed to GET ${u.href} with status ${resp.status} ${resp.statusText}: ${body}`
      throw resp.status === 404 ? new NotFound(msg) : new Internal(msg)
    }
    out.status(`Downloading from ${u.href}`)
    const lenHeader = resp.headers.get('content-length')
    const total = lenHeader ? Number.parseInt(lenHeader, 10) : undefined
    const counter = new ProgressCounter(total, (current, t) =>
      out.write({
        status: 'Importing',
        progressDetail: t && t > 0 ? { current, total: t } : { current },
      }),
    )
    tar = Readable.fromWeb(resp.body as import('node:stream/web').ReadableStream<Uint8Array>).pipe(
      counter,
    )
  }
  try {
    const img = await ctx.engine.images.importRootfs(tar, {
      changes: ctx.query.all('changes'),
      message,
      tag: target,
      platform,
      signal: ctx.signal,
    })
    out.status(img.id)
  } catch (err) {
    out.fail(err)
  }
  out.end()
}

async function createImage(ctx: Ctx): Promise<void> {
  const fromImage = ctx.query.get('fromImage') ?? ''
  if (fromImage !== '') {
    let ref = fromImage.replace(/:$/, '')
    const tag = ctx.query.get('tag') ?? ''
    if (tag !== '') ref = /^[a-z0-9]+:[a-f0-9]{32,}$/.test(tag) ? `${ref}@${tag}` : `${ref}:${tag}`
    if (familiarName(parseNamed(ref)) === 'scratch')
      throw new Forbidden("'scratch' is a reserved name")
    throw new Internal(`pull is not supported by this berthd yet: cannot fetch ${ref}`)
  }
  await importImage(ctx, ctx.query.get('fromSrc') ?? '')
}

export function imageRoutes(r: Router): void {
  r.get('/images/json', listImages)
  r.get('/images/get', saveImages)
  r.get('/images/{name:.*}/get', saveImages)
  r.get('/images/{name:.*}/history', getHistory)
  r.get('/images/{name:.*}/json', getImage)
  r.post('/images/load', loadImages)
  r.post('/images/create', createImage)
  r.post('/images/{name:.*}/tag', tagImage)
  r.post('/images/prune', pruneImages)
  r.delete('/images/{name:.*}', deleteImage)
}
