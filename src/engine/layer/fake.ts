// An in-memory layer store for tests (the API's fake engine among them). Layers are kept as the
// list of paths they hold, not their bytes; the tar is still read and judged as the real store
// judges it (names that escape the root, devices when not allowed, links through symlinks,
// broken archives), so test/conformance/layer-store.ts holds for both. Read-write layers exist
// as records only: rootfsMount describes a mount that nobody can perform.
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import tar from 'tar-stream'
import { decompress } from '../compression.ts'
import { isDigest, parseDigest, type Digest } from '../digest.ts'
import { BerthError, Conflict, InvalidArgument, NotFound } from '../errors.ts'
import type { LayerInfo, LayerStore, Mount } from './types.ts'
import { cleanName } from '../tar/names.ts'

const RW_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

type Kind = 'dir' | 'file' | 'symlink' | 'other'

export class MemoryLayerStore implements LayerStore {
  private readonly layers = new Map<Digest, { info: LayerInfo; paths: Map<string, Kind> }>()
  private readonly rw = new Map<string, Digest[]>()

  async unpack(
    stream: Readable,
    opts: {
      expectedDiffID?: Digest
      signal?: AbortSignal
      allowDevices?: boolean
      uncompressed?: boolean
    } = {},
  ): Promise<LayerInfo> {
    const expected =
      opts.expectedDiffID === undefined ? undefined : parseDigest(opts.expectedDiffID)
    opts.signal?.throwIfAborted()
    const onAbort = () => stream.destroy(opts.signal?.reason as Error)
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    let r: { diffID: Digest; size: number; paths: Map<string, Kind> }
    try {
      r = await readLayer(stream, opts.allowDevices ?? true, opts.uncompressed ?? false)
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason
      throw err
    } finally {
      opts.signal?.removeEventListener('abort', onAbort)
      stream.destroy()
    }
    if (expected !== undefined && r.diffID !== expected) {
      throw new InvalidArgument(`invalid diffID for layer: expected ${expected}, got ${r.diffID}`)
    }
    const existing = this.layers.get(r.diffID)
    if (existing) return { ...existing.info }
    const info = { diffID: r.diffID, size: r.size }
    this.layers.set(r.diffID, { info, paths: r.paths })
    return { ...info }
  }

  async has(diffID: Digest): Promise<boolean> {
    return isDigest(diffID) && this.layers.has(diffID)
  }

  async info(diffID: Digest): Promise<LayerInfo> {
    const l = isDigest(diffID) ? this.layers.get(diffID) : undefined
    if (!l) throw new NotFound(`no such layer: ${diffID}`)
    return { ...l.info }
  }

  async list(): Promise<LayerInfo[]> {
    return [...this.layers.values()].map((l) => ({ ...l.info }))
  }

  async delete(diffID: Digest): Promise<void> {
    if (!(await this.has(diffID))) throw new NotFound(`no such layer: ${diffID}`)
    for (const [id, parents] of this.rw) {
      if (parents.includes(diffID)) {
        throw new Conflict(`layer ${diffID} is in use by read-write layer ${id}`)
      }
    }
    this.layers.delete(diffID)
  }

  async createRW(id: string, parents: Digest[]): Promise<void> {
    checkRWId(id)
    for (const p of parents) if (!(await this.has(p))) throw new NotFound(`no such layer: ${p}`)
    if (this.rw.has(id)) throw new Conflict(`read-write layer ${id} already exists`)
    this.rw.set(id, [...parents])
  }

  async rootfsMount(id: string, target: string): Promise<Mount> {
    checkRWId(id)
    const parents = this.rw.get(id)
    if (!parents) throw new NotFound(`no such read-write layer: ${id}`)
    const lowers = [...parents].reverse().map((p) => `/memory/layers/${p.slice(7, 19)}`)
    if (lowers.length === 0) lowers.push(`/memory/rw/${id}/empty`)
    return {
      type: 'overlay',
      source: 'overlay',
      destination: target,
      options: [
        `lowerdir=${lowers.join(':')}`,
        `upperdir=/memory/rw/${id}/upper`,
        `workdir=/memory/rw/${id}/work`,
      ],
    }
  }

  async rwSize(id: string): Promise<number> {
    checkRWId(id)
    if (!this.rw.has(id)) throw new NotFound(`no such read-write layer: ${id}`)
    return 0 // nothing can write into a layer kept in memory
  }

  async removeRW(id: string): Promise<void> {
    checkRWId(id)
    this.rw.delete(id)
  }

  async listRW(): Promise<string[]> {
    return [...this.rw.keys()]
  }
}

function checkRWId(id: string): void {
  if (!RW_ID_RE.test(id))
    throw new InvalidArgument(`invalid read-write layer id: ${JSON.stringify(id)}`)
}

function invalid(msg: string): InvalidArgument {
  return new InvalidArgument(`invalid layer: ${msg}`)
}

type Entry = tar.Extract extends AsyncIterable<infer T> ? T : never

/** Reads a layer tar to its end: its diffID, file bytes, and what paths it makes. */
async function readLayer(
  stream: Readable,
  allowDevices: boolean,
  uncompressed: boolean,
): Promise<{ diffID: Digest; size: number; paths: Map<string, Kind> }> {
  const hash = createHash('sha256')
  const extract = tar.extract()
  const source: AsyncIterable<Buffer> = uncompressed ? stream : decompress(stream)
  const feed = (async () => {
    for await (const chunk of source) {
      if (extract.destroyed) return // the reader stopped; it reports why
      hash.update(chunk)
      if (!extract.write(chunk) && !extract.destroyed) {
        await new Promise<void>((resolve) => {
          extract.once('drain', resolve)
          extract.once('close', resolve)
        })
      }
    }
    extract.end(null)
  })()
  feed.catch((err: unknown) => extract.destroy(err as Error))
  const paths = new Map<string, Kind>([['', 'dir']])
  let size = 0
  const q = JSON.stringify
  try {
    for await (const entry of extract as AsyncIterable<Entry>) {
      const h = entry.header
      const comps = cleanName(h.name)
      for (let i = 1; i < comps.length; i++) {
        const parent = comps.slice(0, i).join('/')
        const k = paths.get(parent)
        if (k === 'symlink')
          throw invalid(`entry ${q(h.name)} passes through the symlink ${q(parent)}`)
        if (k !== undefined && k !== 'dir')
          throw invalid(`entry ${q(h.name)}: ${q(parent)} is not a directory`)
        if (k === undefined) paths.set(parent, 'dir')
      }
      const rel = comps.join('/')
      if (comps.length === 0 && h.type !== 'directory')
        throw invalid(`entry ${q(h.name)} would replace the layer root`)
      let kind: Kind
      switch (h.type) {
        case 'directory':
          kind = 'dir'
          break
        case 'file':
        case 'contiguous-file':
          kind = 'file'
          for await (const c of entry as AsyncIterable<Buffer>) size += c.length
          break
        case 'symlink':
          if (!h.linkname) throw invalid(`symlink ${q(h.name)} has an invalid target`)
          kind = 'symlink'
          break
        case 'link': {
          const t = cleanName(h.linkname ?? '', `hardlink ${q(h.name)} ->`).join('/')
          const tk = paths.get(t)
          if (tk === undefined)
            throw invalid(`hardlink ${q(h.name)} -> ${q(h.linkname)}: target is not in the layer`)
          if (tk === 'dir')
            throw invalid(`hardlink ${q(h.name)} -> ${q(h.linkname)}: target is a directory`)
          kind = tk
          break
        }
        case 'character-device':
        case 'block-device':
          if (!allowDevices)
            throw invalid(`entry ${q(h.name)} is a device node, which is not allowed here`)
          kind = 'other'
          break
        case 'fifo':
          kind = 'other'
          break
        default:
          throw invalid(`entry ${q(h.name)} has an unsupported type (${h.type ?? 'unknown'})`)
      }
      paths.set(rel, kind)
      entry.resume()
    }
    await feed
  } catch (err) {
    extract.destroy()
    if (err instanceof BerthError) throw err
    throw invalid(err instanceof Error ? err.message : String(err))
  }
  return { diffID: `sha256:${hash.digest('hex')}`, size, paths }
}
