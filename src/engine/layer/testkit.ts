// Helpers for the layer tests: tar archives built with tar-stream, and temp dirs.
import { spawnSync } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import tar from 'tar-stream'
import { LocalLayerStore } from './local.ts'

export interface TarEntry {
  name: string
  type?: tar.Header['type']
  data?: string | Buffer
  linkname?: string
  mode?: number
  uid?: number
  gid?: number
  mtime?: Date
  devmajor?: number
  devminor?: number
  pax?: Record<string, string>
}

/** A whole (small) tar archive in memory. */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const p = tar.pack()
  const chunks: Buffer[] = []
  const done = (async () => {
    for await (const c of p as AsyncIterable<Buffer>) chunks.push(c)
  })()
  for (const e of entries) {
    const type = e.type ?? 'file'
    const data = e.data ?? ''
    await new Promise<void>((resolve, reject) => {
      p.entry(
        {
          name: e.name,
          type,
          linkname: e.linkname,
          mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
          uid: e.uid ?? 0,
          gid: e.gid ?? 0,
          mtime: e.mtime ?? new Date(1_600_000_000_000),
          devmajor: e.devmajor,
          devminor: e.devminor,
          pax: e.pax,
          size: type === 'file' ? Buffer.byteLength(data) : 0,
        },
        type === 'file' ? data : '',
        (err) => (err ? reject(err) : resolve()),
      )
    })
  }
  p.finalize()
  await done
  return Buffer.concat(chunks)
}

export function streamOf(buf: Buffer): Readable {
  // Small chunks, so parsing crosses chunk boundaries everywhere.
  const parts: Buffer[] = []
  for (let i = 0; i < buf.length; i += 1000) parts.push(buf.subarray(i, i + 1000))
  return Readable.from(parts)
}

export function zstd(buf: Buffer, args: string[] = []): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input: buf, maxBuffer: 1 << 30 })
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`)
  return r.stdout
}

export interface TempStore {
  root: string
  dir: string
  store: LocalLayerStore
  cleanup(): Promise<void>
}

export async function tempStore(): Promise<TempStore> {
  const root = await mkdtemp(join(tmpdir(), 'berth-layer-'))
  const dir = join(root, 'layers')
  const store = new LocalLayerStore(dir)
  await store.init()
  return { root, dir, store, cleanup: () => rm(root, { recursive: true, force: true }) }
}

/** Names in a store directory (tmp, l, sha256, rw). */
export async function names(dir: string, sub: string): Promise<string[]> {
  return (await readdir(join(dir, sub))).sort()
}
