// A container's files: diff, export, the archive endpoints behind `docker cp`, and what commit
// (image/commit.ts) needs of the container. Everything that touches the container's root goes
// through descriptors and openat2 (RESOLVE_IN_ROOT), so no symlink or `..` inside the container
// reaches the host.
import { constants, fstat, open as openCb, type BigIntStats } from 'node:fs'
import {
  chmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  realpath,
  rmdir,
  symlink,
  unlink,
  utimes,
} from 'node:fs/promises'
import { posix } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import type { BlobStore } from '../content/types.ts'
import { InvalidArgument, NotFound, errnoCode, isBerthError } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import { applyChanges } from '../image/changes.ts'
import { containerAttributes } from '../events/bus.ts'
import type { EventSink } from '../events/types.ts'
import { ImageCommitter } from '../image/commit.ts'
import { LayerIngester } from '../image/ingest.ts'
import type { ImageRunConfig, ImageStore } from '../image/types.ts'
import { changes as layerChanges, diffTar, overlayDirs, type Change } from '../layer/diff.ts'
import { END_OF_ARCHIVE, TarEntries } from '../layer/tarwrite.ts'
import type { LayerStore, Mount } from '../layer/types.ts'
import { cleanName } from '../layer/unpack.ts'
import { walkFd } from '../layer/walk.ts'
import { closeFd, fdPath, openDir, openInRoot } from '../sys/fsat.ts'
import { S_IFBLK, S_IFCHR, S_IFIFO, SysError, mknod } from '../sys/libc.ts'
import { openCpView, type CpView } from './cpview.ts'
import { mergeImageConfig } from './service.ts'
import type { Container, ContainerConfig } from './types.ts'

export type { Change }

/** Docker's ContainerPathStat; `mode` is a Go os.FileMode. */
export interface PathStat {
  name: string
  size: number
  mode: number
  mtime: string
  linkTarget: string
}

export interface CommitOptions {
  repo?: string
  tag?: string
  comment?: string
  author?: string
  pause: boolean
  changes: string[]
  /** The request body: container config overrides (Docker's rules); empty takes the container's. */
  config?: Partial<ContainerConfig>
}

export interface PutArchiveOptions {
  noOverwriteDirNonDir: boolean
  copyUIDGID: boolean
  signal?: AbortSignal
}

/** What the API layer may ask about a container's files. */
export interface ContainerFilesApi {
  changes(ref: string): Promise<Change[]>
  exportRootfs(ref: string): Promise<Readable>
  statPath(ref: string, path: string): Promise<PathStat>
  getArchive(ref: string, path: string): Promise<{ stat: PathStat; tar: Readable }>
  putArchive(ref: string, path: string, body: Readable, opts: PutArchiveOptions): Promise<void>
  commit(ref: string, opts: CommitOptions): Promise<{ Id: string }>
  /** The overlay directories of the container's root filesystem (inspect's GraphDriver.Data). */
  layerDirs(ref: string): Promise<{ lower: string[]; upper: string; work: string; merged: string }>
}

export interface FilesDeps {
  containers: { get(ref: string): Promise<Container> }
  containerDir(id: string): string
  /** Runs fn while no other operation (start, exit handling) runs on the container. */
  locked<T>(id: string, fn: () => Promise<T>): Promise<T>
  layers: LayerStore
  images: ImageStore
  blobs: BlobStore
  mount(m: Mount): Promise<void>
  unmount(target: string): Promise<void>
  pause(id: string): Promise<void>
  resume(id: string): Promise<void>
  /** Where commit reports (pause, unpause, tag, commit). */
  events?: EventSink
  resolveUser?(rootfs: string, user: string): Promise<{ uid: number; gid: number }>
}

const O_PATH = 0o10000000

// Go's os.FileMode type bits.
const GO_DIR = 2 ** 31
const GO_SYMLINK = 2 ** 27
const GO_DEVICE = 2 ** 26
const GO_PIPE = 2 ** 25
const GO_SOCKET = 2 ** 24
const GO_SETUID = 2 ** 23
const GO_SETGID = 2 ** 22
const GO_CHARDEV = 2 ** 21
const GO_STICKY = 2 ** 20

/** A stat's mode as Go's os.FileMode, which Docker's clients decode. */
export function goFileMode(st: BigIntStats): number {
  let m = Number(st.mode & 0o777n)
  if (st.isDirectory()) m += GO_DIR
  else if (st.isSymbolicLink()) m += GO_SYMLINK
  else if (st.isFIFO()) m += GO_PIPE
  else if (st.isSocket()) m += GO_SOCKET
  else if (st.isCharacterDevice()) m += GO_DEVICE + GO_CHARDEV
  else if (st.isBlockDevice()) m += GO_DEVICE
  if (st.mode & 0o4000n) m += GO_SETUID
  if (st.mode & 0o2000n) m += GO_SETGID
  if (st.mode & 0o1000n) m += GO_STICKY
  return m
}

function rfc3339(st: BigIntStats): string {
  const ns = st.mtimeNs
  const s = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '')
  return `${s}${frac ? `.${frac}` : ''}Z`
}

/** Go's filepath.Base. */
function goBase(p: string): string {
  if (p === '') return '.'
  const t = p.replace(/\/+$/, '')
  if (t === '') return '/'
  return t.slice(t.lastIndexOf('/') + 1)
}

function notFoundIn(path: string, ref: string): NotFound {
  return new NotFound(`Could not find the file ${path} in container ${ref}`)
}

function fdStat(fd: number): Promise<BigIntStats> {
  return new Promise((resolve, reject) =>
    fstat(fd, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st))),
  )
}

function openRaw(path: string, flags: number, mode = 0o600): Promise<number> {
  return new Promise((resolve, reject) =>
    openCb(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))),
  )
}

/** Opens a path in the root; undefined when it does not exist. */
function tryOpenInRoot(
  rootFd: number,
  rel: string,
  opts: { nofollow?: boolean; directory?: boolean } = {},
): number | undefined {
  try {
    return openInRoot(rootFd, rel, opts)
  } catch (err) {
    if (err instanceof SysError && (err.code === 'ENOENT' || err.code === 'ENOTDIR'))
      return undefined
    throw err
  }
}

export class ContainerFiles implements ContainerFilesApi {
  private readonly committer: ImageCommitter

  constructor(private readonly deps: FilesDeps) {
    this.committer = new ImageCommitter({
      images: deps.images,
      ingest: new LayerIngester({ blobs: deps.blobs, layers: deps.layers }),
      freezer: { pause: (id) => deps.pause(id), resume: (id) => deps.resume(id) },
      ...(deps.events ? { events: deps.events } : {}),
    })
  }

  async changes(ref: string): Promise<Change[]> {
    const c = await this.deps.containers.get(ref)
    return layerChanges(await this.dirs(c.id))
  }

  async layerDirs(
    ref: string,
  ): Promise<{ lower: string[]; upper: string; work: string; merged: string }> {
    const c = await this.deps.containers.get(ref)
    const m = await this.deps.layers.rootfsMount(c.id, '/')
    const { upper, lowers } = overlayDirs(m)
    const work = m.options.find((o) => o.startsWith('workdir='))?.slice('workdir='.length) ?? ''
    return {
      // the layers' own directories, as docker shows them, not the short links the mount uses
      lower: await Promise.all(lowers.map((l) => realpath(l).catch(() => l))),
      upper,
      work,
      merged: posix.join(this.deps.containerDir(c.id), 'rootfs'),
    }
  }

  private async dirs(id: string): Promise<ReturnType<typeof overlayDirs>> {
    return overlayDirs(await this.deps.layers.rootfsMount(id, '/'))
  }

  /**
   * Runs `use` with the container's root filesystem: the one the running container has, or one
   * mounted for the purpose (under the container's lock, so that it cannot start meanwhile). The
   * returned stream, when there is one, keeps the root until it ends.
   */
  private async withRootfs<T>(
    c: Container,
    use: (root: string) => Promise<T>,
    streamOf?: (v: T) => Readable,
    withVolumes = false,
  ): Promise<T> {
    const root = `${this.deps.containerDir(c.id)}/rootfs`
    let result!: (v: T) => void
    let failed!: (e: unknown) => void
    const out = new Promise<T>((res, rej) => {
      result = res
      failed = rej
    })
    void this.deps
      .locked(c.id, async () => {
        const fresh = await this.deps.containers.get(c.id)
        const mounted = !fresh.state.Running
        if (mounted) await this.deps.mount(await this.deps.layers.rootfsMount(c.id, root))
        let view: CpView | undefined
        try {
          // cp, as in Docker, sees the volumes and binds too; export and commit do not.
          if (withVolumes) {
            const viewDir = `${this.deps.containerDir(c.id)}/cpview`
            view = await openCpView(root, viewDir, fresh.mountPoints ?? [])
          }
          const v = await use(view?.root ?? root)
          result(v)
          const s = streamOf?.(v)
          if (s && !s.destroyed && !s.readableEnded) {
            await new Promise<void>((res) => {
              s.once('close', res)
              s.once('end', res)
            })
          }
        } finally {
          await view?.close()
          if (mounted) await this.deps.unmount(root).catch(() => undefined)
        }
      })
      .catch(failed)
    return out
  }

  async exportRootfs(ref: string): Promise<Readable> {
    const c = await this.deps.containers.get(ref)
    return this.withRootfs(
      c,
      async (root) => {
        const rootFd = await openDir(root)
        async function* blocks(): AsyncGenerator<Buffer> {
          try {
            const entries = new TarEntries()
            for await (const item of walkFd(rootFd, '')) {
              yield* entries.entry(item.path, item.rel.slice(1), item.st)
            }
            yield END_OF_ARCHIVE
          } finally {
            await closeFd(rootFd)
          }
        }
        return Readable.from(blocks(), { objectMode: false })
      },
      (s) => s,
    )
  }

  /** Docker's ResolvePath + StatPath: the last element is not followed unless the path ends in / or /. */
  private async statIn(
    root: string,
    rootFd: number,
    ref: string,
    path: string,
  ): Promise<{ stat: PathStat; dirFd: number; base: string; st: BigIntStats; absPath: string }> {
    let absPath = posix.join('/', path)
    if (path.endsWith('/.')) absPath = `${absPath.replace(/\/$/, '')}/.`
    else if (path.endsWith('/') && absPath !== '/') absPath = `${absPath}/`
    const slash = absPath.lastIndexOf('/')
    const dirPart = absPath.slice(0, slash + 1)
    const base = absPath.slice(slash + 1)
    const dirFd = tryOpenInRoot(rootFd, dirPart, { directory: true })
    if (dirFd === undefined) throw notFoundIn(path, ref)
    try {
      const entry = base === '' || base === '.' ? fdPath(dirFd) : fdPath(dirFd, base)
      let st: BigIntStats
      try {
        st =
          base === '' || base === '.' ? await fdStat(dirFd) : await lstat(entry, { bigint: true })
      } catch (err) {
        const code = errnoCode(err)
        if (code === 'ENOENT' || code === 'ENOTDIR') throw notFoundIn(path, ref)
        throw err
      }
      let linkTarget = ''
      if (st.isSymbolicLink()) {
        // As Docker's FollowSymlinkInScope: resolved lexically in the root, existing or not.
        linkTarget = posix.join('/', posix.relative(root, await resolveInRoot(root, absPath)))
      }
      const stat: PathStat = {
        name: goBase(absPath),
        size: Number(st.size),
        mode: goFileMode(st),
        mtime: rfc3339(st),
        linkTarget,
      }
      return { stat, dirFd, base, st, absPath }
    } catch (err) {
      await closeFd(dirFd)
      throw err
    }
  }

  async statPath(ref: string, path: string): Promise<PathStat> {
    const c = await this.deps.containers.get(ref)
    return this.withRootfs(
      c,
      async (root) => {
        const rootFd = await openDir(root)
        try {
          const r = await this.statIn(root, rootFd, ref, path)
          await closeFd(r.dirFd)
          return r.stat
        } finally {
          await closeFd(rootFd)
        }
      },
      undefined,
      true,
    )
  }

  async getArchive(ref: string, path: string): Promise<{ stat: PathStat; tar: Readable }> {
    const c = await this.deps.containers.get(ref)
    return this.withRootfs(
      c,
      async (root) => {
        const rootFd = await openDir(root)
        let r: Awaited<ReturnType<ContainerFiles['statIn']>>
        try {
          r = await this.statIn(root, rootFd, ref, path)
        } catch (err) {
          await closeFd(rootFd)
          throw err
        }
        const { dirFd, base, st } = r
        // Docker rebases the archive's top entry to the requested path's base name.
        const top = goBase(r.absPath)
        async function* blocks(): AsyncGenerator<Buffer> {
          let fd: number | undefined
          try {
            const entries = new TarEntries()
            const self = base === '' || base === '.'
            const topPath = self ? fdPath(dirFd) : fdPath(dirFd, base)
            yield* entries.entry(topPath, top, st)
            if (st.isDirectory()) {
              fd = self
                ? dirFd
                : await openRaw(
                    topPath,
                    constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
                  )
              for await (const item of walkFd(fd, '')) {
                yield* entries.entry(item.path, `${top}${item.rel}`, item.st)
              }
            }
            yield END_OF_ARCHIVE
          } finally {
            if (fd !== undefined && fd !== dirFd) await closeFd(fd)
            await closeFd(dirFd)
            await closeFd(rootFd)
          }
        }
        return { stat: r.stat, tar: Readable.from(blocks(), { objectMode: false }) }
      },
      (v) => v.tar,
      true,
    )
  }

  async putArchive(
    ref: string,
    path: string,
    body: Readable,
    opts: PutArchiveOptions,
  ): Promise<void> {
    const c = await this.deps.containers.get(ref)
    if (c.hostConfig.ReadonlyRootfs) {
      throw new InvalidArgument('container rootfs is marked read-only')
    }
    // moby's check is lexical too: the destination lies in a mount point that is not RW.
    const dest = posix.join('/', path)
    const inReadOnly = (c.mountPoints ?? []).some((m) => {
      const d = posix.join('/', m.Destination)
      return !m.RW && (dest === d || dest.startsWith(d === '/' ? d : `${d}/`))
    })
    if (inReadOnly) throw new InvalidArgument('mounted volume is marked read-only')
    await this.withRootfs(
      c,
      async (root) => {
        const rootFd = await openDir(root)
        try {
          const destFd = tryOpenInRoot(rootFd, posix.join('/', path))
          if (destFd === undefined) throw notFoundIn(path, ref)
          const st = await fdStat(destFd)
          await closeFd(destFd)
          if (!st.isDirectory()) throw new InvalidArgument('extraction point is not a directory')
          let owner: { uid: number; gid: number } | undefined
          if (opts.copyUIDGID && c.config.User && this.deps.resolveUser) {
            owner = await this.deps.resolveUser(root, c.config.User)
          }
          await extractInRoot(rootFd, posix.join('/', path), body, {
            noOverwriteDirNonDir: opts.noOverwriteDirNonDir,
            owner,
            signal: opts.signal,
          })
        } finally {
          await closeFd(rootFd)
        }
      },
      undefined,
      true,
    )
  }

  /** Commit happens on the image side (image/commit.ts); this gives it what the container has. */
  async commit(ref: string, opts: CommitOptions): Promise<{ Id: string }> {
    const c = await this.deps.containers.get(ref)
    const changed = applyChanges(
      (opts.config && Object.keys(opts.config).length > 0
        ? opts.config
        : c.config) as ImageRunConfig,
      opts.changes,
    )
    const config = mergeImageConfig(
      { ...(changed as ContainerConfig), Image: c.config.Image },
      c.config as ImageRunConfig,
    )
    const image = await this.committer.commit({
      container: {
        id: c.id,
        image: c.image,
        config: c.config as ImageRunConfig,
        eventAttributes: containerAttributes(c),
      },
      config: config as ImageRunConfig,
      diff: async () => diffTar(await this.dirs(c.id)),
      pause: opts.pause && c.state.Running && !c.state.Paused,
      ...(opts.repo ? { repo: opts.repo } : {}),
      ...(opts.tag ? { tag: opts.tag } : {}),
      ...(opts.author ? { author: opts.author } : {}),
      ...(opts.comment ? { comment: opts.comment } : {}),
    })
    return { Id: image.id }
  }
}

interface ExtractOptions {
  noOverwriteDirNonDir: boolean
  owner?: { uid: number; gid: number }
  signal?: AbortSignal
}

type Entry = tar.Extract extends AsyncIterable<infer T> ? T : never

/**
 * Extracts a tar into the directory `dest` inside the root `rootFd`. Every parent is resolved by
 * the kernel inside the root (symlinks in the container are followed, as Docker's chrooted
 * extraction does, but never out of it); the entry itself is created with O_EXCL/O_NOFOLLOW in
 * the descriptor of its parent, and its metadata set through a descriptor of what was created.
 */
export async function extractInRoot(
  rootFd: number,
  dest: string,
  body: Readable,
  opts: ExtractOptions,
): Promise<void> {
  const extract = tar.extract()
  const dirTimes: { rel: string; mtime: Date }[] = []
  const feeding = pipeline(body, extract, opts.signal ? { signal: opts.signal } : {})
  const consuming = (async () => {
    for await (const entry of extract as AsyncIterable<Entry>) {
      try {
        await extractEntry(rootFd, dest, entry, opts, dirTimes)
      } finally {
        entry.resume()
      }
    }
  })()
  const [a, b] = await Promise.allSettled([feeding, consuming])
  if (b.status === 'rejected') {
    extract.destroy()
    throw wrapExtractError(b.reason)
  }
  if (a.status === 'rejected') throw wrapExtractError(a.reason)
  for (const { rel, mtime } of dirTimes.reverse()) {
    const fd = tryOpenInRoot(rootFd, rel, { nofollow: true })
    if (fd === undefined) continue
    try {
      const st = await fdStat(fd)
      if (st.isDirectory()) await utimes(fdPath(fd), mtime, mtime)
    } finally {
      await closeFd(fd)
    }
  }
}

function wrapExtractError(err: unknown): Error {
  if (isBerthError(err)) return err
  return new InvalidArgument(
    `Error processing tar file: ${err instanceof Error ? err.message : String(err)}`,
  )
}

async function drainEntry(entry: Entry): Promise<void> {
  for await (const _ of entry as AsyncIterable<Buffer>) {
    // Nothing kept.
  }
}

async function extractEntry(
  rootFd: number,
  dest: string,
  entry: Entry,
  opts: ExtractOptions,
  dirTimes: { rel: string; mtime: Date }[],
): Promise<void> {
  const h = entry.header
  const comps = cleanName(h.name)
  if (comps.length === 0) {
    await drainEntry(entry)
    return
  }
  const rel = posix.join(dest, ...comps)
  const parentRel = posix.join(dest, ...comps.slice(0, -1))
  const name = comps[comps.length - 1]
  const parentFd = await ensureDirInRoot(rootFd, parentRel)
  try {
    const target = fdPath(parentFd, name)
    let existing: BigIntStats | undefined
    try {
      existing = await lstat(target, { bigint: true })
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
    }
    const isDir = h.type === 'directory'
    if (existing) {
      if (opts.noOverwriteDirNonDir && existing.isDirectory() && !isDir) {
        throw new InvalidArgument(
          `cannot overwrite directory "${rel}" with non-directory "${h.name}"`,
        )
      }
      if (opts.noOverwriteDirNonDir && !existing.isDirectory() && isDir) {
        throw new InvalidArgument(
          `cannot overwrite non-directory "${rel}" with directory "${h.name}"`,
        )
      }
      if (!(existing.isDirectory() && isDir)) {
        if (existing.isDirectory()) await removeTreeAt(parentFd, name)
        else await unlink(target)
      }
    }
    const uid = opts.owner?.uid ?? h.uid ?? 0
    const gid = opts.owner?.gid ?? h.gid ?? 0
    const mode = (h.mode ?? 0o644) & 0o7777
    const mtime = h.mtime ?? new Date()
    switch (h.type) {
      case 'directory':
        if (!existing?.isDirectory()) await mkdir(target, 0o700)
        await setMeta(parentFd, name, uid, gid, mode, undefined)
        dirTimes.push({ rel, mtime })
        break
      case 'file':
      case 'contiguous-file': {
        const flags =
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
        const fh = await open(target, flags, 0o600)
        try {
          for await (const chunk of entry as AsyncIterable<Buffer>) {
            let off = 0
            while (off < chunk.length) {
              const { bytesWritten } = await fh.write(chunk, off, chunk.length - off)
              off += bytesWritten
            }
          }
          await fh.chown(uid, gid)
          await fh.chmod(mode)
          await fh.utimes(mtime, mtime)
        } finally {
          await fh.close()
        }
        break
      }
      case 'symlink':
        await symlink(h.linkname ?? '', target)
        await lchown(target, uid, gid)
        await lutimes(target, mtime, mtime)
        break
      case 'link': {
        const tcomps = cleanName(h.linkname ?? '', `hardlink ${JSON.stringify(h.name)} ->`)
        const tparent = tryOpenInRoot(rootFd, posix.join(dest, ...tcomps.slice(0, -1)), {
          directory: true,
        })
        if (tparent === undefined || tcomps.length === 0) {
          throw new InvalidArgument(`invalid hardlink ${h.name} -> ${h.linkname ?? ''}`)
        }
        try {
          await link(fdPath(tparent, tcomps[tcomps.length - 1]), target)
        } finally {
          await closeFd(tparent)
        }
        break
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR
        mknod(target, kind | mode, h.devmajor ?? 0, h.devminor ?? 0)
        await setMeta(parentFd, name, uid, gid, mode, mtime)
        break
      }
      default:
        // Docker skips entry types it does not know (pax globals and the like).
        break
    }
  } finally {
    await closeFd(parentFd)
  }
}

/** Owner, mode and times through a descriptor of exactly what was created, never a symlink. */
async function setMeta(
  parentFd: number,
  name: string,
  uid: number,
  gid: number,
  mode: number,
  mtime: Date | undefined,
): Promise<void> {
  const fd = await openRaw(fdPath(parentFd, name), O_PATH | constants.O_NOFOLLOW)
  try {
    const st = await fdStat(fd)
    if (st.isSymbolicLink()) return // swapped under us: leave it alone
    await lchown(fdPath(fd), uid, gid)
    await chmod(fdPath(fd), mode)
    if (mtime) await utimes(fdPath(fd), mtime, mtime)
  } finally {
    await closeFd(fd)
  }
}

/** Makes `rel` (and missing parents, 0755) a directory inside the root; returns its descriptor. */
async function ensureDirInRoot(rootFd: number, rel: string): Promise<number> {
  const fd = tryOpenInRoot(rootFd, rel, { directory: true })
  if (fd !== undefined) return fd
  const comps = rel.split('/').filter((x) => x !== '')
  let cur = '/'
  let curFd = openInRoot(rootFd, '/', { directory: true })
  for (const comp of comps) {
    const next = posix.join(cur, comp)
    let nfd = tryOpenInRoot(rootFd, next, { directory: true })
    if (nfd === undefined) {
      try {
        await mkdir(fdPath(curFd, comp), 0o755)
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err
      }
      nfd = tryOpenInRoot(rootFd, next, { directory: true })
      if (nfd === undefined) {
        await closeFd(curFd)
        throw new InvalidArgument(`cannot make directory ${next}: not a directory`)
      }
    }
    await closeFd(curFd)
    curFd = nfd
    cur = next
  }
  return curFd
}

/** Removes a directory tree below a parent descriptor without following any symlink. */
async function removeTreeAt(parentFd: number, name: string): Promise<void> {
  const fd = await openRaw(
    fdPath(parentFd, name),
    constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
  )
  try {
    for (const child of await readdir(fdPath(fd))) {
      const st = await lstat(fdPath(fd, child), { bigint: true })
      if (st.isDirectory()) await removeTreeAt(fd, child)
      else await unlink(fdPath(fd, child))
    }
  } finally {
    await closeFd(fd)
  }
  await rmdir(fdPath(parentFd, name))
}
