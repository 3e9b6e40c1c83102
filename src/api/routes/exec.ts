// exec and resize routes: POST /containers/{id}/exec, /exec/{id}/start|resize|json, and
// POST /containers/{id}/resize, with moby's shapes, hijack and words.
import type { ExecApi, ExecCreateRequest } from '../../engine/container/types.ts'
import { InvalidArgument, Internal, isBerthError } from '../../engine/errors.ts'
import { hijack, stdcopyFrame } from '../hijack.ts'
import { readJson, sendJson } from '../http.ts'
import type { Ctx, Router } from '../router.ts'
import { forwardStdin } from '../stdin.ts'
import { versionAtLeast } from '../version.ts'

function execs(ctx: Ctx): ExecApi {
  const e = ctx.engine.execs
  if (!e) throw new Internal('exec is not supported by this engine')
  return e
}

/** moby's httputils.Uint32Value with the resize route's words. */
function dimension(ctx: Ctx, key: 'h' | 'w'): number {
  const raw = ctx.query.get(key) ?? ''
  const name = key === 'h' ? 'height' : 'width'
  if (raw === '') return 0
  if (!/^\d+$/.test(raw) || Number(raw) > 0xffffffff) {
    throw new InvalidArgument(
      `invalid resize ${name} ${JSON.stringify(raw)}: strconv.ParseUint: parsing ${JSON.stringify(raw)}: invalid syntax`,
    )
  }
  return Number(raw)
}

function consoleSize(v: unknown): [number, number] | null {
  if (!Array.isArray(v) || v.length !== 2) return null
  const [h, w] = v as unknown[]
  if (typeof h !== 'number' || typeof w !== 'number' || (h === 0 && w === 0)) return null
  return [h, w]
}

async function create(ctx: Ctx): Promise<void> {
  const body = (await readJson<Record<string, unknown>>(ctx)) ?? {}
  const req = body as ExecCreateRequest
  const cmd = Array.isArray(req.Cmd) ? req.Cmd : []
  if (cmd.length === 0) throw new InvalidArgument('No exec command specified')
  const size = versionAtLeast(ctx.apiVersion, '1.42') ? consoleSize(body.ConsoleSize) : null
  const result = await execs(ctx).createExec(ctx.params.id as string, {
    ...req,
    Cmd: cmd,
    ConsoleSize: size,
  })
  sendJson(ctx, 201, result)
}

async function start(ctx: Ctx): Promise<void> {
  const body = (await readJson<Record<string, unknown>>(ctx)) ?? {}
  const id = ctx.params.id as string
  const tty = body.Tty === true
  const size = tty && versionAtLeast(ctx.apiVersion, '1.42') ? consoleSize(body.ConsoleSize) : null
  if (body.Detach === true) {
    await execs(ctx).startExec(id, { detach: true, consoleSize: size })
    return
  }
  // Errors before the takeover are statuses (404, 409); after it, text on the stream.
  await execs(ctx).inspectExec(id)
  const { socket, multiplexed } = hijack(ctx, { tty })
  const out = (stream: 'stdout' | 'stderr', data: Buffer): Buffer =>
    multiplexed ? stdcopyFrame(stream === 'stdout' ? 1 : 2, data) : data
  let session
  try {
    session = await execs(ctx).startExec(id, { detach: false, consoleSize: size })
  } catch (err) {
    const msg = isBerthError(err) || err instanceof Error ? err.message : String(err)
    ctx.logger.error(`Error running exec ${id} in container: ${msg}`)
    // No process to take the input: discard it, so the client's end can close the socket.
    socket.resume()
    if (socket.writable) socket.end(out('stdout', Buffer.from(`${msg}\r\n`)))
    return
  }
  if (!session) {
    socket.resume()
    socket.end()
    return
  }
  const s = session
  let detached = false
  const detach = (): void => {
    detached = true
    s.close()
  }
  // A client that goes away leaves the process running, as a detach does.
  socket.on('close', detach)
  forwardStdin(socket, {
    tty: s.tty,
    keys: s.detachKeys,
    write: (data) => s.writeStdin(data),
    onEnd: () => s.closeStdin(),
    onDetach: detach,
  })
  try {
    for await (const chunk of s.output) {
      if (!socket.writable) break
      if (!socket.write(out(chunk.stream, chunk.data))) {
        await new Promise((r) => socket.once('drain', r))
      }
    }
    // The client asks for the exit code as soon as its stream ends: record it first.
    if (!detached) await s.exited.catch(() => undefined)
  } finally {
    s.close()
    if (!socket.destroyed) socket.end()
  }
}

async function inspect(ctx: Ctx): Promise<void> {
  sendJson(ctx, 200, await execs(ctx).inspectExec(ctx.params.id as string))
}

async function resizeExec(ctx: Ctx): Promise<void> {
  const h = dimension(ctx, 'h')
  const w = dimension(ctx, 'w')
  await execs(ctx).resizeExec(ctx.params.id as string, h, w)
}

async function resizeContainer(ctx: Ctx): Promise<void> {
  const h = dimension(ctx, 'h')
  const w = dimension(ctx, 'w')
  await execs(ctx).resizeContainer(ctx.params.id as string, h, w)
}

export function execRoutes(r: Router): void {
  r.post('/containers/{id}/exec', create)
  r.post('/containers/{id}/resize', resizeContainer)
  r.post('/exec/{id}/start', start)
  r.post('/exec/{id}/resize', resizeExec)
  r.get('/exec/{id}/json', inspect)
}
