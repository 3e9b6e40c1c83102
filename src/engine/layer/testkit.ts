// Helpers for the layer tests: tar archives built with tar-stream, and temp dirs.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { lstat, mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import tar from 'tar-stream'
import { llistxattr } from '../sys/fsat.ts'
import { lgetxattr } from '../sys/libc.ts'
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

/** Every entry under a directory: type, owner, mode, times, content, xattrs, and its links. */
export async function describeTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const inodes = new Map<bigint, string[]>()
  const files: string[] = []
  // Every stat before any read: reading a file moves its access time (relatime).
  const walk = async (rel: string): Promise<void> => {
    for (const n of (await readdir(`${root}${rel}`)).sort()) {
      const r = `${rel}/${n}`
      const p = `${root}${r}`
      const st = await lstat(p, { bigint: true })
      const xattrs = llistxattr(p)
        .sort()
        .map((x) => `${x}=${lgetxattr(p, x)?.toString('hex')}`)
      const target = st.isSymbolicLink() ? await readlink(p) : ''
      // A whiteout's times are no one's: unpack leaves the time it made it, as overlay does.
      const whiteout = st.isCharacterDevice() && st.rdev === 0n
      const times = whiteout ? [] : [st.mtimeNs, st.atimeNs]
      out.set(r, [st.mode, st.uid, st.gid, st.rdev, st.size, ...times, target, xattrs].join(' '))
      if (st.isFile()) files.push(r)
      if (st.isFile() && st.nlink > 1n) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), r])
      if (st.isDirectory()) await walk(r)
    }
  }
  await walk('')
  for (const r of files) {
    out.set(
      `${r} data`,
      createHash('sha256')
        .update(await readFile(`${root}${r}`))
        .digest('hex'),
    )
  }
  for (const group of inodes.values()) for (const r of group) out.set(`${r} links`, group.join(','))
  return out
}
