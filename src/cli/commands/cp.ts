// docker cp: a tar over GET/PUT /containers/{id}/archive, with the CLI's copy rules (copy into an
// existing directory, or to a new name).
import { createReadStream } from 'node:fs'
import {
  chown,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  symlink,
  unlink,
  utimes,
  rm,
  stat,
} from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { PassThrough, Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import type { Client } from '../client.ts'
import type { CommandDef } from '../command.ts'
import { CliError, bool, err } from '../command.ts'

interface PathStat {
  name: string
  size: number
  mode: number
  mtime: string
  linkTarget: string
}

const GO_DIR = 2 ** 31
const GO_SYMLINK = 2 ** 27

/** docker's splitCpArg: "container:path", unless the argument is plainly a local path. */
function splitArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg }
  const i = arg.indexOf(':')
  if (i <= 0) return { path: arg }
  return { container: arg.slice(0, i), path: arg.slice(i + 1) }
}

function decodeStat(h: string | string[] | undefined): PathStat | undefined {
  const v = Array.isArray(h) ? h[0] : h
  if (!v) return undefined
  return JSON.parse(Buffer.from(v, 'base64').toString('utf8')) as PathStat
}

async function statIn(client: Client, ctr: string, path: string): Promise<PathStat | undefined> {
  try {
    const res = await client.request('HEAD', `/containers/${encodeURIComponent(ctr)}/archive`, {
      query: { path },
    })
    res.resume()
    return decodeStat(res.headers['x-docker-container-path-stat'])
  } catch (e) {
    if ((e as { status?: number }).status === 404) return undefined
    throw e
  }
}

/** units.HumanSize: three significant digits, decimal units. */
function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB']
  let i = 0
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000
    i++
  }
  return `${Number(n.toPrecision(3))}${units[i]}`
}

function counter(): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _e, cb) {
      t.bytes += chunk.length
      cb(null, chunk)
    },
  }) as Transform & { bytes: number }
  t.bytes = 0
  return t
}

/** Tars a local path; the top entry is named `top`. */
function tarLocal(src: string, top: string, follow: boolean): Readable {
  const pack = tar.pack()
  const add = async (path: string, name: string, first: boolean): Promise<void> => {
    const st = first && follow ? await stat(path) : await lstat(path)
    const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime }
    if (st.isDirectory()) {
      pack.entry({ ...base, type: 'directory' })
      for (const c of (await readdir(path)).sort()) await add(join(path, c), `${name}/${c}`, false)
    } else if (st.isSymbolicLink()) {
      pack.entry({ ...base, type: 'symlink', linkname: await readlink(path) })
    } else if (st.isFile()) {
      const entry = pack.entry({ ...base, type: 'file', size: st.size })
      await pipeline(createReadStream(path), entry)
    }
  }
  add(src, top, true).then(
    () => pack.finalize(),
    (e: Error) => pack.destroy(e),
  )
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false })
}

/** Extracts a tar from the daemon into `dir`, renaming the top entry to `rename` when given. */
async function extractLocal(
  body: Readable,
  dir: string,
  from: string,
  rename: string | undefined,
  keepOwner: boolean,
): Promise<void> {
  const ex = tar.extract()
  const feeding = pipeline(body, ex)
  const dirTimes: [string, Date][] = []
  for await (const entry of ex) {
    const h = entry.header
    let name = h.name.replace(/\/$/, '')
    if (rename !== undefined) {
      if (name === from) name = rename
      else if (name.startsWith(`${from}/`)) name = rename + name.slice(from.length)
    }
    const parts = name.split('/').filter((p) => p !== '' && p !== '.')
    if (parts.includes('..')) throw new CliError(`invalid archive entry ${h.name}`)
    const target = join(dir, ...parts)
    const existing = await lstat(target).catch(() => undefined)
    if (h.type === 'directory') {
      if (existing && !existing.isDirectory()) await rm(target, { force: true })
      await mkdir(target, { recursive: true, mode: h.mode })
      dirTimes.push([target, h.mtime ?? new Date()])
    } else {
      if (existing?.isDirectory())
        throw new CliError(`cannot overwrite directory ${target} with non-directory`)
      if (existing) await unlink(target)
      await mkdir(dirname(target), { recursive: true })
      if (h.type === 'symlink') await symlink(h.linkname ?? '', target)
      else if (h.type === 'file') {
        const fh = await open(target, 'wx', h.mode)
        try {
          for await (const c of entry) await fh.write(c as Buffer)
          await fh.chmod(h.mode ?? 0o644)
        } finally {
          await fh.close()
        }
        await utimes(target, h.mtime ?? new Date(), h.mtime ?? new Date())
      }
      if (keepOwner && h.type !== 'symlink') await chown(target, h.uid ?? 0, h.gid ?? 0)
    }
    entry.resume()
  }
  await feeding
  for (const [p, t] of dirTimes.reverse()) await utimes(p, t, t).catch(() => undefined)
}

export const command: CommandDef = {
  usage:
    '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  short: 'Copy files/folders between a container and the local filesystem',
  long: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.`,
  aliases: ['berth container cp', 'berth cp'],
  args: { min: 2, max: 2 },
  flags: [
    {
      long: 'archive',
      short: 'a',
      kind: 'bool',
      desc: 'Archive mode (copy all uid/gid information)',
    },
    {
      long: 'follow-link',
      short: 'L',
      kind: 'bool',
      desc: 'Always follow symbol link in SRC_PATH',
    },
    {
      long: 'quiet',
      short: 'q',
      kind: 'bool',
      desc: 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached',
    },
  ],
  async run(ctx, f) {
    const src = splitArg(f.args[0] as string)
    const dst = splitArg(f.args[1] as string)
    if (src.container && dst.container) {
      throw new CliError('copying between containers is not supported')
    }
    if (!src.container && !dst.container) {
      throw new CliError('must specify at least one container source')
    }
    const client = await ctx.client()
    const archive = bool(f, 'archive')
    const follow = bool(f, 'follow-link')
    const quiet = bool(f, 'quiet') || !process.stderr.isTTY
    const count = counter()

    if (src.container) {
      const ctr = src.container
      let path = src.path
      // as docker: a stat first only to follow a link (-L); the archive's answer says the rest
      if (follow) {
        const link = await statIn(client, ctr, path)
        if (link && link.mode & GO_SYMLINK && link.linkTarget) {
          path = link.linkTarget.startsWith('/')
            ? link.linkTarget
            : join(dirname(path), link.linkTarget)
        }
      }
      const res = await client.request('GET', `/containers/${encodeURIComponent(ctr)}/archive`, {
        query: { path },
      })
      const stat = decodeStat(res.headers['x-docker-container-path-stat']) ?? {
        name: basename(path),
        size: 0,
        mode: 0,
        mtime: '',
        linkTarget: '',
      }
      const top = stat.name
      if (dst.path === '-') {
        await pipeline(res, count, process.stdout, { end: false })
        return 0
      }
      const dest = resolve(dst.path)
      const dstSt = await lstat(dest).catch(() => undefined)
      const srcIsDir = (stat.mode & GO_DIR) !== 0
      if (dstSt?.isDirectory()) {
        await extractLocal(res.pipe(count), dest, top, undefined, archive)
      } else {
        if (dst.path.endsWith('/'))
          throw new CliError(`destination directory ${dst.path} must exist`)
        if (dstSt && srcIsDir) throw new CliError('cannot copy a directory to a file')
        const parent = await lstat(dirname(dest)).catch(() => undefined)
        if (!parent?.isDirectory())
          throw new CliError(`lstat ${dirname(dest)}: no such file or directory`)
        await extractLocal(res.pipe(count), dirname(dest), top, basename(dest), archive)
      }
      if (!quiet) err(`Successfully copied ${humanSize(count.bytes)} to ${dst.path}\n`)
      return 0
    }

    const ctr = dst.container as string
    const dpath = dst.path
    const put = async (tarStream: Readable, into: string): Promise<void> => {
      const pass = new PassThrough()
      const sending = pipeline(tarStream, count, pass)
      const res = await client.request('PUT', `/containers/${encodeURIComponent(ctr)}/archive`, {
        query: {
          path: into,
          noOverwriteDirNonDir: 'true',
          copyUIDGID: archive ? 'true' : undefined,
        },
        body: pass,
        headers: { 'Content-Type': 'application/x-tar' },
      })
      res.resume()
      await sending
    }
    if (src.path === '-') {
      await put(process.stdin, dpath)
      return 0
    }
    const local = resolve(src.path)
    const st = await lstat(local).catch(() => undefined)
    if (!st) throw new CliError(`lstat ${local}: no such file or directory`)
    const dstStat = await statIn(client, ctr, dpath)
    if (dstStat && dstStat.mode & GO_DIR) {
      await put(tarLocal(local, basename(local), follow), dpath)
    } else {
      if (dstStat && st.isDirectory()) throw new CliError('cannot copy a directory to a file')
      if (!dstStat && dpath.endsWith('/'))
        throw new CliError(`destination directory ${dpath} must exist`)
      await put(tarLocal(local, basename(dpath), follow), dirname(dpath) || '/')
    }
    if (!quiet) err(`Successfully copied ${humanSize(count.bytes)} to ${ctr}:${dpath}\n`)
    return 0
  },
}
