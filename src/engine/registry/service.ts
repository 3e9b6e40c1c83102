// The registry module's face (RegistryApi): pull, push and login over the distribution client and
// the content, layer and image stores, with the state they keep under <dataRoot>/registry:
// pull leases (kept from the image GC) and what is known of blobs on registries.
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { type Dispatcher, request } from 'undici'
import type { BlobStore } from '../content/types.ts'
import type { Digest } from '../digest.ts'
import { Internal } from '../errors.ts'
import type { EventSink } from '../events/types.ts'
// eslint-disable-next-line berth/boundaries -- the host platform from the shared manifest code (to move under src/lib)
import { hostPlatform, type Platform } from '../image/manifest.ts'
import type { ImageCreator, ImageReader, IngestedLayer, LayerIngest } from '../image/types.ts'
import type { Logger } from '../logger.ts'
import { DistributionClient } from './client.ts'
import { parseInsecureRegistries } from './endpoint.ts'
import { httpDispatcher } from './http.ts'
import { maskProxyUrl, ProxyChooser, proxiesFromEnv } from './proxy.ts'
import { inspectDistribution } from './distribution.ts'
import { PullLeases } from './leases.ts'
import { Limiter } from './limit.ts'
import { pull } from './pull.ts'
import { push } from './push.ts'
import { BlobSources } from './sources.ts'
import type {
  AuthConfig,
  CallOptions,
  DistributionInspect,
  LoginResult,
  PulledImage,
  PullOptions,
  PushedTag,
  PushOptions,
  RegistryApi,
  RegistryClient,
  RegistryInfo,
  RegistryOptions,
} from './types.ts'

/** Docker's defaults (--max-concurrent-downloads, --max-concurrent-uploads). */
export const DEFAULT_CONCURRENT_DOWNLOADS = 3
export const DEFAULT_CONCURRENT_UPLOADS = 5

export interface RegistryServiceDeps {
  /** <dataRoot>/registry: leases and blob sources. */
  dir: string
  blobs: BlobStore
  layers: { has(diffID: Digest): Promise<boolean> }
  ingest: LayerIngest
  images: ImageReader & ImageCreator
  events?: EventSink
  logger?: Logger
  /**
   * The pull leases, made first when the image store must see them (as it does in berthd);
   * by default <dir>/leases.
   */
  leases?: PullLeases
  /** The client; by default a DistributionClient with `options`. */
  client?: RegistryClient
  options?: RegistryOptions
  platform?: Platform
  maxConcurrentDownloads?: number
  maxConcurrentUploads?: number
}

export class RegistryService implements RegistryApi {
  readonly leases: PullLeases
  readonly client: RegistryClient
  private readonly sources: BlobSources
  private readonly downloads: Limiter
  private readonly uploads: Limiter
  private readonly inflight = new Map<Digest, Promise<IngestedLayer>>()
  private foreign: Dispatcher | undefined

  constructor(private readonly deps: RegistryServiceDeps) {
    this.client = deps.client ?? new DistributionClient(deps.options ?? {})
    this.leases = deps.leases ?? new PullLeases(join(deps.dir, 'leases'))
    this.sources = new BlobSources(join(deps.dir, 'sources.json'))
    this.downloads = new Limiter(deps.maxConcurrentDownloads ?? DEFAULT_CONCURRENT_DOWNLOADS)
    this.uploads = new Limiter(deps.maxConcurrentUploads ?? DEFAULT_CONCURRENT_UPLOADS)
  }

  /** Reads the leases and sources. Call before the image store collects garbage. */
  async init(): Promise<void> {
    const { kept, expired } = await this.leases.init()
    if (kept + expired > 0) {
      this.deps.logger?.info('registry: pull leases read', { kept, expired })
    }
    await this.sources.init()
  }

  pull(ref: string, opts: PullOptions = {}): Promise<PulledImage[]> {
    const d = this.deps
    return pull(
      {
        client: this.client,
        blobs: d.blobs,
        layers: d.layers,
        ingest: d.ingest,
        images: d.images,
        leases: this.leases,
        sources: this.sources,
        platform: d.platform ?? hostPlatform(),
        downloads: this.downloads,
        inflight: this.inflight,
        fetchUrl: (url, signal) => this.fetchForeign(url, signal),
        ...(d.events ? { events: d.events } : {}),
        ...(d.logger ? { logger: d.logger } : {}),
      },
      ref,
      opts,
    )
  }

  push(ref: string, opts: PushOptions = {}): Promise<PushedTag[]> {
    const d = this.deps
    return push(
      {
        client: this.client,
        blobs: d.blobs,
        images: d.images,
        sources: this.sources,
        uploads: this.uploads,
        ...(d.events ? { events: d.events } : {}),
        ...(d.logger ? { logger: d.logger } : {}),
      },
      ref,
      opts,
    )
  }

  login(auth: AuthConfig, opts: CallOptions = {}): Promise<LoginResult> {
    return this.client.login(auth, opts)
  }

  info(): RegistryInfo {
    const o = this.deps.options ?? {}
    const insecure = o.insecureRegistries ?? []
    const mirrors = [...(o.mirrors ?? [])]
    const indexConfigs: RegistryInfo['RegistryConfig']['IndexConfigs'] = {
      'docker.io': { Name: 'docker.io', Mirrors: mirrors, Secure: true, Official: true },
    }
    for (const name of parseInsecureRegistries(insecure).names) {
      indexConfigs[name] = { Name: name, Mirrors: [], Secure: false, Official: false }
    }
    const cidrs = insecure.map((r) => r.replace(/^https?:\/\//i, '')).filter((r) => r.includes('/'))
    const p = o.proxies ?? proxiesFromEnv()
    return {
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: null,
        AllowNondistributableArtifactsHostnames: null,
        InsecureRegistryCIDRs: ['::1/128', '127.0.0.0/8', ...cidrs],
        IndexConfigs: indexConfigs,
        Mirrors: mirrors.length > 0 ? mirrors : null,
      },
      HttpProxy: maskProxyUrl(p.httpProxy ?? ''),
      HttpsProxy: maskProxyUrl(p.httpsProxy ?? ''),
      NoProxy: p.noProxy ?? '',
    }
  }

  distribution(
    ref: string,
    opts: CallOptions & { auth?: AuthConfig } = {},
  ): Promise<DistributionInspect> {
    return inspectDistribution(this.client, ref, opts)
  }

  private fetchForeign(url: string, signal?: AbortSignal): Promise<Readable> {
    // Through the same proxies as the registry's own requests, as dockerd's one transport does.
    this.foreign ??= httpDispatcher(
      { timeout: 30_000 },
      new ProxyChooser(this.deps.options?.proxies ?? proxiesFromEnv()),
    )
    return fetchUrl(this.foreign, url, signal)
  }

  async close(): Promise<void> {
    await this.client.close()
    const f = this.foreign
    this.foreign = undefined
    await f?.close()
  }
}

/** A foreign layer's URL, fetched with plain HTTP(S) and redirects; the ingest verifies it. */
async function fetchUrl(
  dispatcher: Dispatcher,
  url: string,
  signal?: AbortSignal,
): Promise<Readable> {
  const res = await request(url, {
    method: 'GET',
    dispatcher,
    signal: signal ?? null,
  })
  if (res.statusCode !== 200) {
    await res.body.dump()
    throw new Internal(`GET ${url}: ${res.statusCode}`)
  }
  return res.body
}
