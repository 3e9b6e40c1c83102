// Test helpers for the image store: a fake layer store and tar builders. Not used by the daemon.
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import * as tarStream from 'tar-stream'
import type { Digest } from '../digest.ts'
import { InvalidArgument, NotFound } from '../errors.ts'
import type { LayerInfo, LayerStore, Mount } from '../layer/types.ts'
import { decompress } from './streams.ts'

export { FakeUsage } from './fake.ts'

/** Records unpack calls; the diffID is the sha256 of the decompressed stream. */
export class FakeLayerStore implements LayerStore {
  readonly layers = new Map<Digest, LayerInfo>()
  readonly unpacked: Digest[] = []
  readonly deleted: Digest[] = []

  async unpack(stream: Readable, opts?: { expectedDiffID?: Digest }): Promise<LayerInfo> {
    const { stream: plain } = await decompress(stream)
    const h = createHash('sha256')
    let size = 0
    for await (const c of plain) {
      h.update(c as Buffer)
      size += (c as Buffer).length
    }
    const diffID: Digest = `sha256:${h.digest('hex')}`
    if (opts?.expectedDiffID && opts.expectedDiffID !== diffID) {
      throw new InvalidArgument(
        `layer digest mismatch: expected ${opts.expectedDiffID}, got ${diffID}`,
      )
    }
    this.unpacked.push(diffID)
    const info = this.layers.get(diffID) ?? { diffID, size }
    this.layers.set(diffID, info)
    return info
  }
  async has(d: Digest): Promise<boolean> {
    return this.layers.has(d)
  }
  async info(d: Digest): Promise<LayerInfo> {
    const i = this.layers.get(d)
    if (!i) throw new NotFound(`layer ${d} not found`)
    return i
  }
  async list(): Promise<LayerInfo[]> {
    return [...this.layers.values()]
  }
  async delete(d: Digest): Promise<void> {
    if (!this.layers.delete(d)) throw new NotFound(`layer ${d} not found`)
    this.deleted.push(d)
  }
  async createRW(): Promise<void> {
    throw new Error('not in the fake')
  }
  async rootfsMount(): Promise<Mount> {
    throw new Error('not in the fake')
  }
  async rwSize(): Promise<number> {
    return 0
  }
  async removeRW(): Promise<void> {}
  async listRW(): Promise<string[]> {
    return []
  }
}

export type TarEntry =
  | { name: string; data: Buffer | string; mode?: number }
  | { name: string; type: 'symlink' | 'directory' | 'link'; linkname?: string }

/** Builds a tar in memory (tests only: their archives are small). */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack()
  for (const e of entries) {
    if ('data' in e) {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : e.data
      pack.entry({ name: e.name, mode: e.mode ?? 0o644 }, data)
    } else {
      pack.entry({
        name: e.name,
        type: e.type,
        linkname: e.linkname,
        mode: e.type === 'directory' ? 0o755 : 0o777,
      })
    }
  }
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const c of pack) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** Lists a tar's entries with their content. */
export async function readTar(
  buf: Buffer,
): Promise<Map<string, { type: string; data: Buffer; linkname?: string }>> {
  const out = new Map<string, { type: string; data: Buffer; linkname?: string }>()
  const ex = tarStream.extract()
  ex.end(buf)
  for await (const entry of ex) {
    const chunks: Buffer[] = []
    for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c)
    out.set(entry.header.name, {
      type: entry.header.type ?? 'file',
      data: Buffer.concat(chunks),
      linkname: entry.header.linkname ?? undefined,
    })
  }
  return out
}
