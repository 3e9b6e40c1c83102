// Test helpers for the builder: a real engine's stores in a temp data root with busybox imported,
// a builder over them, context tars from directories, and image file listings. Not used by the
// daemon.
import { execFile } from 'node:child_process'
import { createReadStream, rmSync } from 'node:fs'
import { createHash } from 'node:crypto'
import {
  chmod,
  cp,
  lstat,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  symlink,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import tar from 'tar-stream'
import { LocalBlobStore } from '../content/local.ts'
import { LocalImageStore } from '../image/local.ts'
import { LocalLayerStore } from '../layer/local.ts'
import { mountOverlay, unmount } from '../layer/mount.ts'
import { Builder } from './build.ts'
import { BuildCache } from './cache.ts'
import { ContextStore } from './context-store.ts'
import { TaskExecutor, stepUserLookup } from './executor.ts'
import { buildImagesOver } from './images.ts'
import { rootProfile } from '../host/profile.ts'
import { overlayDirs, stepDiffTar, stepLayer } from '../layer/diff.ts'
import { prepareUpper } from '../layer/adopt.ts'
import type { LayerInfo } from '../layer/types.ts'
import { LayerIngester } from '../image/ingest.ts'
import { nullLogger } from '../logger.ts'
import { LocalNetworks } from '../network/modes.ts'
import { ConmonRuntime } from '../runtime/conmon.ts'
import { hostFacts } from '../runtime/host.ts'
import { ociSpec } from '../runtime/spec.ts'
import { resolveUser } from '../runtime/user.ts'
import { LocalTaskRunner } from '../task/runner.ts'
import type { TaskRunner } from '../task/types.ts'
import type { FileEntry } from './testdata/corpus.ts'
import type { BuildEvent, BuildOptions, BuildResult, ImagePuller, LayerRef } from './types.ts'

const run = promisify(execFile)
const REPO = new URL('../../../', import.meta.url).pathname

let busyboxTar: Promise<string> | undefined

/** The busybox root filesystem tar the repository's script makes (once per process). */
export function busybox(): Promise<string> {
  busyboxTar ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bb-busybox-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    const out = join(dir, 'busybox.tar')
    await run(join(REPO, 'scripts/make-busybox-rootfs.sh'), [out])
    return out
  })()
  return busyboxTar
}

export interface TestEngine {
  dir: string
  images: LocalImageStore
  layers: LocalLayerStore
  blobs: LocalBlobStore
  executor: TaskExecutor
  builder: Builder
  runtime: ConmonRuntime
  /** How many processes the task runner has run for builds (RUN steps). */
  taskRuns(): number
  build(
    context: Readable,
    opts?: Partial<BuildOptions>,
  ): Promise<{ result: BuildResult; events: BuildEvent[] }>
  close(): Promise<void>
}

/**
 * Stores in a fresh data root, busybox:latest imported (or, to have the very same image, loaded
 * from another engine's), a builder over them.
 */
export async function testEngine(
  opts: {
    baseFrom?: TestEngine
    puller?: ImagePuller
    /** false: a step's layer tar is unpacked again rather than its upper directory adopted. */
    adoption?: boolean
  } = {},
): Promise<TestEngine> {
  const dir = await mkdtemp(join(tmpdir(), 'bb-engine-'))
  const blobs = new LocalBlobStore(join(dir, 'content'))
  const layers = new LocalLayerStore(join(dir, 'layers'))
  const images: LocalImageStore = new LocalImageStore({
    dir: join(dir, 'images'),
    blobs,
    layers,
    usage: { containersUsing: async () => [] },
    roots: [{ held: () => builder.held() }],
  })
  await blobs.init()
  await layers.init()
  await images.init()
  if (opts.baseFrom) await images.load(await opts.baseFrom.images.save(['busybox:latest'], {}), {})
  else {
    await images.importRootfs(createReadStream(await busybox()), {
      changes: [],
      tag: 'busybox:latest',
    })
  }
  const host = rootProfile(dir, await hostFacts())
  const runtime = new ConmonRuntime({ stateDir: host.runtimeDir })
  const runner = new LocalTaskRunner({
    runtime,
    host,
    spec: ociSpec,
    mount: async (m) => mountOverlay(m),
    unmount: async (t) => unmount(t, { detach: true }),
    resolveUser: stepUserLookup(resolveUser),
    logger: nullLogger,
  })
  let runs = 0
  const tasks: TaskRunner = Object.assign(Object.create(runner) as TaskRunner, {
    run: (...a: Parameters<TaskRunner['run']>) => {
      runs++
      return runner.run(...a)
    },
  })
  const executor = new TaskExecutor({
    layers,
    blobs,
    ingest: images.ingest,
    tasks,
    networks: new LocalNetworks({
      peers: {
        peer: () => {
          throw new Error('no containers here')
        },
      },
    }),
    diff: { dirs: overlayDirs, tar: stepDiffTar },
    ...(opts.adoption === false
      ? {}
      : {
          adoption: {
            layer: stepLayer,
            prepare: prepareUpper,
            store: (d: string, info: LayerInfo) => layers.adopt(d, info),
            ingest: new LayerIngester({ blobs, layers }),
          },
        }),
    mount: async (m) => mountOverlay(m),
    unmount: async (t) => unmount(t, { detach: true }),
    resolveUser,
    dir: join(dir, 'builder'),
    logger: nullLogger,
  })
  await executor.init()
  const builder: Builder = new Builder({
    executor,
    images: buildImagesOver(images),
    cache: new BuildCache(join(dir, 'builder', 'cache')),
    tmpDir: join(dir, 'builder', 'tmp'),
    imageLayers: async () =>
      new Set((await images.list()).flatMap((i) => i.layers.map((l) => l.diffID))),
    content: images,
    contexts: new ContextStore(join(dir, 'builder', 'contexts')),
    ...(opts.puller ? { puller: opts.puller } : {}),
  })
  await builder.init()
  return {
    dir,
    images,
    layers,
    blobs,
    executor,
    builder,
    runtime,
    taskRuns: () => runs,
    async build(context, opts = {}) {
      const events: BuildEvent[] = []
      const result = await builder.build(
        context,
        {
          tags: [],
          buildArgs: {},
          labels: {},
          noCache: false,
          pull: false,
          network: 'none',
          extraHosts: [],
          ...opts,
        },
        (e) => events.push(e),
      )
      return { result, events }
    },
    async close() {
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A context tar of a directory, as a client sends it (files, dirs and symlinks; modes kept). */
export async function tarDir(dir: string): Promise<Readable> {
  const pack = tar.pack()
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`
      const p = join(dir, r)
      const st = await lstat(p)
      const header = { name: r, mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 }
      if (st.isDirectory()) {
        pack.entry({ ...header, type: 'directory' })
        await walk(r)
      } else if (st.isSymbolicLink()) {
        pack.entry({ ...header, type: 'symlink', linkname: await readlink(p) })
      } else if (st.isFile()) {
        pack.entry({ ...header, type: 'file' }, await readFile(p))
      }
    }
  }
  await walk('')
  pack.finalize()
  return Readable.from(pack)
}

/** A copy of a corpus case's context with its modes set (git keeps only the x bit). */
export async function caseContext(
  contextDir: string,
  modes: Record<string, string> = {},
  symlinks: Record<string, string> = {},
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bb-case-'))
  await cp(contextDir, dir, { recursive: true, verbatimSymlinks: true })
  for (const [p, t] of Object.entries(symlinks)) await symlink(t, join(dir, p))
  for (const [p, m] of Object.entries(modes)) await chmod(join(dir, p), Number.parseInt(m, 8))
  return dir
}

/** Every path of a root filesystem as the corpus records it (no times). */
export async function listRoot(root: string): Promise<Map<string, FileEntry>> {
  const out = new Map<string, FileEntry>()
  const walk = async (rel: string): Promise<void> => {
    for (const name of await readdir(join(root, rel))) {
      const r = `${rel}/${name}`
      const p = join(root, r)
      const st = await lstat(p)
      const e: FileEntry = {
        path: r,
        type: st.isDirectory()
          ? 'dir'
          : st.isSymbolicLink()
            ? 'symlink'
            : st.isFile()
              ? 'file'
              : 'other',
        mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
        uid: st.uid,
        gid: st.gid,
      }
      if (st.isFile()) {
        const body = await readFile(p)
        e.size = body.length
        e.sha256 = createHash('sha256').update(body).digest('hex')
      }
      if (st.isSymbolicLink()) e.link = await readlink(p)
      out.set(r, e)
      if (st.isDirectory()) await walk(r)
    }
  }
  await walk('')
  return out
}

/** The files of an image's layers. */
export async function listImage(
  engine: TestEngine,
  layers: LayerRef[],
): Promise<Map<string, FileEntry>> {
  const snap = await engine.executor.snapshot(layers)
  try {
    return await listRoot(await snap.root())
  } finally {
    await snap.release()
  }
}

// Paths a container runtime makes in every root, which are no part of an image: the oracle's
// listings come from `docker export` of a container and may hold them, berth's never do.
const RUNTIME = new Set([
  '/.dockerenv',
  '/etc/hostname',
  '/etc/hosts',
  '/etc/resolv.conf',
  '/dev',
  '/proc',
  '/sys',
  '/etc',
])

/** Drops runtime paths and what is compared only loosely (content kept only as sha256). */
export function normalizeListing(files: FileEntry[]): FileEntry[] {
  return files
    .filter((f) => !RUNTIME.has(f.path) && !/^\/(dev|proc|sys)\//.test(f.path))
    .map(({ content: _c, ...f }) =>
      f.type === 'deleted' ? { path: f.path, type: 'deleted', mode: '', uid: 0, gid: 0 } : f,
    )
}

/** Files that differ from the base's, sorted, with deletions (the recorder's rule). */
export function changedFiles(
  base: Map<string, FileEntry>,
  img: Map<string, FileEntry>,
): FileEntry[] {
  const out: FileEntry[] = []
  for (const [p, e] of img) {
    const b = base.get(p)
    if (b && JSON.stringify(b) === JSON.stringify(e)) continue
    out.push(e)
  }
  for (const p of base.keys())
    if (!img.has(p)) out.push({ path: p, type: 'deleted', mode: '', uid: 0, gid: 0 })
  return normalizeListing(out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)))
}
