// The OCI distribution API client: ping, auth, manifests, blobs (streamed, verified, resumed),
// uploads (monolithic or chunked), cross-repository mounts, tag lists and login. Pull and push
// are built on the Repository it opens; they own formats, progress and the stores.
import { createHash } from 'node:crypto'
import { Readable, Transform } from 'node:stream'
import type { Dispatcher } from 'undici'
import { isDigest, sha256, type Digest } from '../digest.ts'
import { Internal, InvalidArgument, Unauthorized, type BerthError } from '../errors.ts'
import {
  basicHeader,
  type Challenge,
  type Credentials,
  credentialsKey,
  credentialsOf,
  normalizeScopes,
  parseChallenges,
  parseTokenResponse,
  repositoryScope,
  type Token,
  TokenCache,
} from './auth.ts'
import { DEFAULT_CERTS_DIR } from './certs.ts'
import {
  endpointsFor,
  parseInsecureRegistries,
  registryOfServerAddress,
  type InsecureRegistries,
} from './endpoint.ts'
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
  DEFAULT_RETRY,
  discard,
  header,
  type Headers,
  type HttpResponse,
  isRetryableStatus,
  Pools,
  readLimited,
  send,
  wait,
} from './http.ts'
import type {
  Action,
  AuthConfig,
  BlobFetchOptions,
  BlobPushOptions,
  CallOptions,
  Endpoint,
  FetchedManifest,
  LoginResult,
  ManifestInfo,
  PushedBy,
  PushedStream,
  RegistryClient,
  RegistryOptions,
  Repository,
  RetryPolicy,
  StreamPushOptions,
} from './types.ts'

/** containerd's and Docker's cap on a manifest's size. */
const MAX_MANIFEST_BYTES = 4 << 20
const MAX_SMALL_BODY = 1 << 20
const CLIENT_ID = 'docker'
/** Resumes of one blob download before giving up. */
const MAX_RESUMES = 5

export const DEFAULT_USER_AGENT = 'berth/0.1.0'

export class DistributionClient implements RegistryClient {
  readonly insecure: InsecureRegistries
  readonly tokens: TokenCache
  readonly pools: Pools
  readonly userAgent: string
  readonly retry: RetryPolicy
  readonly now: () => number
  private readonly lookup: ((host: string) => Promise<string[]>) | undefined

  constructor(opts: RegistryOptions = {}) {
    this.insecure = parseInsecureRegistries(opts.insecureRegistries ?? [])
    this.now = opts.now ?? Date.now
    this.tokens = new TokenCache(this.now)
    this.pools = new Pools(opts.certsDir ?? DEFAULT_CERTS_DIR)
    this.userAgent = opts.userAgent ?? DEFAULT_USER_AGENT
    this.retry = opts.retry ?? DEFAULT_RETRY
    this.lookup = opts.lookup
  }

  endpoints(name: string): Promise<Endpoint[]> {
    return endpointsFor(name, this.insecure, this.lookup)
  }

  repository(
    ref: { domain: string; path: string },
    opts: { auth?: AuthConfig; actions: readonly Action[] },
  ): Repository {
    const session = new Session(this, ref.domain, credentialsOf(opts.auth))
    return new RemoteRepository(session, ref.path, opts.actions)
  }

  async login(auth: AuthConfig, opts: CallOptions = {}): Promise<LoginResult> {
    const name = registryOfServerAddress(auth.serveraddress)
    const creds = credentialsOf(auth)
    const candidates = await this.endpoints(name)
    let last: unknown
    for (const [i, ep] of candidates.entries()) {
      try {
        return await new Session(this, name, creds, ep).login(opts.signal)
      } catch (err) {
        last = err
        // Refused credentials are final: they must not be tried again over plain HTTP.
        if (err instanceof Unauthorized || opts.signal?.aborted || i + 1 >= candidates.length) {
          throw err
        }
      }
    }
    throw last
  }

  async close(): Promise<void> {
    await this.pools.close()
  }
}

interface Conn {
  endpoint: Endpoint
  dispatcher: Dispatcher
  /** The scheme the registry asked for at ping, if any. */
  challenge?: Challenge
}

interface SessionRequest {
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
class Session {
  private conn: Promise<Conn> | undefined
  private readonly credsKey: string
  private readonly pending = new Map<string, Promise<Token>>()

  constructor(
    private readonly client: DistributionClient,
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

function mediaTypeOf(res: HttpResponse): string {
  return (header(res, 'content-type') ?? '').split(';')[0]!.trim()
}

function contentLength(res: HttpResponse): number | undefined {
  const v = header(res, 'content-length')
  return v !== undefined && /^[0-9]+$/.test(v) ? Number(v) : undefined
}

/** `Link: </v2/x/tags/list?last=a&n=2>; rel="next"` to its URL. */
function nextLink(res: HttpResponse): string | undefined {
  const v = res.headers['link']
  for (const l of Array.isArray(v) ? v : v ? [v] : []) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(l)
    if (m) return m[1]
  }
  return undefined
}

function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url)
  u.searchParams.set(key, value)
  return u.href
}

function digestRef(ref: string): Digest | undefined {
  return isDigest(ref) ? ref : undefined
}

class RemoteRepository implements Repository {
  private readonly scopes: string[]

  constructor(
    private readonly session: Session,
    readonly path: string,
    actions: readonly Action[],
  ) {
    if (actions.length === 0) throw new InvalidArgument('a repository needs at least one action')
    this.scopes = [repositoryScope(path, [...new Set(actions)].sort())]
  }

  get registry(): string {
    return this.session.name
  }

  private manifestPath(ref: string): string {
    return `/v2/${this.path}/manifests/${ref}`
  }

  async getManifest(
    ref: string,
    accept: readonly string[],
    opts: CallOptions = {},
  ): Promise<FetchedManifest> {
    const { res, body: bytes } = await this.session.fetchBytes(
      {
        method: 'GET',
        target: this.manifestPath(ref),
        headers: { accept: [...accept] },
        scopes: this.scopes,
        signal: opts.signal,
      },
      MAX_MANIFEST_BYTES,
      'manifest',
    )
    if (res.status !== 200 || !bytes) throw await this.session.fail(res)
    const digest = sha256(bytes)
    const wanted = digestRef(ref) ?? header(res, 'docker-content-digest')
    // A digest in another algorithm cannot be checked here; sha256 ones must match.
    if (wanted?.startsWith('sha256:') && wanted !== digest) {
      throw new Internal(`manifest verification failed for digest ${wanted}`)
    }
    return { mediaType: mediaTypeOf(res), digest, bytes }
  }

  async headManifest(
    ref: string,
    accept: readonly string[],
    opts: CallOptions = {},
  ): Promise<ManifestInfo | undefined> {
    const res = await this.session.fetch({
      method: 'HEAD',
      target: this.manifestPath(ref),
      headers: { accept: [...accept] },
      scopes: this.scopes,
      signal: opts.signal,
    })
    if (res.status === 404) {
      await res.body.dump()
      return undefined
    }
    if (res.status !== 200) throw await this.session.fail(res)
    await res.body.dump()
    const digest = header(res, 'docker-content-digest')
    const size = contentLength(res)
    if (digest && isDigest(digest) && size !== undefined) {
      return { mediaType: mediaTypeOf(res), digest, size }
    }
    // Registries need not send the digest on HEAD: read the manifest to know it.
    const m = await this.getManifest(ref, accept, opts)
    return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length }
  }

  async putManifest(
    ref: string,
    mediaType: string,
    bytes: Buffer,
    opts: CallOptions = {},
  ): Promise<Digest> {
    const res = await this.session.fetch({
      method: 'PUT',
      target: this.manifestPath(ref),
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: this.scopes,
      signal: opts.signal,
    })
    if (res.status < 200 || res.status >= 300) throw await this.session.fail(res)
    await res.body.dump()
    const digest = sha256(bytes)
    const said = header(res, 'docker-content-digest')
    if (said?.startsWith('sha256:') && said !== digest) {
      throw new Internal(`registry stored manifest ${said}, not the ${digest} pushed`)
    }
    return digest
  }

  async statBlob(digest: Digest, opts: CallOptions = {}): Promise<number | undefined> {
    const res = await this.session.fetch({
      method: 'HEAD',
      target: `/v2/${this.path}/blobs/${digest}`,
      scopes: this.scopes,
      signal: opts.signal,
    })
    await res.body.dump()
    if (res.status === 404) return undefined
    if (res.status !== 200) throw await this.session.fail(res)
    return contentLength(res) ?? 0
  }

  async fetchBlob(digest: Digest, opts: BlobFetchOptions = {}): Promise<Readable> {
    const target = `/v2/${this.path}/blobs/${digest}`
    const size = opts.size
    const verify = opts.verify !== false
    const session = this.session
    const scopes = this.scopes
    const policy = session.retry
    const signal = opts.signal

    const open = async (offset: number): Promise<SessionResponse> => {
      const headers: Headers = {}
      if (offset > 0) headers.range = `bytes=${offset}-`
      const res = await session.fetch({ method: 'GET', target, headers, scopes, signal })
      if (res.status === 200 || (res.status === 206 && offset > 0)) return res
      throw await session.fail(res)
    }

    // The first response is awaited here, so a missing blob or a refusal throws from fetchBlob.
    const first = await open(0)
    const firstLength = contentLength(first)
    if (size !== undefined && firstLength !== undefined && firstLength !== size) {
      discard(first.body)
      throw new Internal(
        `blob ${digest}: the registry sent ${firstLength} bytes where the manifest promised ${size}`,
      )
    }

    let started = false
    async function* bytes(): AsyncGenerator<Buffer> {
      started = true
      const hash = verify ? createHash('sha256') : undefined
      let received = 0
      let resumes = 0
      let res: SessionResponse | undefined = first
      try {
        for (;;) {
          let skip = 0
          if (res.status === 206) {
            const range = /^bytes ([0-9]+)-/.exec(header(res, 'content-range') ?? '')
            if (!range || Number(range[1]) !== received) {
              throw new Internal(`blob ${digest}: the registry resumed at the wrong offset`)
            }
          } else if (received > 0) {
            // The registry ignored the Range: drop what we already have.
            skip = received
          }
          try {
            for await (const c of res.body) {
              let chunk = c as Buffer
              if (skip > 0) {
                if (chunk.length <= skip) {
                  skip -= chunk.length
                  continue
                }
                chunk = chunk.subarray(skip)
                skip = 0
              }
              received += chunk.length
              if (size !== undefined && received > size) {
                throw new Internal(
                  `blob ${digest}: more bytes than the ${size} the manifest promised`,
                )
              }
              hash?.update(chunk)
              opts.onProgress?.(received)
              yield chunk
            }
            break
          } catch (err) {
            if (signal?.aborted) throw err
            if (!isRetryableNetworkError(err) || ++resumes > MAX_RESUMES) {
              throw networkError('GET', res.url, err, true)
            }
            discard(res.body)
            await wait(backoff(policy, resumes), signal)
            res = undefined
            res = await open(received)
          }
        }
        if (size !== undefined && received !== size) {
          throw new Internal(
            `blob ${digest}: the registry sent ${received} bytes where the manifest promised ${size}`,
          )
        }
        if (hash && `sha256:${hash.digest('hex')}` !== digest) {
          throw new Internal(`filesystem layer verification failed for digest ${digest}`)
        }
      } finally {
        if (res) discard(res.body)
      }
    }
    const out = Readable.from(bytes(), { objectMode: false, highWaterMark: 1 << 20 })
    // Destroyed before its first read, the generator never runs its cleanup: free the answer.
    out.once('close', () => {
      if (!started) discard(first.body)
    })
    return out
  }

  /**
   * Asks the registry to mount the blob from each source in turn: 'mounted' on a 201; on a 202
   * the registry opened an upload instead, whose location is returned for the caller to use or
   * give up. A refusal only means this source will not do.
   */
  private async tryMount(
    digest: Digest,
    from: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<{ mounted: boolean; location?: string }> {
    for (const src of from) {
      if (src === this.path) continue
      const res = await this.session.fetch({
        method: 'POST',
        target: `/v2/${this.path}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(src)}`,
        scopes: [...this.scopes, repositoryScope(src, ['pull'])],
        signal,
      })
      await res.body.dump()
      if (res.status === 201) return { mounted: true }
      if (res.status === 202) {
        const loc = header(res, 'location')
        return loc ? { mounted: false, location: new URL(loc, res.url).href } : { mounted: false }
      }
    }
    return { mounted: false }
  }

  async mountBlob(
    digest: Digest,
    from: readonly string[],
    opts: CallOptions = {},
  ): Promise<string | undefined> {
    for (const src of from) {
      if (src === this.path) continue
      const r = await this.tryMount(digest, [src], opts.signal)
      if (r.mounted) return src
      // The upload the registry opened in its place is not wanted: cancel it, as Docker does.
      if (r.location) await this.cancelUpload(r.location, opts.signal)
    }
    return undefined
  }

  private async cancelUpload(location: string, signal?: AbortSignal): Promise<void> {
    try {
      const res = await this.session.fetch({
        method: 'DELETE',
        target: location,
        scopes: this.scopes,
        signal,
      })
      await res.body.dump()
    } catch {
      // An upload left open expires on the registry's side.
    }
  }

  async pushBlob(
    digest: Digest,
    size: number,
    open: () => Promise<Readable>,
    opts: BlobPushOptions = {},
  ): Promise<PushedBy> {
    const signal = opts.signal
    const mount = await this.tryMount(digest, opts.mountFrom ?? [], signal)
    if (mount.mounted) {
      opts.onProgress?.(size)
      return 'mounted'
    }
    let location = mount.location
    const policy = this.session.retry
    for (let attempt = 1; ; attempt++) {
      try {
        await this.upload(digest, size, open, location, opts)
        return 'uploaded'
      } catch (err) {
        location = undefined
        if (signal?.aborted || attempt >= policy.attempts || !isRetryableUpload(err)) throw err
        await wait(backoff(policy, attempt), signal)
      }
    }
  }

  private async startUpload(signal?: AbortSignal): Promise<{ location: string; minChunk: number }> {
    const res = await this.session.fetch({
      method: 'POST',
      target: `/v2/${this.path}/blobs/uploads/`,
      scopes: this.scopes,
      signal,
    })
    if (res.status !== 202) throw await this.session.fail(res)
    await res.body.dump()
    const loc = header(res, 'location')
    if (!loc)
      throw new Internal(`${goMethod('POST')} "${res.url}": the registry gave no upload location`)
    const min = Number(header(res, 'oci-chunk-min-length') ?? 0)
    return { location: new URL(loc, res.url).href, minChunk: Number.isFinite(min) ? min : 0 }
  }

  private async upload(
    digest: Digest,
    size: number,
    open: () => Promise<Readable>,
    location: string | undefined,
    opts: BlobPushOptions,
  ): Promise<void> {
    const signal = opts.signal
    let minChunk = 0
    if (!location) ({ location, minChunk } = await this.startUpload(signal))
    const chunkSize = Math.max(opts.chunkSize ?? 0, minChunk)
    let sent = 0
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.length
        opts.onProgress?.(sent)
        cb(null, chunk)
      },
    })
    const source = await open()
    source.on('error', (err) => counter.destroy(err))
    source.pipe(counter)
    try {
      await this.send(digest, size, location, counter, chunkSize, signal)
    } finally {
      source.destroy()
      counter.destroy()
    }
    if (sent !== size) throw new Internal(`blob ${digest}: sent ${sent} bytes, expected ${size}`)
  }

  private async send(
    digest: Digest,
    size: number,
    location: string,
    counter: Readable,
    chunkSize: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (chunkSize > 0 && size > chunkSize) {
      location = await this.uploadChunks(location, counter, chunkSize, signal)
      const res = await this.session.fetch({
        method: 'PUT',
        target: withQuery(location, 'digest', digest),
        headers: { 'content-length': '0' },
        scopes: this.scopes,
        signal,
      })
      if (res.status !== 201 && res.status !== 204) throw await this.session.fail(res)
      await res.body.dump()
      return
    }
    // Monolithic: the whole blob in the PUT that closes the upload.
    const res = await this.session.fetch({
      method: 'PUT',
      target: withQuery(location, 'digest', digest),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: counter,
      scopes: this.scopes,
      signal,
    })
    if (res.status !== 201 && res.status !== 204) throw await this.session.fail(res)
    await res.body.dump()
  }

  async pushStream(
    open: () => Promise<Readable>,
    opts: StreamPushOptions = {},
  ): Promise<PushedStream> {
    const policy = this.session.retry
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.streamOnce(open, opts)
      } catch (err) {
        if (opts.signal?.aborted || attempt >= policy.attempts || !isRetryableUpload(err)) throw err
        await wait(backoff(policy, attempt), opts.signal)
      }
    }
  }

  /** One streamed upload: POST, one PATCH with the whole stream (hashed as it goes), PUT. */
  private async streamOnce(
    open: () => Promise<Readable>,
    opts: StreamPushOptions,
  ): Promise<PushedStream> {
    const signal = opts.signal
    let { location } = await this.startUpload(signal)
    const hash = createHash('sha256')
    let sent = 0
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.length
        hash.update(chunk)
        opts.onProgress?.(sent)
        cb(null, chunk)
      },
    })
    const source = await open()
    let ended = false
    counter.once('end', () => (ended = true))
    source.on('error', (err) => counter.destroy(err))
    source.pipe(counter)
    try {
      const res = await this.session.fetch({
        method: 'PATCH',
        target: location,
        headers: { 'content-type': 'application/octet-stream' },
        body: counter,
        scopes: this.scopes,
        signal,
      })
      if (res.status !== 202) throw await this.session.fail(res)
      await res.body.dump()
      const loc = header(res, 'location')
      if (loc) location = new URL(loc, res.url).href
    } finally {
      source.destroy()
      counter.destroy()
    }
    if (!ended) throw new Internal('upload stream ended before its source')
    const digest: Digest = `sha256:${hash.digest('hex')}`
    const res = await this.session.fetch({
      method: 'PUT',
      target: withQuery(location, 'digest', digest),
      headers: { 'content-length': '0' },
      scopes: this.scopes,
      signal,
    })
    if (res.status !== 201 && res.status !== 204) throw await this.session.fail(res)
    await res.body.dump()
    return { digest, size: sent }
  }

  /** PATCHes the stream in chunks with Content-Range; returns the last Location. */
  private async uploadChunks(
    location: string,
    source: Readable,
    chunkSize: number,
    signal?: AbortSignal,
  ): Promise<string> {
    let offset = 0
    let pending: Buffer[] = []
    let pendingLen = 0
    const flush = async (): Promise<void> => {
      const chunk = Buffer.concat(pending, pendingLen)
      pending = []
      pendingLen = 0
      const res = await this.session.fetch({
        method: 'PATCH',
        target: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + chunk.length - 1}`,
          'content-length': String(chunk.length),
        },
        body: chunk,
        scopes: this.scopes,
        signal,
      })
      if (res.status !== 202) throw await this.session.fail(res)
      await res.body.dump()
      offset += chunk.length
      const loc = header(res, 'location')
      if (loc) location = new URL(loc, res.url).href
    }
    for await (const c of source) {
      let b = c as Buffer
      while (b.length > 0) {
        const take = Math.min(chunkSize - pendingLen, b.length)
        pending.push(b.subarray(0, take))
        pendingLen += take
        b = b.subarray(take)
        if (pendingLen === chunkSize) await flush()
      }
    }
    if (pendingLen > 0) await flush()
    return location
  }

  async listTags(opts: CallOptions = {}): Promise<string[]> {
    const tags: string[] = []
    let target: string | undefined = `/v2/${this.path}/tags/list`
    while (target) {
      const { res, body } = await this.session.fetchBytes(
        { method: 'GET', target, scopes: this.scopes, signal: opts.signal },
        16 << 20,
        'tag list',
      )
      if (res.status !== 200 || !body) throw await this.session.fail(res)
      let json: { tags?: unknown }
      try {
        json = JSON.parse(body.toString('utf8')) as { tags?: unknown }
      } catch (err) {
        throw new Internal(
          `${goMethod('GET')} "${res.url}": invalid tag list: ${(err as Error).message}`,
        )
      }
      if (Array.isArray(json.tags))
        for (const t of json.tags) if (typeof t === 'string') tags.push(t)
      const next = nextLink(res)
      target = next ? new URL(next, res.url).href : undefined
    }
    return tags
  }
}

/** An upload fails over to a fresh one after a dropped connection or a 5xx. */
function isRetryableUpload(err: unknown): boolean {
  if (isRetryableNetworkError(err)) return true
  const cause = (err as { cause?: unknown }).cause
  const status = (cause as { status?: unknown } | undefined)?.status
  return typeof status === 'number' && isRetryableStatus(status)
}
