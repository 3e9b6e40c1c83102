// Blob uploads for a RemoteRepository: cross-repository mounts, monolithic, chunked and streamed.
import { createHash } from 'node:crypto'
import { type Readable, Transform } from 'node:stream'
import type { Digest } from '../digest.ts'
import { Internal } from '../errors.ts'
import { repositoryScope } from './auth.ts'
import { goMethod, isRetryableNetworkError } from './errors.ts'
import { backoff, header, isRetryableStatus, wait } from './http.ts'
import type { Session } from './session.ts'
import type {
  BlobPushOptions,
  CallOptions,
  PushedBy,
  PushedStream,
  StreamPushOptions,
} from './types.ts'

/** The upload half of one repository, with the session and scopes of the repository it serves. */
export class BlobUploads {
  constructor(
    private readonly session: Session,
    readonly path: string,
    private readonly scopes: readonly string[],
  ) {}

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
}

function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url)
  u.searchParams.set(key, value)
  return u.href
}

/** An upload fails over to a fresh one after a dropped connection or a 5xx. */
function isRetryableUpload(err: unknown): boolean {
  if (isRetryableNetworkError(err)) return true
  const cause = (err as { cause?: unknown }).cause
  const status = (cause as { status?: unknown } | undefined)?.status
  return typeof status === 'number' && isRetryableStatus(status)
}
