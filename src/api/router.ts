// A small router with gorilla/mux's pattern syntax: `{name}` matches one path
// segment and `{name:.*}` any text, slashes included (image names such as
// `example.com/a/b:tag`). Routes match in registration order, as in mux.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Engine } from '../engine/engine.ts'
import type { Logger } from '../engine/logger.ts'
import type { Query } from './query.ts'

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE'

/** Everything a route handler is given for one request. */
export interface Ctx {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly engine: Engine
  readonly logger: Logger
  /**
   * The operation, as Docker's API documents it: "POST /containers/{id}/exec" (a pattern's
   * `{name:.*}` written `{name}`). Request bodies are checked against its definition.
   */
  readonly operation: string
  /** Path parameters, URL-decoded. */
  readonly params: Readonly<Record<string, string>>
  readonly query: Query
  /** The version the client asked for in the path, or ours when it named none. */
  readonly apiVersion: string
  /** Aborted when the client goes away before the response is complete. */
  readonly signal: AbortSignal
  /** True when the request asked to upgrade the connection (attach, exec start). */
  readonly upgrade: boolean
}

export type Handler = (ctx: Ctx) => Promise<void> | void

interface Route {
  method: Method
  pattern: string
  re: RegExp
  names: string[]
  handler: Handler
}

export type Match =
  | {
      kind: 'found'
      handler: Handler
      params: Record<string, string>
      pattern: string
      operation: string
    }
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed' }

function compile(pattern: string): { re: RegExp; names: string[] } {
  const names: string[] = []
  let src = ''
  let i = 0
  while (i < pattern.length) {
    const open = pattern.indexOf('{', i)
    if (open < 0) {
      src += escapeRe(pattern.slice(i))
      break
    }
    const close = pattern.indexOf('}', open)
    if (close < 0) throw new Error(`bad route pattern ${pattern}`)
    src += escapeRe(pattern.slice(i, open))
    const spec = pattern.slice(open + 1, close)
    const colon = spec.indexOf(':')
    const name = colon < 0 ? spec : spec.slice(0, colon)
    const expr = colon < 0 ? '[^/]+' : spec.slice(colon + 1)
    names.push(name)
    src += `(${expr})`
    i = close + 1
  }
  return { re: new RegExp(`^${src}$`), names }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** "POST /images/{name}/tag" for POST and "/images/{name:.*}/tag". */
export function operationOf(method: string, pattern: string): string {
  return `${method} ${pattern.replace(/\{([^}:]+):[^}]*\}/g, '{$1}')}`
}

export class Router {
  private readonly routes: Route[] = []

  add(method: Method, pattern: string, handler: Handler): this {
    const { re, names } = compile(pattern)
    this.routes.push({ method, pattern, re, names, handler })
    return this
  }

  get(pattern: string, handler: Handler): this {
    return this.add('GET', pattern, handler)
  }
  head(pattern: string, handler: Handler): this {
    return this.add('HEAD', pattern, handler)
  }
  post(pattern: string, handler: Handler): this {
    return this.add('POST', pattern, handler)
  }
  put(pattern: string, handler: Handler): this {
    return this.add('PUT', pattern, handler)
  }
  delete(pattern: string, handler: Handler): this {
    return this.add('DELETE', pattern, handler)
  }

  /** Every route, as its operation ("GET /containers/json"), in registration order. */
  operations(): string[] {
    return this.routes.map((r) => operationOf(r.method, r.pattern))
  }

  /** Matches a path that has already had any `/vN.NN` prefix removed. */
  match(method: string, path: string): Match {
    let pathMatched = false
    for (const r of this.routes) {
      const m = r.re.exec(path)
      if (!m) continue
      if (r.method !== method) {
        pathMatched = true
        continue
      }
      const params: Record<string, string> = {}
      r.names.forEach((n, idx) => (params[n] = m[idx + 1] ?? ''))
      return {
        kind: 'found',
        handler: r.handler,
        params,
        pattern: r.pattern,
        operation: operationOf(r.method, r.pattern),
      }
    }
    return pathMatched ? { kind: 'method-not-allowed' } : { kind: 'not-found' }
  }
}
