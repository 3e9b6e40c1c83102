// A container's files: diff, export, the archive endpoints behind `docker cp`, and what commit
// (image/commit.ts) needs of the container. Everything that touches the container's root goes
// through descriptors and openat2 (RESOLVE_IN_ROOT), so no symlink or `..` inside the container
// reaches the host.
import { constants, type BigIntStats } from 'node:fs'
import { lstat, open } from 'node:fs/promises'
import { posix } from 'node:path'
import { Readable } from 'node:stream'
import { InvalidArgument, errnoCode } from '../errors.ts'
import { containerAttributes } from '../events/types.ts'
import { resolveInRoot } from '../fsroot.ts'
import type { ImageCommit, ImageRunConfig } from '../image/types.ts'
import type { Change, LayerDiffer, LayerStore, Mount } from '../layer/types.ts'
import { closeFd, fdPath, fdStat, openDir, openRaw, tryOpenInRoot } from '../sys/fsat.ts'
import { END_OF_ARCHIVE, TarEntries } from '../tar/write.ts'
import { walkFd } from '../tar/walk.ts'
import { mergeImageConfig } from './config.ts'
import { openCpView, type CpView } from './cpview.ts'
import { goBase, goFileMode, notFoundIn, rfc3339 } from './pathstat.ts'
import { extractInRoot } from './extract.ts'
import type {
  CommitOptions,
  Container,
  ContainerConfig,
  ContainerFilesApi,
  LayerDirs,
  MountPoint,
  PathStat,
  PutArchiveOptions,
} from './types.ts'

export interface FilesDeps {
  containers: { get(ref: string): Promise<Container> }
  containerDir(id: string): string
  /** Runs fn while no other operation (start, exit handling) runs on the container. */
  locked<T>(id: string, fn: () => Promise<T>): Promise<T>
  layers: Pick<LayerStore, 'rootfsMount'>
  /** The container's read-write layer against its image's: diff, and commit's layer. */
  differ: LayerDiffer
  /** The image side of commit (image/commit.ts), which reports pause, unpause, tag and commit. */
  commits: ImageCommit
  mount(m: Mount): Promise<void>
  unmount(target: string): Promise<void>
  resolveUser?(rootfs: string, user: string): Promise<{ uid: number; gid: number }>
  /** Told of changes made to a container's layer here, and of commits (unsaved.ts). */
  changes?: {
    changing(id: string): Promise<void>
    settled(c: Container): void
    committed(id: string, image: string, at: number): Promise<void>
  }
}

/** The files a container's network gives it at /etc (network/types.ts ETC_FILES). */
const NETWORK_ETC_FILES = ['hostname', 'hosts', 'resolv.conf']

/**
 * /etc/hostname, hosts and resolv.conf as `docker cp` sees them (moby's NetworkMounts): the
 * files the network wrote in the container's directory once it has run, else empty ones, as
 * Docker's init layer leaves in a container that never started. A mount of the user's own at
 * the same path wins.
 */
async function etcMountPoints(dir: string, user: MountPoint[]): Promise<MountPoint[]> {
  const taken = new Set(user.map((m) => posix.normalize(m.Destination)))
  const out: MountPoint[] = []
  for (const f of NETWORK_ETC_FILES) {
    if (taken.has(`/etc/${f}`)) continue
    let source = `${dir}/${f}`
    if (!(await exists(source))) {
      source = `${dir}/cp-empty`
      await (await open(source, 'a')).close()
    }
    out.push({
      Type: 'bind',
      Source: source,
      Destination: `/etc/${f}`,
      Mode: '',
      RW: true,
      Propagation: 'rprivate',
    })
  }
  return out
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false
    throw err
  }
}

export class ContainerFiles implements ContainerFilesApi {
  constructor(private readonly deps: FilesDeps) {}

  async changes(ref: string): Promise<Change[]> {
    const c = await this.deps.containers.get(ref)
    return this.deps.differ.changes(c.id)
  }

  async layerDirs(ref: string): Promise<LayerDirs> {
    const c = await this.deps.containers.get(ref)
    const dirs = await this.deps.differ.overlayDirs(c.id)
    return { ...dirs, merged: posix.join(this.deps.containerDir(c.id), 'rootfs') }
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
            const dir = this.deps.containerDir(c.id)
            const user = fresh.mountPoints ?? []
            view = await openCpView(root, `${dir}/cpview`, [
              ...user,
              ...(await etcMountPoints(dir, user)),
            ])
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
        mtime: rfc3339(st.mtimeNs),
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
    // What the container holds is about to change: remembered before it does.
    await this.deps.changes?.changing(c.id)
    try {
      await this.putArchiveIn(c, ref, path, body, opts)
    } finally {
      this.deps.changes?.settled(c)
    }
  }

  private async putArchiveIn(
    c: Container,
    ref: string,
    path: string,
    body: Readable,
    opts: PutArchiveOptions,
  ): Promise<void> {
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
    const { commits, differ } = this.deps
    const changed = commits.applyChanges(
      (opts.config && Object.keys(opts.config).length > 0
        ? opts.config
        : c.config) as ImageRunConfig,
      opts.changes,
    )
    const config = mergeImageConfig(
      { ...(changed as ContainerConfig), Image: c.config.Image },
      c.config as ImageRunConfig,
    )
    let diffStarted = 0
    const image = await commits.commit({
      container: {
        id: c.id,
        image: c.image,
        config: c.config as ImageRunConfig,
        eventAttributes: containerAttributes(c),
      },
      config: config as ImageRunConfig,
      diff: () => {
        // Changes made after this moment are not in the image (the container is paused now
        // unless asked not to be).
        diffStarted = Date.now()
        return differ.diff(c.id)
      },
      pause: opts.pause && c.state.Running && !c.state.Paused,
      ...(opts.repo ? { repo: opts.repo } : {}),
      ...(opts.tag ? { tag: opts.tag } : {}),
      ...(opts.author ? { author: opts.author } : {}),
      ...(opts.comment ? { comment: opts.comment } : {}),
    })
    await this.deps.changes?.committed(c.id, image.id, diffStarted)
    return { Id: image.id }
  }
}
