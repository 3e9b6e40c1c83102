// The builder's executor over the engine's own parts: a snapshot is a read-write layer of the
// layer store over the step's parents; a RUN step is a task of the task runner (the runtime and
// the confinement containers get, never a container: no record, no name, not in `ps -a`) in a
// network the network seam prepares; a layer goes in through the one ingest path. Everything a
// step makes lives under <builder dir>/steps/<id> and goes when the step ends, however it ends.
import { randomBytes } from 'node:crypto'
import { appendFile, lstat, mkdir, readFile, readdir, rm, rmdir, utimes } from 'node:fs/promises'
import { join, posix } from 'node:path'
import type { Readable } from 'node:stream'
import type { BlobReader } from '../content/types.ts'
import type { Digest } from '../digest.ts'
import { Internal, NotFound, errnoCode } from '../errors.ts'
import { inUserNamespace } from '../../lib/userns.ts'
import type {
  AdoptedLayerInput,
  IngestedLayer,
  LayerIngest,
  WriteLayerOptions,
} from '../image/types.ts'
import type {
  LayerInfo,
  LayerStore,
  Mount,
  OverlayDirs,
  StepEntry,
  WrittenFile,
} from '../layer/types.ts'
import type { Logger } from '../logger.ts'
import type { NetworkedContainer, NetworkManager } from '../network/types.ts'
import type { User } from '../runtime/types.ts'
import type { TaskRunner } from '../task/types.ts'
import type {
  BuildExecutor,
  LayerRef,
  NetworkMode,
  OutputSink,
  Snapshot,
  StepMount,
  StepProcess,
} from './types.ts'

/** What the executor needs of the layer module beyond the store: reading a step's changes. */
export interface StepDiff {
  /** The upper and lower directories of a read-write layer's mount. */
  dirs(m: Mount): OverlayDirs
  /** The changes as a reproducible layer tar (times clamped to `epoch`); undefined when none. */
  tar(dirs: OverlayDirs, opts: { epoch: number }): Promise<Readable | undefined>
}

/**
 * A step's upper directory made into its layer in place (layer/adopt.ts): the tar is read once,
 * for the diffID and the blob, and the files are not written a second time by an unpack.
 */
export interface StepAdoption {
  /** The step's layer tar, and every entry of the upper directory (layer/diff.ts stepLayer). */
  layer(
    dirs: OverlayDirs,
    opts: { epoch: number; written?: ReadonlyMap<string, WrittenFile> },
  ): Promise<{ tar: Readable; entries: StepEntry[] } | undefined>
  /** Makes the upper directory hold exactly what the tar says; its size (adopt.ts). */
  prepare(upper: string, entries: StepEntry[], epoch: number): Promise<number>
  /** The layer store's adopt: takes the directory as the layer by rename. */
  store(dir: string, info: LayerInfo): Promise<LayerInfo>
  /** The ingest's adoptLayer: the blob from the tar, then the layer, then the blob committed. */
  ingest: { adoptLayer(input: AdoptedLayerInput, opts?: WriteLayerOptions): Promise<IngestedLayer> }
}

export interface TaskExecutorDeps {
  layers: Pick<LayerStore, 'createRW' | 'rootfsMount' | 'removeRW' | 'listRW' | 'has' | 'info'>
  blobs: Pick<BlobReader, 'has'>
  ingest: LayerIngest
  tasks: TaskRunner
  /** The network seam: a step's network is made the way a container's is. */
  networks: NetworkManager
  diff: StepDiff
  /** Without it, a step's layer tar is unpacked into the layer store (a second copy). */
  adoption?: StepAdoption
  /** Performs a mount description (the overlay of a snapshot the builder works in). */
  mount(m: Mount): Promise<void>
  /** Must not fail for a target that is not mounted. */
  unmount(target: string): Promise<void>
  resolveUser(rootfs: string, user: string | undefined): Promise<User>
  /** The builder's own directory: snapshot mount points and step directories live under it. */
  dir: string
  logger: Logger
}

/** An uncompressed layer in Docker's media types, as Docker's own store keeps a built layer. */
const MEDIA_DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar'

/** BuildKit's hostname for a step's sandbox; a step in the host's network keeps the host's. */
const SANDBOX_HOSTNAME = 'buildkitsandbox'

/** Paths the runtime makes in a root that lacks them, as mount points. */
const RUNTIME_PATHS = ['/etc/hosts', '/etc/resolv.conf', '/etc/hostname', '/proc', '/sys', '/dev']

type ResolveUser = (rootfs: string, user: string | undefined) => Promise<User>

/**
 * The user lookup for the task runner that runs build steps: a step gets only the groups
 * /etc/group lists the user in (BuildKit's GetExecUser), not its primary group again as a
 * container does, so `id` in a RUN prints what it prints under BuildKit.
 */
export function stepUserLookup(resolve: ResolveUser): ResolveUser {
  return async (rootfs, user) => {
    const u = await resolve(rootfs, user)
    return { ...u, additionalGids: u.additionalGids.slice(1) }
  }
}

export class TaskExecutor implements BuildExecutor {
  constructor(private readonly deps: TaskExecutorDeps) {}

  private get mntDir(): string {
    return join(this.deps.dir, 'mnt')
  }
  private get stepDir(): string {
    return join(this.deps.dir, 'steps')
  }

  /**
   * Removes what builds cut short by a dying daemon left: mounts, step directories, read-write
   * layers. (Their processes are the runtime's strays, which the containers' reconcile kills.)
   */
  async init(): Promise<void> {
    for (const d of [this.mntDir, this.stepDir]) await mkdir(d, { recursive: true, mode: 0o700 })
    for (const name of await readdir(this.mntDir)) {
      await this.deps.unmount(join(this.mntDir, name))
      await rmdir(join(this.mntDir, name)).catch(() => undefined)
    }
    await rm(this.stepDir, { recursive: true, force: true })
    await mkdir(this.stepDir, { recursive: true, mode: 0o700 })
    for (const id of await this.deps.layers.listRW()) {
      if (id.startsWith('build-')) await this.deps.layers.removeRW(id)
    }
  }

  async snapshot(layers: LayerRef[]): Promise<Snapshot> {
    const { deps } = this
    // Not 64 hex: the containers' reconcile leaves it to the builder.
    const id = `build-${randomBytes(12).toString('hex')}`
    const root = join(this.mntDir, id)
    // Not synced: init() removes every build-* read-write layer a crash leaves.
    await deps.layers.createRW(
      id,
      layers.map((l) => l.diffID),
      { durable: false },
    )
    let m: Mount
    try {
      await mkdir(root, { mode: 0o755 })
      m = volatile(await deps.layers.rootfsMount(id, root))
    } catch (err) {
      await rmdir(root).catch(() => undefined)
      await deps.layers.removeRW(id)
      throw err
    }
    let mounted = false
    let released = false
    let committed = false
    // Runtime records of finished steps, deleted while the layer is read: gone before release.
    const cleanups: Promise<void>[] = []
    // What the builder wrote into the upper directory itself, for commit's read (adoption only).
    const written = deps.adoption ? new Map<string, WrittenFile>() : undefined
    const usable = () => {
      if (committed) throw new Internal('a build snapshot was used after its commit')
    }
    const unmount = async () => {
      if (!mounted) return
      mounted = false
      await deps.unmount(root)
    }
    return {
      root: async () => {
        usable()
        if (!mounted) {
          written?.clear()
          await allowRemount(m)
          await deps.mount(m)
          mounted = true
        }
        return root
      },
      run: async (proc, output, signal) => {
        usable()
        // The task mounts the same layer itself, for as long as its process lives.
        written?.clear()
        await unmount()
        await allowRemount(m)
        return this.runStep(m, proc, output, signal, (done) => cleanups.push(done))
      },
      commit: async ({ epoch, signal }) => {
        usable()
        const { adoption } = deps
        if (adoption) {
          // The upper directory becomes the layer: nothing may mount or write it again.
          await unmount()
          committed = true
          const dirs = deps.diff.dirs(m)
          const step = await adoption.layer(dirs, written ? { epoch, written } : { epoch })
          if (!step) return undefined
          const l = await adoption.ingest.adoptLayer(
            {
              tar: step.tar,
              mediaType: MEDIA_DOCKER_LAYER,
              adopt: async (diffID) => {
                // The tar is read whole: the bytes kept for it are no longer needed.
                written?.clear()
                // A layer the store holds already (a later stage copying what an earlier one
                // made) is not prepared: the store keeps its own and this directory is released.
                const held = await existingLayer(deps.layers, diffID)
                if (held) return held
                const size = await adoption.prepare(dirs.upper, step.entries, epoch)
                return adoption.store(dirs.upper, { diffID, size })
              },
            },
            signal ? { signal } : {},
          )
          return { diffID: l.diffID, blob: l.blob, mediaType: l.mediaType, size: l.blobSize }
        }
        const tar = await deps.diff.tar(deps.diff.dirs(m), { epoch })
        if (!tar) return undefined
        const l = await deps.ingest.writeLayer(
          { tar, mediaType: MEDIA_DOCKER_LAYER },
          signal ? { signal } : {},
        )
        return { diffID: l.diffID, blob: l.blob, mediaType: l.mediaType, size: l.blobSize }
      },
      adopting: deps.adoption !== undefined,
      ...(written ? { written } : {}),
      upper: async () => {
        usable()
        await unmount()
        return deps.diff.dirs(m).upper
      },
      release: async () => {
        if (released) return
        released = true
        written?.clear()
        await Promise.all(cleanups)
        await unmount()
        await rmdir(root).catch(() => undefined)
        await deps.layers.removeRW(id)
      },
    }
  }

  async hasLayer(layer: LayerRef): Promise<boolean> {
    return (await this.deps.layers.has(layer.diffID)) && (await this.deps.blobs.has(layer.blob))
  }

  async userIds(root: string, user: string): Promise<{ uid: number; gid: number }> {
    const u = await this.deps.resolveUser(root, user)
    return { uid: u.uid, gid: u.gid }
  }

  /** One RUN: its network, then the task over the snapshot's layer; its traces removed after. */
  private async runStep(
    rootfs: Mount,
    proc: StepProcess,
    output: OutputSink,
    signal: AbortSignal,
    cleanup: (done: Promise<void>) => void,
  ): Promise<number> {
    signal.throwIfAborted()
    const { deps } = this
    const { id } = proc
    const ws = join(this.stepDir, id.slice(0, 16))
    await mkdir(join(ws, 'bundle'), { recursive: true, mode: 0o700 })
    const net = stepNetwork(id, ws, proc.network, proc.extraHosts)
    let prepared = false
    try {
      const { hostname } = await deps.networks.plan(net)
      await addHosts(join(ws, 'hosts'), proc.extraHosts)
      const network = await deps.networks.prepare(net)
      prepared = true
      let stubs: string[] = []
      const code = await deps.tasks.run(
        {
          id,
          bundle: join(ws, 'bundle'),
          rootfs: [rootfs],
          hostname,
          process: { args: proc.args, env: proc.env, user: proc.user, cwd: proc.cwd },
          mounts: proc.mounts.map(ociMount),
          network,
          io: { logPath: join(ws, 'output.log'), tty: false, openStdin: false, stdinOnce: false },
          inRootfs: async (root) => {
            stubs = await missingPaths(root, [
              ...proc.mounts.map((m) => m.destination),
              ...RUNTIME_PATHS,
            ])
            return {}
          },
        },
        { signal, output: (c) => output(c.stream, c.data), cleanup },
      )
      await removeStubs(deps.diff.dirs(rootfs).upper, stubs)
      return code
    } finally {
      if (prepared) {
        await deps.networks.release(net).catch((err: unknown) => {
          deps.logger.warn('releasing a build step network failed', { id, error: String(err) })
        })
      }
      await deps.networks.remove(net).catch((err: unknown) => {
        deps.logger.warn('removing a build step network failed', { id, error: String(err) })
      })
      await rm(ws, { recursive: true, force: true })
    }
  }
}

/**
 * A snapshot's overlay is mounted `volatile`: its unmount does not sync the whole filesystem
 * under the data root (overlay's umount calls syncfs on the upper one: ~0.1 s each on a busy
 * disk, twice a step), and a step's fsyncs (dpkg's) cost nothing. What a step leaves is read
 * into its layer, whose blob is synced as it is stored; a crash throws the step away (init).
 */
function volatile(m: Mount): Mount {
  return { ...m, options: [...m.options, 'volatile', ...plainUpper()] }
}

/**
 * Overlay features that would leave an upper directory meaningless without its lowers (a renamed
 * directory as a redirect xattr, a chmod'ed file as metadata without its data): off, whatever
 * the kernel's defaults, so the upper directory is the whole of what the step changed, which the
 * layer tar reads and adoption keeps. A mount in a user namespace (rootless berthd) may not name
 * them at all (EPERM); there the kernel never uses either.
 */
function plainUpper(): string[] {
  return inUserNamespace() ? [] : ['redirect_dir=off', 'metacopy=off']
}

/**
 * Overlay refuses to mount a volatile upper again while the mark of the last volatile mount is
 * in its work directory; the builder knows it was unmounted cleanly, so it drops the mark.
 */
async function allowRemount(m: Mount): Promise<void> {
  const work = m.options.find((o) => o.startsWith('workdir='))?.slice('workdir='.length)
  if (work) await rm(join(work, 'work', 'incompat'), { recursive: true, force: true })
}

/** The step as the network seam sees a container: its mode, its --add-host lines, its files. */
function stepNetwork(
  id: string,
  dir: string,
  mode: NetworkMode,
  extraHosts: StepProcess['extraHosts'],
): NetworkedContainer {
  return {
    id,
    name: '',
    hostname: mode === 'host' ? '' : SANDBOX_HOSTNAME,
    domainname: '',
    dir,
    exposedPorts: {},
    hostConfig: {
      NetworkMode: mode,
      ExtraHosts: extraHosts.map((h) => `${h.host}:${h.ip}`),
    },
    endpoints: {},
  }
}

/**
 * `--add-host` lines the network's hosts file lacks. Today's modes write no extra hosts; a
 * manager that does (the bridge) leaves nothing for this to add.
 */
async function addHosts(file: string, extra: StepProcess['extraHosts']): Promise<void> {
  if (extra.length === 0) return
  const have = new Set(
    (await readFile(file, 'utf8').catch(() => ''))
      .split('\n')
      .map((l) => l.trim().split(/\s+/).join('\t')),
  )
  const lines = extra.map((h) => `${h.ip}\t${h.host}`).filter((l) => !have.has(l))
  if (lines.length > 0) await appendFile(file, `${lines.join('\n')}\n`)
}

function ociMount(m: StepMount): Mount {
  if (m.type === 'tmpfs') {
    return {
      type: 'tmpfs',
      source: 'tmpfs',
      destination: m.destination,
      options: ['nosuid', 'nodev', ...(m.size ? [`size=${m.size}`] : [])],
    }
  }
  return {
    type: 'bind',
    source: m.source,
    destination: m.destination,
    options: ['rbind', 'rprivate', m.readOnly ? 'ro' : 'rw'],
  }
}

/** Of the given in-root paths, the first component of each that does not exist yet. */
async function missingPaths(root: string, paths: string[]): Promise<string[]> {
  const out = new Set<string>()
  for (const p of paths) {
    let cur = ''
    for (const part of p.split('/').filter((x) => x !== '')) {
      cur = `${cur}/${part}`
      try {
        await lstat(join(root, cur))
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw err
        out.add(cur)
        break
      }
    }
  }
  return [...out]
}

/**
 * Removes, from a finished step's upper directory, the mount points the runtime made, when they
 * are still empty, and gives their parents back their times, so they are no part of the layer.
 * A stub reached through anything but real directories is left alone: the step may have put a
 * symlink on the way, and nothing here follows one.
 */
async function removeStubs(upper: string, stubs: string[]): Promise<void> {
  for (const stub of [...stubs].sort((a, b) => b.length - a.length)) {
    const parts = stub.split('/').filter((x) => x !== '')
    let parent = upper
    let safe = true
    for (const part of parts.slice(0, -1)) {
      parent = join(parent, part)
      const st = await lstat(parent).catch(() => undefined)
      if (!st?.isDirectory()) {
        safe = false
        break
      }
    }
    if (!safe) continue
    const pst = await lstat(parent).catch(() => undefined)
    if ((await removeIfEmpty(join(parent, parts[parts.length - 1]!))) && pst) {
      await utimes(parent, pst.atime, pst.mtime)
    }
  }
}

/** Removes an empty file, or a tree of directories and empty files; false when it holds more. */
async function removeIfEmpty(p: string): Promise<boolean> {
  const st = await lstat(p).catch(() => undefined)
  if (!st) return true
  if (st.isDirectory()) {
    for (const n of await readdir(p)) if (!(await removeIfEmpty(posix.join(p, n)))) return false
    await rmdir(p)
    return true
  }
  if (st.isFile() && st.size === 0) {
    await rm(p)
    return true
  }
  return false
}

/** The store's record of a layer, or undefined where it has none (also one removed just now). */
async function existingLayer(
  layers: Pick<LayerStore, 'has' | 'info'>,
  diffID: Digest,
): Promise<LayerInfo | undefined> {
  if (!(await layers.has(diffID))) return undefined
  try {
    return await layers.info(diffID)
  } catch (err) {
    if (err instanceof NotFound) return undefined
    throw err
  }
}
