// Container file routes: changes (diff), export, archive (cp) and commit.
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ContainerConfig, ContainerFilesApi, PathStat } from '../../engine/container/types.ts'
import { Internal, InvalidArgument } from '../../engine/errors.ts'
import { readJson, sendJson } from '../http.ts'
import type { Ctx, Router } from '../router.ts'

function files(ctx: Ctx): ContainerFilesApi {
  const f = ctx.engine.files
  if (!f) throw new Internal('this engine does not handle container files')
  return f
}

function statHeader(stat: PathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString('base64')
}

async function streamTar(
  ctx: Ctx,
  tar: Readable,
  headers: Record<string, string> = {},
): Promise<void> {
  ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar', ...headers })
  try {
    await pipeline(tar, ctx.res, { signal: ctx.signal })
  } catch {
    // The client went away, or reading failed half way: the response cannot say more.
    tar.destroy()
    ctx.res.destroy()
  }
}

function archivePath(ctx: Ctx): string {
  const p = ctx.query.get('path')
  if (p === undefined || p === '') throw new InvalidArgument('path is required')
  return p
}

async function changes(ctx: Ctx): Promise<void> {
  sendJson(ctx, 200, await files(ctx).changes(ctx.params.id as string))
}

async function exportRoute(ctx: Ctx): Promise<void> {
  await streamTar(ctx, await files(ctx).exportRootfs(ctx.params.id as string))
}

async function headArchive(ctx: Ctx): Promise<void> {
  const stat = await files(ctx).statPath(ctx.params.id as string, archivePath(ctx))
  ctx.res.writeHead(200, {
    'Content-Type': 'application/json',
    'X-Docker-Container-Path-Stat': statHeader(stat),
  })
  ctx.res.end()
}

async function getArchive(ctx: Ctx): Promise<void> {
  const { stat, tar } = await files(ctx).getArchive(ctx.params.id as string, archivePath(ctx))
  await streamTar(ctx, tar, { 'X-Docker-Container-Path-Stat': statHeader(stat) })
}

async function putArchive(ctx: Ctx): Promise<void> {
  const q = ctx.query
  await files(ctx).putArchive(ctx.params.id as string, archivePath(ctx), ctx.req, {
    noOverwriteDirNonDir: q.bool('noOverwriteDirNonDir'),
    copyUIDGID: q.bool('copyUIDGID'),
    signal: ctx.signal,
  })
  ctx.res.writeHead(200)
  ctx.res.end()
}

async function commit(ctx: Ctx): Promise<void> {
  const q = ctx.query
  const container = q.get('container') ?? ''
  if (container === '') throw new InvalidArgument('No container name or ID supplied')
  const config = (await readJson<Partial<ContainerConfig> | null>(ctx)) ?? undefined
  const out = await files(ctx).commit(container, {
    repo: q.get('repo') || undefined,
    tag: q.get('tag') || undefined,
    comment: q.get('comment') || undefined,
    author: q.get('author') || undefined,
    pause: q.boolOr('pause', true),
    changes: q.all('changes'),
    config: config ?? undefined,
  })
  sendJson(ctx, 201, out)
}

export function fileRoutes(r: Router): void {
  r.get('/containers/{id}/changes', changes)
  r.get('/containers/{id}/export', exportRoute)
  r.head('/containers/{id}/archive', headArchive)
  r.get('/containers/{id}/archive', getArchive)
  r.put('/containers/{id}/archive', putArchive)
  r.post('/commit', commit)
}
