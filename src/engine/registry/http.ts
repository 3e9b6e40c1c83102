// HTTP for the registry client on undici: one connection pool per registry endpoint with its TLS
// options, redirects followed (blob GETs often redirect to storage; undici drops the
// Authorization header when the origin changes), and Go's words for requests that got no answer.
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ConnectionOptions } from 'node:tls'
import { Agent, type Dispatcher, interceptors, Pool, ProxyAgent, request } from 'undici'
import { Internal } from '../errors.ts'
import { tlsOptionsFor } from './certs.ts'
import { networkError } from './errors.ts'
import type { ProxyChooser } from './proxy.ts'
import type { Endpoint, RetryPolicy } from './types.ts'

export type Headers = Record<string, string | string[]>

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE'
  url: string
  headers?: Headers
  body?: string | Buffer | Readable | null
  signal?: AbortSignal | undefined
}

export interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Readable & { text(): Promise<string>; dump(): Promise<void> }
}

/** One header's value (the first when repeated). */
export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()]
  return Array.isArray(v) ? v[0] : v
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 10_000 }

/** The wait before try number `attempt` (1 for the first retry). */
export function backoff(policy: RetryPolicy, attempt: number, retryAfter?: string): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  if (retryAfter && /^[0-9]+$/.test(retryAfter)) {
    return Math.min(policy.maxDelayMs, Math.max(exp, Number(retryAfter) * 1000))
  }
  return exp
}

export async function wait(ms: number, signal?: AbortSignal): Promise<void> {
  await sleep(ms, undefined, signal ? { signal } : undefined)
}

/** Statuses that say "try again later". */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504
}

/** Connection pools, one per endpoint and TLS setting; built lazily, closed together. */
export class Pools {
  private readonly pools = new Map<string, Promise<Dispatcher>>()

  constructor(
    private readonly certsDir: string,
    private readonly proxies?: ProxyChooser,
  ) {}

  /** The dispatcher for an endpoint: its certs.d files are read once, when it is first used. */
  for(ep: Endpoint): Promise<Dispatcher> {
    const key = `${ep.url}|${ep.insecure}`
    let p = this.pools.get(key)
    if (!p) {
      p = (async () => {
        const tls = ep.url.startsWith('https:')
          ? await tlsOptionsFor(ep.name, ep.insecure, this.certsDir)
          : { rejectUnauthorized: true }
        return httpDispatcher({ ...tls, timeout: 30_000 }, this.proxies)
      })()
      // A failed set-up (a bad certs.d folder) is not cached: fixing the files is enough.
      p.catch(() => this.pools.delete(key))
      this.pools.set(key, p)
    }
    return p
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(
      all.map(async (p) => {
        const d = await p.catch(() => undefined)
        await d?.close()
      }),
    )
  }
}

/**
 * A dispatcher for registry requests (and the token servers and blob storage they lead to):
 * each origin reached directly or through its proxy (plain HTTP forwarded, HTTPS tunnelled with
 * CONNECT, as Go does), with `tls` for the origin's TLS, and redirects followed.
 */
export function httpDispatcher(
  tls: ConnectionOptions & { timeout?: number },
  proxies?: ProxyChooser,
): Dispatcher {
  const keepAliveTimeout = 30_000
  const agent = new Agent({
    connect: tls,
    keepAliveTimeout,
    ...(proxies?.enabled
      ? {
          factory: (origin: string | URL, opts: object): Dispatcher => {
            const proxy = proxies.proxyFor(new URL(String(origin)))
            if (!proxy) return new Pool(origin, opts)
            return new ProxyAgent({
              uri: proxy.href,
              requestTls: tls,
              proxyTunnel: false,
              keepAliveTimeout,
            })
          },
        }
      : {}),
  })
  return agent.compose(interceptors.redirect({ maxRedirections: 5 }))
}

/** Sends one request; a request that gets no answer throws Go's url.Error words. */
export async function send(dispatcher: Dispatcher, req: HttpRequest): Promise<HttpResponse> {
  try {
    const res = await request(req.url, {
      dispatcher,
      method: req.method,
      headers: req.headers ?? {},
      body: req.body ?? null,
      signal: req.signal ?? null,
    })
    return { status: res.statusCode, headers: res.headers, body: res.body }
  } catch (err) {
    if (req.signal?.aborted) throw req.signal.reason
    throw networkError(req.method, req.url, err)
  }
}

/**
 * Drops a body we no longer want. undici's body reports its own destruction as an error, which
 * here is expected, so it is listened for and let go.
 */
export function discard(body: Readable): void {
  body.on('error', () => undefined)
  body.destroy()
}

/** Reads a small body whole, failing past `limit` bytes. */
export async function readLimited(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let n = 0
  for await (const c of body) {
    const b = c as Buffer
    n += b.length
    if (n > limit) {
      discard(body)
      throw new Internal(`${what} exceeds the ${limit}-byte limit`)
    }
    chunks.push(b)
  }
  return Buffer.concat(chunks)
}
