// A Session: one registry seen with one set of credentials (ping, token auth, retried requests).
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { Internal, Unauthorized, type BerthError } from '../errors.ts'
import {
  basicHeader,
  type Challenge,
  type Credentials,
  credentialsKey,
  normalizeScopes,
  parseChallenges,
  parseTokenResponse,
  type Token,
  TokenCache,
} from './auth.ts'
import {
  goMethod,
  isRetryableNetworkError,
  networkError,
  NoBasicAuthCredentials,
  responseError,
  statusLine,
} from './errors.ts'
import {
  backoff,
  header,
  type Headers,
  type HttpResponse,
  isRetryableStatus,
  type Pools,
  readLimited,
  send,
  wait,
} from './http.ts'
import type { Endpoint, LoginResult, RetryPolicy } from './types.ts'

const MAX_SMALL_BODY = 1 << 20
const CLIENT_ID = 'docker'

/** What a Session needs of the client that opened it (the DistributionClient). */
export interface SessionHost {
  readonly tokens: TokenCache
  readonly pools: Pools
  readonly userAgent: string
  readonly retry: RetryPolicy
  readonly now: () => number
  endpoints(name: string): Promise<Endpoint[]>
}

export interface Conn {
  endpoint: Endpoint
  dispatcher: Dispatcher
  /** The scheme the registry asked for at ping, if any. */
  challenge?: Challenge
}

export interface SessionRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE'
  /** A path under the endpoint (/v2/...) or an absolute URL (an upload's Location). */
  target: string
  headers?: Headers
  body?: string | Buffer | Readable | null
  scopes: readonly string[]
  signal?: AbortSignal | undefined
}

export interface SessionResponse extends HttpResponse {
  method: string
  url: string
}

/** One registry seen with one set of credentials: its endpoint, its challenge, authorised requests. */
export class Session {
  private conn: Promise<Conn> | undefined
  private readonly credsKey: string
  private readonly pending = new Map<string, Promise<Token>>()

  constructor(
    private readonly client: SessionHost,
    readonly name: string,
    private readonly creds: Credentials,
    private readonly fixed?: Endpoint,
  ) {
    this.credsKey = credentialsKey(creds)
  }

  get retry(): RetryPolicy {
    return this.client.retry
  }

  /** Pings the registry once (GET /v2/), choosing the first endpoint that answers. */
  connect(signal?: AbortSignal): Promise<Conn> {
    if (!this.conn) {
      this.conn = this.ping(signal)
      this.conn.catch(() => (this.conn = undefined))
    }
    return this.conn
  }

  private async ping(signal?: AbortSignal): Promise<Conn> {
    const candidates = this.fixed ? [this.fixed] : await this.client.endpoints(this.name)
    let last: unknown
    for (const [i, endpoint] of candidates.entries()) {
      const dispatcher = await this.client.pools.for(endpoint)
      try {
        const res = await send(dispatcher, {
          method: 'GET',
          url: `${endpoint.url}/v2/`,
          headers: { 'user-agent': this.client.userAgent },
          signal,
        })
        await res.body.dump()
        const challenges = parseChallenges(res.headers['www-authenticate'])
        const challenge =
          challenges.find((c) => c.scheme === 'bearer') ??
          challenges.find((c) => c.scheme === 'basic')
        const conn: Conn = { endpoint, dispatcher }
        if (challenge) conn.challenge = challenge
        return conn
      } catch (err) {
        last = err
        // An insecure registry that fails over HTTPS is tried over plain HTTP (Docker's fallback).
        if (signal?.aborted || i + 1 >= candidates.length) throw err
      }
    }
    throw last
  }

  private tokenKey(ch: Challenge, scopes: readonly string[]): string {
    return TokenCache.key(ch.params.realm ?? '', ch.params.service ?? '', scopes, this.credsKey)
  }

  /** The Authorization header for a request needing `scopes`, per the ping's challenge. */
  private async authorize(
    conn: Conn,
    scopes: readonly string[],
    method: string,
    url: string,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    if (this.creds.registryToken) return `Bearer ${this.creds.registryToken}`
    const ch = conn.challenge
    if (!ch) return undefined
    if (ch.scheme === 'basic') {
      if (!this.creds.username || !this.creds.password) {
        throw new Unauthorized(`${goMethod(method)} "${url}": no basic auth credentials`, {
          cause: new NoBasicAuthCredentials(),
        })
      }
      return basicHeader(this.creds)
    }
    const key = this.tokenKey(ch, scopes)
    const cached = this.client.tokens.get(key)
    if (cached) return `Bearer ${cached.token}`
    let p = this.pending.get(key)
    if (!p) {
      p = this.fetchToken(conn, ch, scopes, false, method, url, signal)
      this.pending.set(key, p)
      p.then(
        (t) => this.client.tokens.set(key, t),
        () => undefined,
      ).finally(() => this.pending.delete(key))
    }
    return `Bearer ${(await p).token}`
  }

  /**
   * Gets a token from the challenge's realm: an OAuth2 POST with the identity token when there is
   * one, else a GET with the Basic credentials (or none). A failure reads as the request that
   * needed the token failing, as in Docker.
   */
  async fetchToken(
    conn: Conn,
    ch: Challenge,
    scopes: readonly string[],
    offline: boolean,
    method: string,
    url: string,
    signal?: AbortSignal,
  ): Promise<Token> {
    const prefix = `${goMethod(method)} "${url}"`
    const realm = ch.params.realm
    if (!realm) throw new Internal(`${prefix}: no realm specified for token auth challenge`)
    let realmUrl: URL
    try {
      realmUrl = new URL(realm)
    } catch (err) {
      throw new Internal(`${prefix}: invalid token auth challenge realm: ${realm}`, { cause: err })
    }
    const service = ch.params.service ?? ''
    const headers: Headers = { 'user-agent': this.client.userAgent }
    let res: HttpResponse
    let tokenMethod: 'GET' | 'POST'
    if (this.creds.identityToken) {
      tokenMethod = 'POST'
      const form = new URLSearchParams()
      form.set('grant_type', 'refresh_token')
      form.set('refresh_token', this.creds.identityToken)
      form.set('service', service)
      form.set('client_id', CLIENT_ID)
      if (scopes.length > 0) form.set('scope', normalizeScopes(scopes).join(' '))
      if (offline) form.set('access_type', 'offline')
      headers['content-type'] = 'application/x-www-form-urlencoded'
      res = await send(conn.dispatcher, {
        method: 'POST',
        url: realmUrl.href,
        headers,
        body: form.toString(),
        signal,
      })
    } else {
      tokenMethod = 'GET'
      if (service) realmUrl.searchParams.set('service', service)
      for (const s of normalizeScopes(scopes)) realmUrl.searchParams.append('scope', s)
      if (offline) {
        realmUrl.searchParams.set('offline_token', 'true')
        realmUrl.searchParams.set('client_id', CLIENT_ID)
      }
      if (this.creds.username && this.creds.password) {
        realmUrl.searchParams.set('account', this.creds.username)
        headers.authorization = basicHeader(this.creds)
      }
      res = await send(conn.dispatcher, { method: 'GET', url: realmUrl.href, headers, signal })
    }
    const body = (await readLimited(res.body, MAX_SMALL_BODY, 'token response')).toString('utf8')
    if (res.status < 200 || res.status >= 300) {
      throw responseError(tokenMethod, realmUrl.href, res.status, body, undefined, prefix)
    }
    let json: unknown
    try {
      json = JSON.parse(body)
    } catch (err) {
      throw new Internal(`${prefix}: unable to decode token response: ${(err as Error).message}`, {
        cause: err,
      })
    }
    try {
      return parseTokenResponse(json, this.client.now())
    } catch (err) {
      throw new Internal(`${prefix}: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * Sends an authorised request. 5xx and 429 answers and dropped connections are tried again with
   * backoff while the body can be sent again; a 401 to a Bearer token gets one fresh token (with
   * any scope the registry's challenge adds) before it counts.
   */
  async fetch(r: SessionRequest): Promise<SessionResponse> {
    const conn = await this.connect(r.signal)
    const url = /^https?:\/\//.test(r.target) ? r.target : conn.endpoint.url + r.target
    const body = r.body ?? null
    const resendable = body === null || typeof body === 'string' || Buffer.isBuffer(body)
    const policy = this.client.retry
    let scopes = r.scopes
    let authRetried = false
    for (let attempt = 1; ; attempt++) {
      const headers: Headers = { 'user-agent': this.client.userAgent, ...r.headers }
      const authz = await this.authorize(conn, scopes, r.method, url, r.signal)
      if (authz) headers.authorization = authz
      let res: HttpResponse
      try {
        res = await send(conn.dispatcher, {
          method: r.method,
          url,
          headers,
          body,
          signal: r.signal,
        })
      } catch (err) {
        if (resendable && attempt < policy.attempts && isRetryableNetworkError(err)) {
          await wait(backoff(policy, attempt), r.signal)
          continue
        }
        throw err
      }
      if (
        res.status === 401 &&
        !authRetried &&
        resendable &&
        conn.challenge?.scheme === 'bearer' &&
        !this.creds.registryToken
      ) {
        authRetried = true
        const ch = parseChallenges(res.headers['www-authenticate']).find(
          (c) => c.scheme === 'bearer',
        )
        const wider = normalizeScopes([...scopes, ...(ch?.params.scope?.split(' ') ?? [])])
        // A token refused as too narrow for what it already asked is final; an expired or
        // revoked one, or one the registry wants wider, is worth a fresh one.
        const same = JSON.stringify(wider) === JSON.stringify(normalizeScopes(scopes))
        if (!(ch?.params.error === 'insufficient_scope' && same)) {
          await res.body.dump()
          this.client.tokens.drop(this.tokenKey(conn.challenge, scopes))
          scopes = wider
          attempt--
          continue
        }
      }
      if (resendable && attempt < policy.attempts && isRetryableStatus(res.status)) {
        await res.body.dump()
        await wait(backoff(policy, attempt, header(res, 'retry-after')), r.signal)
        continue
      }
      return Object.assign(res, { method: r.method, url })
    }
  }

  /**
   * fetch, then the whole (small) body of a 2xx answer; a connection dropped while the body comes
   * is tried again like one dropped before the answer. Other answers come back unread.
   */
  async fetchBytes(
    r: SessionRequest,
    limit: number,
    what: string,
  ): Promise<{ res: SessionResponse; body?: Buffer }> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.fetch(r)
      if (res.status < 200 || res.status >= 300) return { res }
      try {
        return { res, body: await readLimited(res.body, limit, what) }
      } catch (err) {
        if (attempt < this.retry.attempts && isRetryableNetworkError(err) && !r.signal?.aborted) {
          await wait(backoff(this.retry, attempt), r.signal)
          continue
        }
        throw networkError(r.method, res.url, err, true)
      }
    }
  }

  /** The error for a response that is not what the call wanted. */
  async fail(res: SessionResponse): Promise<BerthError> {
    let body = ''
    if (res.method !== 'HEAD') {
      try {
        body = (await readLimited(res.body, 64 << 10, 'error body')).toString('utf8')
      } catch {
        body = ''
      }
    } else {
      await res.body.dump()
    }
    const bearer = parseChallenges(res.headers['www-authenticate']).find(
      (c) => c.scheme === 'bearer',
    )
    return responseError(res.method, res.url, res.status, body, bearer?.params)
  }

  async login(signal?: AbortSignal): Promise<LoginResult> {
    const conn = await this.connect(signal)
    const url = `${conn.endpoint.url}/v2/`
    const headers: Headers = { 'user-agent': this.client.userAgent }
    let identityToken = this.creds.identityToken || undefined
    if (conn.challenge?.scheme === 'bearer' && !this.creds.registryToken) {
      // Login asks for no scope, with offline access so the server may give a refresh token.
      const t = await this.fetchToken(conn, conn.challenge, [], true, 'GET', url, signal)
      headers.authorization = `Bearer ${t.token}`
      if (t.refreshToken) identityToken = t.refreshToken
    } else {
      const a = await this.authorize(conn, [], 'GET', url, signal)
      if (a) headers.authorization = a
    }
    const res = await send(conn.dispatcher, { method: 'GET', url, headers, signal })
    await res.body.dump()
    if (res.status === 200) {
      const out: LoginResult = { status: 'Login Succeeded' }
      if (identityToken) out.identityToken = identityToken
      return out
    }
    const msg = `login attempt to ${url} failed with status: ${statusLine(res.status)}`
    throw res.status === 401 ? new Unauthorized(msg) : new Internal(msg)
  }
}
