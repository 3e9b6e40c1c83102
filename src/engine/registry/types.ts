// The registry client's interfaces and data: the OCI distribution API as pull and push use it.
// No I/O here; client.ts implements them over undici.
import type { Readable } from 'node:stream'
import type { Digest } from '../digest.ts'
import type { Image, Progress } from '../image/types.ts'

/**
 * Docker's AuthConfig (api/types/registry), as the X-Registry-Auth header and `POST /auth`
 * carry it. Field names are Docker's JSON names.
 */
export interface AuthConfig {
  username?: string
  password?: string
  /** base64 of "username:password", as config.json keeps it. */
  auth?: string
  email?: string
  /** The registry the credentials are for: a host[:port] or Docker Hub's https://index.docker.io/v1/. */
  serveraddress?: string
  /** An OAuth2 refresh token from the registry's token server, kept in place of a password. */
  identitytoken?: string
  /** A bearer token for the registry itself, sent as is. */
  registrytoken?: string
}

/** How one registry is reached: one of the candidates endpointsFor returns, tried in order. */
export interface Endpoint {
  /** The registry's name as references spell it: docker.io, localhost:5000, [::1]:5000. */
  name: string
  /** Base URL without a trailing slash: https://registry-1.docker.io, http://127.0.0.1:5000. */
  url: string
  /** An insecure registry: TLS certificates are not verified, and plain HTTP is tried next. */
  insecure: boolean
  /** Docker Hub, whose credentials are filed under https://index.docker.io/v1/. */
  official: boolean
}

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number
  /** The first wait; each next one doubles, up to maxDelayMs. */
  baseDelayMs: number
  maxDelayMs: number
}

/** The proxies registry requests go through (Go's HTTP_PROXY, HTTPS_PROXY, NO_PROXY). */
export interface ProxySettings {
  httpProxy?: string
  httpsProxy?: string
  /** Comma-separated hosts, domains (.foo.com, *.foo.com), IPs and CIDRs reached directly. */
  noProxy?: string
}

export interface RegistryOptions {
  /**
   * The daemon's --insecure-registry values: host[:port] names or CIDRs. 127.0.0.0/8 and ::1/128
   * are always insecure, as in Docker.
   */
  insecureRegistries?: readonly string[]
  /** Per-registry TLS files, in HOST:PORT/ folders (Docker's /etc/docker/certs.d). */
  certsDir?: string
  userAgent?: string
  retry?: RetryPolicy
  /** Resolves a host name to its addresses, to match it against insecure CIDRs. */
  lookup?: (host: string) => Promise<string[]>
  /** The clock tokens expire by (ms since the epoch); tests move it. */
  now?: () => number
  /** Proxies; by default the daemon's environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY). */
  proxies?: ProxySettings
  /**
   * Docker Hub mirrors (daemon.json `registry-mirrors`), normalised URLs: a docker.io pull tries
   * each in turn, then Docker Hub itself.
   */
  mirrors?: readonly string[]
}

/** A permission on a repository, as token scopes name them. */
export type Action = 'pull' | 'push'

/** A manifest or index as the registry served it, verified against its digest. */
export interface FetchedManifest {
  mediaType: string
  digest: Digest
  bytes: Buffer
}

export interface ManifestInfo {
  mediaType: string
  digest: Digest
  size: number
}

export interface CallOptions {
  signal?: AbortSignal
}

export interface BlobFetchOptions extends CallOptions {
  /** The size the descriptor promises; more or fewer bytes fail the fetch. */
  size?: number
  /** Bytes received so far (the total, after resumes too). */
  onProgress?: (received: number) => void
  /**
   * Hash the bytes and fail the stream's end on a mismatch (default true). A caller whose sink
   * verifies the digest itself (the layer ingest) turns it off to hash once.
   */
  verify?: boolean
}

export interface BlobPushOptions extends CallOptions {
  /** Repositories on the same registry to mount the blob from before uploading it. */
  mountFrom?: readonly string[]
  /** Bytes sent so far. */
  onProgress?: (sent: number) => void
  /** Upload in PATCH chunks of this size (the registry's OCI-Chunk-Min-Length raises it). */
  chunkSize?: number
}

/** How a blob came to be in the repository. */
export type PushedBy = 'mounted' | 'uploaded'

/** One repository on one registry, with the credentials and permissions it was opened with. */
export interface Repository {
  readonly registry: string
  /** The repository's path on the registry: library/busybox. */
  readonly path: string
  /** A manifest or index by tag or digest; NotFound "manifest unknown" when absent. */
  getManifest(ref: string, accept: readonly string[], opts?: CallOptions): Promise<FetchedManifest>
  /** The manifest's digest, type and size without its body; undefined when absent. */
  headManifest(
    ref: string,
    accept: readonly string[],
    opts?: CallOptions,
  ): Promise<ManifestInfo | undefined>
  /** Stores a manifest under a tag or its digest; returns its digest. */
  putManifest(ref: string, mediaType: string, bytes: Buffer, opts?: CallOptions): Promise<Digest>
  /**
   * Streams a blob; an interrupted download resumes with a Range request. The stream fails at its
   * end, never ending cleanly, when the bytes do not match the digest or the size.
   */
  fetchBlob(digest: Digest, opts?: BlobFetchOptions): Promise<Readable>
  /** The blob's size when the repository has it, else undefined. */
  statBlob(digest: Digest, opts?: CallOptions): Promise<number | undefined>
  /**
   * Puts a blob in the repository: mounted from another repository when the registry allows it,
   * else uploaded from `open()` (called again for each retry).
   */
  pushBlob(
    digest: Digest,
    size: number,
    open: () => Promise<Readable>,
    opts?: BlobPushOptions,
  ): Promise<PushedBy>
  /**
   * Mounts a blob from the first of the other repositories on the same registry that gives it;
   * returns that repository, or undefined when none would.
   */
  mountBlob(
    digest: Digest,
    from: readonly string[],
    opts?: CallOptions,
  ): Promise<string | undefined>
  /**
   * Uploads a stream whose digest is not known beforehand (a layer compressed on the way): one
   * streamed PATCH, then the PUT that names the digest the bytes had. `open()` is called again
   * for each retry.
   */
  pushStream(open: () => Promise<Readable>, opts?: StreamPushOptions): Promise<PushedStream>
  /** Every tag, following the registry's pagination. */
  listTags(opts?: CallOptions): Promise<string[]>
}

export interface StreamPushOptions extends CallOptions {
  /** Bytes of the stream sent so far (the count restarts with a retry). */
  onProgress?: (sent: number) => void
}

export interface PushedStream {
  digest: Digest
  size: number
}

export interface LoginResult {
  /** "Login Succeeded" */
  status: string
  /** A refresh token the registry gave, for the client to keep instead of the password. */
  identityToken?: string
}

export interface RegistryClient {
  /**
   * Opens a repository for the given actions. Nothing is sent until the first call, which pings
   * the registry and chooses its endpoint (HTTPS, then plain HTTP for an insecure registry).
   */
  repository(
    ref: { domain: string; path: string },
    opts: { auth?: AuthConfig; actions: readonly Action[] },
  ): Repository
  /**
   * The mirrors a pull tries before the registry itself, in order, as repositories (Docker Hub's
   * pulls only; none for other registries, for push, or when no mirror is configured).
   */
  mirrorsFor?(
    ref: { domain: string; path: string },
    opts: { auth?: AuthConfig; actions: readonly Action[] },
  ): Promise<Repository[]>
  /** Checks credentials against the registry, as `docker login` asks the daemon to. */
  login(auth: AuthConfig, opts?: CallOptions): Promise<LoginResult>
  /** Closes idle connections. */
  close(): Promise<void>
}

// ---- pull, push and login: what the rest of berth asks of the registry module

/** One of Docker's JSON progress messages (the API adds the drawn `progress` text). */
export interface TransferProgress extends Progress {
  /** push's last message per tag: {Tag, Digest, Size}. */
  aux?: { Tag: string; Digest: string; Size: number }
}

export type TransferProgressSink = (p: TransferProgress) => void

export interface PullOptions {
  /** Every tag of the repository (docker pull --all-tags); the reference must name no tag. */
  allTags?: boolean
  /** os[/arch[/variant]] to choose in an index; the host's by default. */
  platform?: string
  auth?: AuthConfig
  signal?: AbortSignal
  progress?: TransferProgressSink
}

export interface PulledImage {
  /** The familiar reference it was pulled by: busybox:latest, x@sha256:... */
  ref: string
  /** The digest of the manifest or index the reference resolved to. */
  digest: Digest
  image: Image
  /** False when the image was here already and the reference pointed at it. */
  updated: boolean
}

export interface PushOptions {
  /** Every local tag of the repository (docker push --all-tags); the reference names no tag. */
  allTags?: boolean
  auth?: AuthConfig
  signal?: AbortSignal
  progress?: TransferProgressSink
}

export interface PushedTag {
  tag: string
  digest: Digest
  size: number
}

/** The registry module's face: what the API routes, the builder and the CLI's flows call. */
export interface RegistryApi {
  /**
   * Pulls NAME[:TAG|@DIGEST] (the tag defaults to latest), or every tag with `allTags`. Errors
   * before the first progress message are thrown with Docker's words and status; later ones
   * too (the API sends those in the stream).
   */
  pull(ref: string, opts?: PullOptions): Promise<PulledImage[]>
  /** Pushes NAME[:TAG] (latest by default), or every local tag of NAME with `allTags`. */
  push(ref: string, opts?: PushOptions): Promise<PushedTag[]>
  /** Checks credentials with the registry (POST /auth). */
  login(auth: AuthConfig, opts?: CallOptions): Promise<LoginResult>
  /** The registry settings GET /info shows (insecure registries, mirrors, proxies). */
  info?(): RegistryInfo
  /** What NAME[:TAG|@DIGEST] resolves to in its registry, pulling nothing (GET /distribution). */
  distribution(
    ref: string,
    opts?: CallOptions & { auth?: AuthConfig },
  ): Promise<DistributionInspect>
}

/** What GET /info says of registries and proxies, in Docker's field names. */
export interface RegistryInfo {
  RegistryConfig: {
    AllowNondistributableArtifactsCIDRs: null
    AllowNondistributableArtifactsHostnames: null
    InsecureRegistryCIDRs: string[]
    IndexConfigs: Record<
      string,
      { Name: string; Mirrors: string[]; Secure: boolean; Official: boolean }
    >
    Mirrors: string[] | null
  }
  /** The proxies, credentials hidden as dockerd shows them. */
  HttpProxy: string
  HttpsProxy: string
  NoProxy: string
}

/** Docker's registry.DistributionInspect: the manifest's descriptor and its platforms. */
export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number }
  Platforms: { architecture: string; os: string; variant?: string; 'os.version'?: string }[]
}

/**
 * What the builder (FROM of an image that is not here) and any other engine part that needs an
 * image pulled takes as a constructor argument: berthd passes its RegistryService. The image is
 * in the image store, tagged as the reference names it, when the promise resolves; progress
 * messages are Docker's (pass them on as a build's "aux"-less JSON lines, or drop them).
 */
export type ImagePuller = Pick<RegistryApi, 'pull'>
