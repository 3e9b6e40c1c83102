// A BuildExecutor over today's layer store, content store, image store and runc: a snapshot is a
// read-write layer mounted with overlayfs; a step runs with `runc run` and the OCI spec containers
// get (Docker's confinement), in its own network namespace unless the step asks for the host's;
// a layer goes to the content store and the layer store at once. This adapter is the only part of
// the builder that knows these modules; it is replaced by the engine's task runner and its one
// ingest path when those land.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { lstat, mkdir, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { BlobStore } from '../content/types.ts'
import type { Digest } from '../digest.ts'
import { Internal, NotFound, errnoCode } from '../errors.ts'
import type { ImageStore, LayerDescriptor } from '../image/types.ts'
import { overlayDirs, type OverlayDirs } from '../layer/diff.ts'
import { END_OF_ARCHIVE, TarEntries, encodeHeader } from '../layer/tarwrite.ts'
import type { LayerStore, Mount } from '../layer/types.ts'
import { walkTree, type WalkItem } from '../layer/walk.ts'
import { lgetxattr } from '../sys/libc.ts'
import { ociSpec } from '../runtime/spec.ts'
import { resolveUser } from '../runtime/user.ts'
import type {
  BaseImage,
  BuildExecutor,
  BuildImages,
  LayerRef,
  OutputSink,
  Snapshot,
  StepProcess,
} from './types.ts'

const LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar'
const S_IFMT = 0o170000n
const S_IFCHR = 0o020000n

export interface LocalExecutorDeps {
  layers: LayerStore
  blobs: BlobStore
  /** The builder's own directory: snapshot mount points and task bundles live under it. */
  dir: string
  mount(m: Mount): void
  unmount(target: string): void
  runc?: string
}

function toRef(l: LayerDescriptor): LayerRef {
  return { diffID: l.diffID, blob: l.blob, mediaType: l.mediaType, size: l.blobSize }
}

/** The image store seen as the builder needs it. */
export function buildImagesOver(images: ImageStore): BuildImages {
  return {
    async find(ref: string): Promise<BaseImage | undefined> {
      try {
        const img = await images.resolve(ref)
        return { id: img.id, config: img.config, layers: img.layers.map(toRef) }
      } catch (err) {
        if (err instanceof NotFound) return undefined
        throw err
      }
    },
    async create(config, layers, tags) {
      const img = await images.create({
        config,
        layers: layers.map((l) => ({
          diffID: l.diffID,
          blob: l.blob,
          mediaType: l.mediaType,
          blobSize: l.size,
        })),
        tags,
      })
      return img.id
    },
  }
}

function isWhiteout(st: WalkItem['st']): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0n
}

function isOpaque(path: string): boolean {
  try {
    const v = lgetxattr(path, 'trusted.overlay.opaque')
    return v !== undefined && v.length === 1 && v[0] === 0x79
  } catch {
    return false
  }
}

/** A stat with its modification time clamped (what the layer records). */
function clamped(st: WalkItem['st'], epochMs: bigint): WalkItem['st'] {
  if (st.mtimeMs <= epochMs) return st
  return Object.create(st, { mtimeMs: { value: epochMs } }) as WalkItem['st']
}

interface Pending {
  item: WalkItem
  /** Emit even with nothing changed below (new, or its metadata differs from below). */
  own: boolean
  opaque: boolean
  whiteout: boolean
}

/** The lower layers' view of a path: its lstat in the topmost lower that has it. */
async function lowerStat(lowers: string[], rel: string): Promise<WalkItem['st'] | undefined> {
  for (const l of lowers) {
    try {
      return await lstat(join(l, rel), { bigint: true })
    } catch (err) {
      const c = errnoCode(err)
      if (c !== 'ENOENT' && c !== 'ENOTDIR') throw err
    }
  }
  return undefined
}

/**
 * The entries of the upper directory a layer must hold, in byte order: every file, link and
 * whiteout; a directory only when it is new, its metadata changed, it is opaque, or something
 * below it is kept (overlayfs copies directories up when only a stub mount point came and went).
 */
async function layerEntries(dirs: OverlayDirs): Promise<Pending[]> {
  const out: Pending[] = []
  const stack: { index: number; rel: string }[] = []
  const keep = (upTo: string) => {
    for (const s of stack) if (upTo.startsWith(`${s.rel}/`)) out[s.index]!.own = true
  }
  for await (const walked of walkTree(dirs.upper)) {
    // Entries are written after the walk, when its descriptors are closed; nothing else writes
    // to a finished step's upper directory, so its plain path is safe.
    const item: WalkItem = { ...walked, path: join(dirs.upper, walked.rel) }
    while (stack.length > 0 && !item.rel.startsWith(`${stack[stack.length - 1]!.rel}/`)) stack.pop()
    if (item.st.isDirectory()) {
      const opaque = isOpaque(item.path)
      const low = await lowerStat(dirs.lowers, item.rel)
      const same =
        low !== undefined &&
        low.isDirectory() &&
        low.mode === item.st.mode &&
        low.uid === item.st.uid &&
        low.gid === item.st.gid &&
        low.mtimeMs / 1000n === item.st.mtimeMs / 1000n
      out.push({ item, own: !same || opaque, opaque, whiteout: false })
      if (!same || opaque) keep(item.rel)
      stack.push({ index: out.length - 1, rel: item.rel })
      continue
    }
    out.push({ item, own: true, opaque: false, whiteout: isWhiteout(item.st) })
    keep(item.rel)
  }
  return out.filter((p) => p.own)
}

async function* layerBlocks(entries: Pending[], epoch: number): AsyncGenerator<Buffer> {
  const tar = new TarEntries()
  const epochMs = BigInt(epoch) * 1000n
  for (const { item, opaque, whiteout } of entries) {
    const name = item.rel.slice(1)
    const st = clamped(item.st, epochMs)
    const mtime = Number(st.mtimeMs / 1000n)
    if (whiteout) {
      const slash = name.lastIndexOf('/')
      yield encodeHeader({
        name: `${name.slice(0, slash + 1)}.wh.${name.slice(slash + 1)}`,
        type: '0',
        mode: 0o600,
        uid: 0,
        gid: 0,
        size: 0,
        mtime,
      })
      continue
    }
    yield* tar.entry(item.path, name, st)
    if (opaque) {
      yield encodeHeader({
        name: `${name}/.wh..wh..opq`,
        type: '0',
        mode: 0o600,
        uid: 0,
        gid: 0,
        size: 0,
        mtime,
      })
    }
  }
  yield END_OF_ARCHIVE
}

export class LocalBuildExecutor implements BuildExecutor {
  private readonly runc: string

  constructor(private readonly deps: LocalExecutorDeps) {
    this.runc = deps.runc ?? 'runc'
  }

  private get mntDir(): string {
    return join(this.deps.dir, 'mnt')
  }
  private get taskDir(): string {
    return join(this.deps.dir, 'tasks')
  }
  private get runcRoot(): string {
    return join(this.deps.dir, 'runc')
  }

  /** Removes what a build killed with the daemon left: mounts, snapshots, task bundles. */
  async init(): Promise<void> {
    for (const d of [this.mntDir, this.taskDir, this.runcRoot])
      await mkdir(d, { recursive: true, mode: 0o700 })
    for (const name of await readdir(this.mntDir)) {
      this.deps.unmount(join(this.mntDir, name))
      await rmdir(join(this.mntDir, name)).catch(() => undefined)
    }
    for (const id of await this.deps.layers.listRW()) {
      if (id.startsWith('build-')) await this.deps.layers.removeRW(id)
    }
    for (const id of await readdir(this.taskDir)) {
      await this.runcCmd(['delete', '--force', id])
      await rm(join(this.taskDir, id), { recursive: true, force: true })
    }
  }

  async snapshot(layers: LayerRef[]): Promise<Snapshot> {
    const id = `build-${randomBytes(12).toString('hex')}`
    await this.deps.layers.createRW(
      id,
      layers.map((l) => l.diffID),
    )
    const root = join(this.mntDir, id)
    let m: Mount
    try {
      await mkdir(root, { recursive: true, mode: 0o755 })
      m = await this.deps.layers.rootfsMount(id, root)
      this.deps.mount(m)
    } catch (err) {
      await rmdir(root).catch(() => undefined)
      await this.deps.layers.removeRW(id)
      throw err
    }
    let released = false
    return {
      root,
      commit: async ({ epoch, signal }) => {
        const entries = await layerEntries(overlayDirs(m))
        if (entries.length === 0) return undefined
        return this.writeLayer(Readable.from(layerBlocks(entries, epoch)), signal)
      },
      release: async () => {
        if (released) return
        released = true
        this.deps.unmount(root)
        await rmdir(root).catch(() => undefined)
        await this.deps.layers.removeRW(id)
      },
    }
  }

  async writeLayer(tar: Readable, signal?: AbortSignal): Promise<LayerRef> {
    const { blobs, layers } = this.deps
    const writer = await blobs.ingest()
    try {
      const toBlob = new PassThrough({ highWaterMark: 256 * 1024 })
      const toLayer = new PassThrough({ highWaterMark: 256 * 1024 })
      const feeding = (async () => {
        try {
          for await (const chunk of tar) {
            if (signal?.aborted) throw signal.reason ?? new Error('aborted')
            const waits: Promise<unknown>[] = []
            if (!toBlob.write(chunk)) waits.push(once(toBlob, 'drain'))
            if (!toLayer.write(chunk)) waits.push(once(toLayer, 'drain'))
            await Promise.all(waits)
          }
          toBlob.end()
          toLayer.end()
        } catch (err) {
          toBlob.destroy(err as Error)
          toLayer.destroy(err as Error)
          throw err
        }
      })()
      const [fed, written, unpacked] = await Promise.allSettled([
        feeding,
        pipeline(toBlob, writer),
        layers.unpack(toLayer),
      ])
      for (const s of [fed, written, unpacked]) if (s.status === 'rejected') throw s.reason
      const diffID = (unpacked as PromiseFulfilledResult<{ diffID: Digest }>).value.diffID
      const blob = await writer.commit()
      if (blob.digest !== diffID)
        throw new Internal(`layer digest mismatch: ${blob.digest} != ${diffID}`)
      return { diffID, blob: blob.digest, mediaType: LAYER_MEDIA_TYPE, size: blob.size }
    } catch (err) {
      await writer.abort()
      throw err
    }
  }

  async userIds(root: string, user: string): Promise<{ uid: number; gid: number }> {
    const u = await resolveUser(root, user)
    return { uid: u.uid, gid: u.gid }
  }

  async hasLayer(layer: LayerRef): Promise<boolean> {
    return (await this.deps.layers.has(layer.diffID)) && (await this.deps.blobs.has(layer.blob))
  }

  private runcCmd(args: string[]): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(this.runc, ['--root', this.runcRoot, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
      child.on('error', (err) => resolve({ code: -1, stderr: err.message }))
      child.on('close', (code) => resolve({ code: code ?? -1, stderr }))
    })
  }

  async run(
    root: string,
    id: string,
    proc: StepProcess,
    output: OutputSink,
    signal: AbortSignal,
  ): Promise<number> {
    if (signal.aborted) throw signal.reason ?? new Error('aborted')
    const bundle = join(this.taskDir, id)
    await mkdir(bundle, { recursive: true, mode: 0o700 })
    try {
      const user = await resolveUser(root, proc.user || undefined)
      const env = [...proc.env]
      if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`)
      const hosts =
        [
          '127.0.0.1\tlocalhost',
          '::1\tlocalhost ip6-localhost ip6-loopback',
          ...proc.extraHosts.map((h) => `${h.ip}\t${h.host}`),
        ].join('\n') + '\n'
      await writeFile(join(bundle, 'hosts'), hosts)
      await writeFile(join(bundle, 'hostname'), 'buildkitsandbox\n')
      const resolv = await readFile('/etc/resolv.conf').catch(() => Buffer.from(''))
      await writeFile(join(bundle, 'resolv.conf'), resolv)
      const bind = (source: string, destination: string, ro: boolean) => ({
        type: 'bind',
        source,
        destination,
        options: ['rbind', 'rprivate', ro ? 'ro' : 'rw'],
      })
      const mounts = [
        bind(join(bundle, 'hosts'), '/etc/hosts', false),
        bind(join(bundle, 'hostname'), '/etc/hostname', false),
        bind(join(bundle, 'resolv.conf'), '/etc/resolv.conf', false),
        ...proc.mounts.map((m) =>
          m.type === 'tmpfs'
            ? {
                type: 'tmpfs',
                source: 'tmpfs',
                destination: m.destination,
                options: ['nosuid', 'nodev', ...(m.size ? [`size=${m.size}`] : [])],
              }
            : bind(m.source, m.destination, m.readOnly),
        ),
      ]
      const spec = ociSpec({
        id,
        rootfs: root,
        readonlyRootfs: false,
        hostname: 'buildkitsandbox',
        process: {
          args: proc.args,
          env,
          cwd: proc.cwd,
          // A build step gets only the groups /etc/group gives the user (BuildKit's GetExecUser),
          // not the primary group again, as `docker run` adds.
          user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids.slice(1) },
          terminal: false,
        },
        mounts,
        hostNetwork: proc.network === 'host',
      })
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec))
      const child = spawn(this.runc, ['--root', this.runcRoot, 'run', '--bundle', bundle, id], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      child.stdout.on('data', (b: Buffer) => output('stdout', b))
      child.stderr.on('data', (b: Buffer) => output('stderr', b))
      // The abort can come before runc has made the container, when a kill finds nothing: keep
      // killing until runc run itself is gone (only on this cancel path, never while building).
      let closed = false
      child.once('close', () => (closed = true))
      const onAbort = () => {
        void (async () => {
          while (!closed) {
            await this.runcCmd(['kill', '--all', id, 'KILL'])
            if (!closed) await new Promise((r) => setTimeout(r, 100))
          }
        })()
      }
      signal.addEventListener('abort', onAbort, { once: true })
      if (signal.aborted) onAbort()
      try {
        const [code, sig] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null]
        if (signal.aborted) throw signal.reason ?? new Error('aborted')
        if (code === null) throw new Internal(`runc was killed by ${sig ?? 'a signal'}`)
        return code
      } finally {
        signal.removeEventListener('abort', onAbort)
        await this.runcCmd(['delete', '--force', id])
      }
    } finally {
      await rm(bundle, { recursive: true, force: true })
    }
  }
}
