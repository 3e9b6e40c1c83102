// The tars `berth build` sends: a scanned context's (build-context.ts), whole or only the files
// the daemon asked for, and a context or Dockerfile from stdin. Apart from the scan so that an
// unchanged rebuild, which sends no tar, never loads tar-stream (its modules' start is about a
// tenth of the command's own instructions).
import { createReadStream } from 'node:fs'
import { readlink } from 'node:fs/promises'
import { Readable } from 'node:stream'
import tar, { type Header } from 'tar-stream'
import type { PackedContext, ScannedContext } from './build-context.ts'

/**
 * The tar of a scanned context. With `send`, only the files it names go (directories and
 * symlinks always do: they cost a header); the daemon keeps the others from before.
 */
export function packScanned(s: ScannedContext, send?: ReadonlySet<string>): Readable {
  const pack = tar.pack()
  const entry = (
    header: Partial<Header> & { name: string },
    body?: Readable | Buffer,
  ): Promise<void> =>
    new Promise((res, rej) => {
      if (body === undefined) {
        pack.entry(header, (e) => (e ? rej(e) : res()))
        return
      }
      if (Buffer.isBuffer(body)) {
        pack.entry(header, body, (e) => (e ? rej(e) : res()))
        return
      }
      const sink = pack.entry(header, (e) => (e ? rej(e) : res()))
      body.on('error', rej)
      body.pipe(sink)
    })
  ;(async () => {
    try {
      for (const { rel, path, kind, mode, size, mtimeMs } of s.items) {
        const header = {
          name: rel,
          mode: mode & 0o7777,
          mtime: new Date(mtimeMs),
          uid: 0,
          gid: 0,
        }
        if (kind === 'd') await entry({ ...header, type: 'directory' })
        else if (kind === 'l')
          await entry({ ...header, type: 'symlink', linkname: await readlink(path) })
        else if (!send || send.has(rel))
          await entry({ ...header, type: 'file', size }, createReadStream(path))
      }
      if (s.extra)
        await entry(
          { name: s.extra.name, mode: 0o644, mtime: new Date(), type: 'file' },
          s.extra.body,
        )
      pack.finalize()
    } catch (e) {
      pack.destroy(e as Error)
    }
  })()
  return Readable.from(pack)
}

/** A context tar from stdin (`-`), or a Dockerfile there, which then makes an empty context. */
export async function contextFromStdin(stdin: Readable): Promise<PackedContext> {
  const chunks: Buffer[] = []
  let size = 0
  const it = stdin[Symbol.asyncIterator]()
  // Enough to tell a tar (ustar at 257) or a compressed stream from a Dockerfile.
  while (size < 512) {
    const r = await it.next()
    if (r.done) break
    chunks.push(r.value as Buffer)
    size += (r.value as Buffer).length
  }
  const head = Buffer.concat(chunks)
  const compressed = head[0] === 0x1f && head[1] === 0x8b
  const isTar = compressed || head.subarray(257, 262).toString('latin1') === 'ustar'
  const rest = (async function* () {
    yield head
    for (;;) {
      const r = await it.next()
      if (r.done) return
      yield r.value as Buffer
    }
  })()
  if (isTar) return { tar: Readable.from(rest), dockerfile: 'Dockerfile' }
  const body: Buffer[] = []
  for await (const c of rest) body.push(c)
  const pack = tar.pack()
  pack.entry({ name: 'Dockerfile', mode: 0o644, type: 'file' }, Buffer.concat(body))
  pack.finalize()
  return { tar: Readable.from(pack), dockerfile: 'Dockerfile' }
}

/** The frames, then the context tar, as one body. */
export function withFrames(frames: Buffer[], tar: Readable): Readable {
  return Readable.from(
    (async function* () {
      yield* frames
      for await (const c of tar) yield c as Buffer
    })(),
    { objectMode: false },
  )
}
