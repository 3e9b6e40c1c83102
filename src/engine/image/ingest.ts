// The one ingest path for layers (load, import, commit; next pull and build): the input is
// read once and split, one side to the content store (compressed on the way when asked), the
// other decompressed and unpacked into the layer store; digests are checked as it streams.
//
//   blob in:   input ─ check digest, size ─┬─────────────────── blob writer ─ commit (last)
//                                          └─ decompress ─ count ─ layer store unpack (diffID)
//   tar in:    input ─ count ─┬─ [gzip] ─── blob writer ─ commit (last)
//                             └──────────── layer store unpack (diffID)
//   stored:    content store blob ─ decompress ─ count ─ layer store unpack (diffID)
//
// Order of visibility: the layer store renames its layer into place only once the whole tar
// was read and its diffID matched, and the tar only ends cleanly once the blob's digest and
// size matched; the blob is committed after the layer. So a failure leaves no blob, and at
// most a whole, verified layer that nothing records (garbage collected at start-up).
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import type { BlobInfo, BlobStore, BlobWriter } from '../content/types.ts'
import { decompress as decompressAll } from '../compression.ts'
import type { Digest } from '../digest.ts'
import { InvalidArgument } from '../errors.ts'
import type { LayerInfo, LayerStore } from '../layer/types.ts'
import { layerMediaType } from './manifest.ts'
import { counted, detectCompression, DigestCheck, peek, tee, type Compression } from './streams.ts'
import type {
  AdoptedLayerInput,
  IngestedLayer,
  LayerIngest,
  LayerInput,
  WriteLayerOptions,
} from './types.ts'

export interface LayerIngesterDeps {
  blobs: BlobStore
  layers: LayerStore
}

// The decompressed tar read ahead of the unpack: one piece (up to 256 KiB). Readable.from's
// default (16 pieces) held some 4 MiB per layer while the unpack was busy, for nothing.
const PLAIN_STREAM = { highWaterMark: 1 }

export class LayerIngester implements LayerIngest {
  constructor(private readonly deps: LayerIngesterDeps) {}

  async writeLayer(input: LayerInput, opts: WriteLayerOptions = {}): Promise<IngestedLayer> {
    opts.signal?.throwIfAborted()
    if ('stored' in input) return this.fromStored(input.stored, input.mediaType, opts)
    if ('blob' in input) return this.fromBlob(input, opts)
    return this.fromTar(input, opts)
  }

  private unpack(plain: Readable, opts: WriteLayerOptions): Promise<LayerInfo> {
    return this.deps.layers.unpack(plain, {
      uncompressed: true,
      ...(opts.diffID !== undefined ? { expectedDiffID: opts.diffID } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.allowDevices !== undefined ? { allowDevices: opts.allowDevices } : {}),
    })
  }

  private async fromStored(
    digest: Digest,
    mediaType: string | undefined,
    opts: WriteLayerOptions,
  ): Promise<IngestedLayer> {
    const info = await this.deps.blobs.info(digest)
    const src = await this.deps.blobs.open(digest)
    let compression: Compression
    try {
      compression = detectCompression(await peek(src, 4))
    } catch (err) {
      src.destroy()
      throw err
    }
    let read = 0
    let diffSize = 0
    const counting = counted(src as AsyncIterable<Buffer>, (n) => opts.progress?.((read += n)))
    const plain = Readable.from(
      counted(decompressAll(counting), (n) => (diffSize += n)),
      PLAIN_STREAM,
    )
    const layer = await this.unpack(plain, opts)
    return {
      diffID: layer.diffID,
      blob: digest,
      blobSize: info.size,
      mediaType: mediaType ?? layerMediaType(compression),
      diffSize,
      size: layer.size,
    }
  }

  private async fromBlob(
    input: Extract<LayerInput, { blob: Readable }>,
    opts: WriteLayerOptions,
  ): Promise<IngestedLayer> {
    const compression = detectCompression(await peek(input.blob, 4))
    // A verified stream is counted only; otherwise a digest given is checked here.
    const toCheck = input.verified === undefined ? input.digest : undefined
    const expectedDigest = input.verified ?? input.digest
    const check = new DigestCheck(
      {
        what: 'layer blob',
        ...(toCheck !== undefined ? { digest: toCheck } : {}),
        ...(input.size !== undefined ? { size: input.size } : {}),
      },
      opts.progress,
    )
    let diffSize = 0
    const r = await this.split(input.blob, check, opts, {
      toBlob: (side, writer) => pipeline(side, writer, ...signalOpt(opts)),
      plain: (side) =>
        Readable.from(
          counted(decompressAll(side), (n) => (diffSize += n)),
          PLAIN_STREAM,
        ),
      expected: {
        ...(expectedDigest !== undefined ? { digest: expectedDigest } : {}),
        ...(input.size !== undefined ? { size: input.size } : {}),
      },
      // The digest is checked on the way in (by the stream or by `check`): the blob writer
      // need not hash the bytes again.
      ...(expectedDigest !== undefined ? { trusted: expectedDigest } : {}),
    })
    return {
      diffID: r.layer.diffID,
      blob: r.blob.digest,
      blobSize: r.blob.size,
      mediaType: input.mediaType ?? layerMediaType(compression),
      diffSize,
      size: r.layer.size,
    }
  }

  private async fromTar(
    input: Extract<LayerInput, { tar: Readable }>,
    opts: WriteLayerOptions,
  ): Promise<IngestedLayer> {
    const found = detectCompression(await peek(input.tar, 4))
    if (found !== 'none') {
      input.tar.destroy()
      throw new InvalidArgument(`a layer tar must be uncompressed; this one is ${found}`)
    }
    const compression = input.compression ?? 'none'
    const count = new DigestCheck({}, opts.progress)
    const r = await this.split(input.tar, count, opts, {
      toBlob: (side, writer) =>
        compression === 'gzip'
          ? pipeline(side, createGzip(), writer, ...signalOpt(opts))
          : pipeline(side, writer, ...signalOpt(opts)),
      plain: (side) => side,
      // Stored as it is, the blob is the tar itself: its digest must be the diffID.
      expected: compression === 'none' ? 'diffID' : {},
    })
    return {
      diffID: r.layer.diffID,
      blob: r.blob.digest,
      blobSize: r.blob.size,
      mediaType: input.mediaType ?? layerMediaType(compression),
      diffSize: count.bytes,
      size: r.layer.size,
    }
  }

  /**
   * A layer whose directory exists already (see AdoptedLayerInput): the tar goes to the blob
   * store only, hashed on the way (the writer trusts that hash rather than computing its own),
   * and is never unpacked. Same order of visibility as writeLayer: the layer once the whole tar
   * was written, the blob last.
   */
  async adoptLayer(input: AdoptedLayerInput, opts: WriteLayerOptions = {}): Promise<IngestedLayer> {
    opts.signal?.throwIfAborted()
    const hash = createHash('sha256')
    let diffSize = 0
    let diffID: Digest | undefined
    const hashed = Readable.from(
      (async function* () {
        for await (const c of input.tar as AsyncIterable<Buffer>) {
          hash.update(c)
          diffSize += c.length
          opts.progress?.(diffSize)
          yield c
        }
      })(),
      PLAIN_STREAM,
    )
    let writer: BlobWriter
    try {
      writer = await this.deps.blobs.ingest({
        // Read by commit, after the last byte, when the hash above is whole.
        trusted: {
          get digest(): Digest {
            return diffID ?? 'sha256:'
          },
          verified: () => diffID !== undefined,
        },
      })
    } catch (err) {
      input.tar.destroy()
      throw err
    }
    try {
      await pipeline(hashed, writer, ...signalOpt(opts))
      diffID = `sha256:${hash.digest('hex')}`
      if (opts.diffID !== undefined && opts.diffID !== diffID) {
        throw new InvalidArgument(
          `invalid diffID for layer: expected ${opts.diffID}, got ${diffID}`,
        )
      }
      opts.signal?.throwIfAborted()
      const layer = await input.adopt(diffID)
      const blob = await writer.commit({ digest: diffID })
      return {
        diffID,
        blob: blob.digest,
        blobSize: blob.size,
        mediaType: input.mediaType ?? layerMediaType('none'),
        diffSize,
        size: layer.size,
      }
    } catch (err) {
      input.tar.destroy()
      await writer.abort()
      throw err
    }
  }

  /**
   * Runs `input` through `check`, then splits it: one side into a new blob, the other (made
   * plain) into the layer store. Commits the blob only once the layer is whole.
   */
  private async split(
    input: Readable,
    check: DigestCheck,
    opts: WriteLayerOptions,
    how: {
      toBlob: (side: Readable, writer: BlobWriter) => Promise<void>
      plain: (side: Readable) => Readable
      expected: { digest?: Digest; size?: number } | 'diffID'
      /**
       * The blob's digest when the input or `check` verifies it: true once the input ended
       * cleanly through `check`, which is what the writer's commit then asks.
       */
      trusted?: Digest
    },
  ): Promise<{ blob: BlobInfo; layer: LayerInfo }> {
    // Everything is piped at once, before any wait, so that no error goes unheard. The input
    // check's own refusal is check.failure; anything else it meets is reported by the sides.
    let inputVerified = false
    const checked = pipeline(input, check).then(
      () => void (inputVerified = true),
      () => undefined,
    )
    const [toBlob, toLayer] = tee(check)
    const unpacked = this.unpack(how.plain(toLayer), opts)
    unpacked.catch(() => undefined) // awaited below; a failure meanwhile is no unhandled rejection
    let writer: BlobWriter
    try {
      writer = await this.deps.blobs.ingest(
        how.trusted !== undefined
          ? { trusted: { digest: how.trusted, verified: () => inputVerified } }
          : {},
      )
    } catch (err) {
      toBlob.destroy(err as Error)
      await Promise.allSettled([unpacked, checked])
      throw err
    }
    try {
      const [blobSide, layerSide] = await Promise.allSettled([how.toBlob(toBlob, writer), unpacked])
      await checked
      if (blobSide.status === 'rejected' || layerSide.status === 'rejected') {
        // The first cause, not its echoes: an abort, then the input's own check, then the layer
        // (its refusal explains a torn blob), then the blob.
        if (opts.signal?.aborted) throw opts.signal.reason
        if (check.failure !== undefined) throw check.failure
        if (layerSide.status === 'rejected') throw layerSide.reason
        throw (blobSide as PromiseRejectedResult).reason
      }
      const layer = layerSide.value
      const expected = how.expected === 'diffID' ? { digest: layer.diffID } : how.expected
      const blob = await writer.commit(expected)
      return { blob, layer }
    } catch (err) {
      input.destroy()
      await writer.abort()
      throw err
    }
  }
}

function signalOpt(opts: WriteLayerOptions): [{ signal: AbortSignal }] | [] {
  return opts.signal ? [{ signal: opts.signal }] : []
}
