// RemoteRepository: one repository on one registry: manifests, blob downloads (verified and
// resumed) and tag lists; uploads are delegated to BlobUploads.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { isDigest, sha256, type Digest } from '../digest.ts'
import { Internal, InvalidArgument } from '../errors.ts'
import { repositoryScope } from './auth.ts'
import { goMethod, isRetryableNetworkError, networkError } from './errors.ts'
import { backoff, discard, header, type Headers, type HttpResponse, wait } from './http.ts'
import type { Session, SessionResponse } from './session.ts'
import type {
  Action,
  BlobFetchOptions,
  BlobPushOptions,
  CallOptions,
  FetchedManifest,
  ManifestInfo,
  PushedBy,
  PushedStream,
  Repository,
  StreamPushOptions,
} from './types.ts'
import { BlobUploads } from './uploads.ts'

/** containerd's and Docker's cap on a manifest's size. */
const MAX_MANIFEST_BYTES = 4 << 20
/** Resumes of one blob download before giving up. */
const MAX_RESUMES = 5

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

function digestRef(ref: string): Digest | undefined {
  return isDigest(ref) ? ref : undefined
}

const SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws'

export class RemoteRepository implements Repository {
  private readonly scopes: string[]
  private readonly uploads: BlobUploads

  constructor(
    private readonly session: Session,
    readonly path: string,
    actions: readonly Action[],
  ) {
    if (actions.length === 0) throw new InvalidArgument('a repository needs at least one action')
    this.scopes = [repositoryScope(path, [...new Set(actions)].sort())]
    this.uploads = new BlobUploads(session, path, this.scopes)
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
    const mediaType = mediaTypeOf(res)
    // A signed schema 1 manifest's digest covers its payload without the signatures, which is
    // not checked here: pull refuses schema 1 as soon as it sees one (as Docker 28 does).
    if (mediaType.split(';')[0]!.trim() === SCHEMA1_SIGNED) return { mediaType, digest, bytes }
    const wanted = digestRef(ref) ?? header(res, 'docker-content-digest')
    // A digest in another algorithm cannot be checked here; sha256 ones must match.
    if (wanted?.startsWith('sha256:') && wanted !== digest) {
      throw new Internal(`manifest verification failed for digest ${wanted}`)
    }
    return { mediaType, digest, bytes }
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

  mountBlob(
    digest: Digest,
    from: readonly string[],
    opts: CallOptions = {},
  ): Promise<string | undefined> {
    return this.uploads.mountBlob(digest, from, opts)
  }

  pushBlob(
    digest: Digest,
    size: number,
    open: () => Promise<Readable>,
    opts: BlobPushOptions = {},
  ): Promise<PushedBy> {
    return this.uploads.pushBlob(digest, size, open, opts)
  }

  pushStream(open: () => Promise<Readable>, opts: StreamPushOptions = {}): Promise<PushedStream> {
    return this.uploads.pushStream(open, opts)
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
