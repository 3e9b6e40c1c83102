// The OCI distribution API client: ping, auth, manifests, blobs (streamed, verified, resumed),
// uploads (monolithic or chunked), cross-repository mounts, tag lists and login. Pull and push
// are built on the Repository it opens; they own formats, progress and the stores. The client
// holds what is shared (endpoints, pools, tokens); a Session (session.ts) talks to one registry,
// a RemoteRepository (repository.ts) with its BlobUploads (uploads.ts) to one repository.
import { Unauthorized } from '../errors.ts'
import { credentialsOf, TokenCache } from './auth.ts'
import { DEFAULT_CERTS_DIR } from './certs.ts'
import {
  endpointsFor,
  isSecure,
  parseInsecureRegistries,
  registryOfServerAddress,
  type InsecureRegistries,
} from './endpoint.ts'
import { DEFAULT_RETRY, Pools } from './http.ts'
import { ProxyChooser, proxiesFromEnv } from './proxy.ts'
import { RemoteRepository } from './repository.ts'
import { Session } from './session.ts'
import { DEFAULT_DOMAIN } from '../reference/reference.ts'
import type {
  Action,
  AuthConfig,
  CallOptions,
  Endpoint,
  LoginResult,
  RegistryClient,
  RegistryOptions,
  Repository,
  RetryPolicy,
} from './types.ts'

export type { SessionResponse } from './session.ts'

export const DEFAULT_USER_AGENT = 'berth/0.1.0'

export class DistributionClient implements RegistryClient {
  readonly insecure: InsecureRegistries
  readonly tokens: TokenCache
  readonly pools: Pools
  readonly proxies: ProxyChooser
  readonly userAgent: string
  readonly retry: RetryPolicy
  readonly now: () => number
  readonly mirrors: readonly string[]
  private readonly lookup: ((host: string) => Promise<string[]>) | undefined

  constructor(opts: RegistryOptions = {}) {
    this.insecure = parseInsecureRegistries(opts.insecureRegistries ?? [])
    this.now = opts.now ?? Date.now
    this.tokens = new TokenCache(this.now)
    this.proxies = new ProxyChooser(opts.proxies ?? proxiesFromEnv())
    this.pools = new Pools(opts.certsDir ?? DEFAULT_CERTS_DIR, this.proxies)
    this.userAgent = opts.userAgent ?? DEFAULT_USER_AGENT
    this.retry = opts.retry ?? DEFAULT_RETRY
    this.lookup = opts.lookup
    this.mirrors = opts.mirrors ?? []
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

  async mirrorsFor(
    ref: { domain: string; path: string },
    opts: { auth?: AuthConfig; actions: readonly Action[] },
  ): Promise<Repository[]> {
    // moby's lookupV2Endpoints: mirrors serve Docker Hub's pulls only.
    if (ref.domain !== DEFAULT_DOMAIN || !opts.actions.every((a) => a === 'pull')) return []
    const creds = credentialsOf(opts.auth)
    const out: Repository[] = []
    for (const m of this.mirrors) {
      const url = new URL(m)
      // An https mirror is verified unless its host is an insecure registry (loopback included).
      const insecure =
        url.protocol === 'http:' || !(await isSecure(url.host, this.insecure, this.lookup))
      const ep: Endpoint = { name: url.host, url: m.replace(/\/+$/, ''), insecure, official: true }
      out.push(
        new RemoteRepository(new Session(this, ref.domain, creds, ep), ref.path, opts.actions),
      )
    }
    return out
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
