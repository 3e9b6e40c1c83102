// Reading requests and writing plain responses for route handlers.
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { InvalidArgument } from '../engine/errors.ts'
import { decodeBody } from './body.ts'
import type { Ctx } from './router.ts'

/** JSON bodies (create configs and the like) are small; anything bigger is a mistake. */
export const DEFAULT_JSON_LIMIT = 16 * 1024 * 1024

interface UpgradeState {
  socket: Socket
  /** Bytes the HTTP parser read past the headers: the body, then the client's stream. */
  head: Buffer
}

const upgrades = new WeakMap<IncomingMessage, UpgradeState>()

/** Records that a request arrived through Node's 'upgrade' event, so its body lives on the socket. */
export function markUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
  upgrades.set(req, { socket, head })
}

/** The socket and unread bytes of an upgrade request; the hijack helper takes them. */
export function takeUpgrade(req: IncomingMessage): UpgradeState | undefined {
  const st = upgrades.get(req)
  upgrades.delete(req)
  return st
}

function tooLarge(): InvalidArgument {
  return new InvalidArgument('request body too large')
}

/** The request body, up to `limit` bytes; for upgrade requests, exactly Content-Length bytes from the socket. */
export async function readBody(ctx: Ctx, limit = DEFAULT_JSON_LIMIT): Promise<Buffer> {
  const st = upgrades.get(ctx.req)
  if (st) return readUpgradeBody(ctx.req, st, limit)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of ctx.req) {
    const b = chunk as Buffer
    size += b.length
    if (size > limit) throw tooLarge()
    chunks.push(b)
  }
  return Buffer.concat(chunks)
}

async function readUpgradeBody(
  req: IncomingMessage,
  st: UpgradeState,
  limit: number,
): Promise<Buffer> {
  if (req.headers['transfer-encoding']) {
    throw new InvalidArgument('chunked request bodies are not supported on upgraded connections')
  }
  const want = Number.parseInt(req.headers['content-length'] ?? '0', 10) || 0
  if (want > limit) throw tooLarge()
  while (st.head.length < want) {
    const more = await readSome(st.socket)
    if (!more) throw new InvalidArgument('invalid JSON: got EOF while reading request body')
    st.head = Buffer.concat([st.head, more])
  }
  const body = st.head.subarray(0, want)
  st.head = st.head.subarray(want)
  return body
}

/** One chunk from a paused socket, or undefined at its end. */
function readSome(socket: Socket): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer): void => {
      cleanup()
      socket.pause()
      resolve(b)
    }
    const onEnd = (): void => {
      cleanup()
      resolve(undefined)
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(err)
    }
    const cleanup = (): void => {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', onError)
    }
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('error', onError)
    socket.resume()
  })
}

/**
 * The JSON body decoded, or undefined when there is none, with moby's checks: a body must be
 * declared application/json, bad JSON is a 400, and a body the Engine API defines for this
 * operation is checked and decoded against that definition (body.ts) before the route sees it,
 * so T describes what was checked rather than what a client happened to send.
 */
export async function readJson<T>(ctx: Ctx, limit = DEFAULT_JSON_LIMIT): Promise<T | undefined> {
  const ct = ctx.req.headers['content-type']
  const body = await readBody(ctx, limit)
  if (body.length === 0) return undefined
  if (ct !== undefined && ct !== '') {
    const mime = ct.split(';')[0]!.trim().toLowerCase()
    if (mime !== 'application/json') {
      throw new InvalidArgument(
        `unsupported Content-Type header (${ct}): must be 'application/json'`,
      )
    }
  }
  const text = body.toString('utf8')
  if (text.trim() === '')
    throw new InvalidArgument('invalid JSON: got EOF while reading request body')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidArgument(`invalid JSON: ${(err as Error).message}`)
  }
  return decodeBody(ctx.operation, value) as T
}

/** Writes a JSON response as moby's WriteJSON does (trailing newline included). */
export function sendJson(ctx: Ctx, status: number, value: unknown): void {
  const body = JSON.stringify(value) + '\n'
  ctx.res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  })
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body)
}

/** A response with a status and no body (201 for tag, 204 for start and the like). */
export function sendStatus(ctx: Ctx, status: number): void {
  ctx.res.writeHead(status)
  ctx.res.end()
}

/** Plain text, as /_ping answers. */
export function sendText(ctx: Ctx, status: number, text: string): void {
  ctx.res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  })
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : text)
}
