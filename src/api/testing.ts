// Test helpers for the API layer: an in-memory engine and a server on a temp socket.
import http from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { sha256, type Digest } from '../engine/digest.ts'
import type { Engine, EngineCounts } from '../engine/engine.ts'
import { Conflict, NotFound } from '../engine/errors.ts'
import type {
  DeleteResponseItem,
  Image,
  ImageConfig,
  ImageStore,
  LayerDescriptor,
  LayerIngest,
  NewImageInput,
  ProgressSink,
} from '../engine/image/types.ts'
import { FakeContainers } from '../engine/container/fake.ts'
import { FakeExecs } from '../engine/container/fake-exec.ts'
import { FakeFiles } from '../engine/container/fake-files.ts'
import { FakeLifecycle } from '../engine/container/fake-lifecycle.ts'
import { ImageCommitter } from '../engine/image/commit.ts'
import { FakeEvents } from '../engine/events/fake.ts'
import type { SystemApi, SystemInfo } from '../engine/system/types.ts'
import { FakeVolumeStore } from '../engine/volume/fake.ts'
import { createLogger } from '../daemon/log.ts'
import type { Logger } from '../engine/logger.ts'
import { createApiServer, type RouteSet } from './server.ts'

export interface FakeImageInit {
  name: string
  tags?: string[]
  digests?: string[]
  created?: string
  labels?: Record<string, string>
  parent?: Digest
  layers?: number
  size?: number
  cmd?: string[]
  history?: ImageConfig['history']
}

export function fakeImage(init: FakeImageInit): Image {
  const layers: LayerDescriptor[] = []
  for (let i = 0; i < (init.layers ?? 1); i++) {
    layers.push({
      diffID: sha256(`${init.name}-diff-${i}`),
      blob: sha256(`${init.name}-blob-${i}`),
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      blobSize: 1000 * (i + 1),
    })
  }
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    created: init.created ?? '2024-01-01T00:00:00Z',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: init.cmd ?? ['sh'],
      ...(init.labels ? { Labels: init.labels } : {}),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history:
      init.history ?? layers.map((_, i) => ({ created: init.created, created_by: `step ${i}` })),
  }
  return {
    id: sha256(JSON.stringify(config) + init.name),
    config,
    layers,
    repoTags: init.tags ?? [],
    repoDigests: init.digests ?? [],
    size: init.size ?? 4_261_574,
    addedAt: '2024-02-01T00:00:00Z',
    parent: init.parent,
  }
}

/** An in-memory ImageStore with just enough behaviour for route tests. */
export class FakeImageStore implements ImageStore {
  readonly images = new Map<Digest, Image>()
  readonly calls: { method: string; args: unknown[] }[] = []
  loadResult: string[] = ['busybox:latest']
  loadError: Error | undefined
  saveBytes: Buffer = Buffer.from('fake tar bytes')
  imported: { data: Buffer; opts: unknown } | undefined

  constructor(images: Image[] = []) {
    for (const i of images) this.images.set(i.id, i)
  }

  async resolve(ref: string): Promise<Image> {
    for (const img of this.images.values()) {
      const short = ref.startsWith('sha256:') ? ref.slice(7) : ref
      if (img.id === ref || (short.length >= 4 && img.id.slice(7).startsWith(short))) return img
      const withTag =
        ref.includes(':') && ref.lastIndexOf(':') > ref.lastIndexOf('/') ? ref : `${ref}:latest`
      if (img.repoTags.includes(withTag) || img.repoDigests.includes(ref)) return img
    }
    throw new NotFound(`No such image: ${ref}`)
  }
  async list(): Promise<Image[]> {
    return [...this.images.values()]
  }
  async get(id: Digest): Promise<Image | undefined> {
    return this.images.get(id)
  }
  async create(input: NewImageInput): Promise<Image> {
    const id = sha256(JSON.stringify(input.config))
    for (const t of input.tags ?? []) {
      for (const other of this.images.values())
        other.repoTags = other.repoTags.filter((x) => x !== t)
    }
    const image: Image = {
      id,
      config: input.config,
      layers: input.layers,
      repoTags: [...(this.images.get(id)?.repoTags ?? []), ...(input.tags ?? [])],
      repoDigests: input.repoDigests ?? [],
      size: 0,
      addedAt: new Date().toISOString(),
      parent: input.parent,
    }
    this.images.set(id, image)
    return image
  }
  async tag(source: string, target: string): Promise<void> {
    this.calls.push({ method: 'tag', args: [source, target] })
    const img = await this.resolve(source)
    const t = target.lastIndexOf(':') > target.lastIndexOf('/') ? target : `${target}:latest`
    for (const other of this.images.values()) other.repoTags = other.repoTags.filter((x) => x !== t)
    img.repoTags.push(t)
  }
  async remove(
    ref: string,
    opts: { force: boolean; noPrune: boolean },
  ): Promise<DeleteResponseItem[]> {
    this.calls.push({ method: 'remove', args: [ref, opts] })
    const img = await this.resolve(ref)
    if (
      img.repoTags.length > 1 &&
      !opts.force &&
      !ref.startsWith('sha256:') &&
      img.id.indexOf(ref) < 0
    ) {
      const t = ref.includes(':') ? ref : `${ref}:latest`
      img.repoTags = img.repoTags.filter((x) => x !== t)
      return [{ Untagged: t }]
    }
    if (img.repoTags.length > 1 && !opts.force) {
      throw new Conflict(
        `conflict: unable to delete ${img.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
      )
    }
    this.images.delete(img.id)
    return [...img.repoTags.map((t) => ({ Untagged: t })), { Deleted: img.id }]
  }
  async prune(opts: {
    all: boolean
    filters: Record<string, string[]>
  }): Promise<{ deleted: DeleteResponseItem[]; spaceReclaimed: number }> {
    this.calls.push({ method: 'prune', args: [opts] })
    const deleted: DeleteResponseItem[] = []
    let space = 0
    for (const img of [...this.images.values()]) {
      if (opts.all || img.repoTags.length === 0) {
        this.images.delete(img.id)
        deleted.push({ Deleted: img.id })
        space += img.size
      }
    }
    return { deleted, spaceReclaimed: space }
  }
  async load(
    archive: Readable,
    opts: { signal?: AbortSignal; progress?: ProgressSink },
  ): Promise<{ loaded: string[] }> {
    let n = 0
    for await (const chunk of archive) n += (chunk as Buffer).length
    this.calls.push({ method: 'load', args: [n] })
    opts.progress?.({
      id: 'abc',
      status: 'Loading layer',
      progressDetail: { current: n, total: n },
    })
    if (this.loadError) throw this.loadError
    return { loaded: this.loadResult }
  }
  async save(refs: string[]): Promise<Readable> {
    for (const r of refs) await this.resolve(r)
    this.calls.push({ method: 'save', args: [refs] })
    const { Readable } = await import('node:stream')
    return Readable.from([this.saveBytes])
  }
  async importRootfs(
    tar: Readable,
    opts: { changes: string[]; message?: string; tag?: string; platform?: string },
  ): Promise<Image> {
    const chunks: Buffer[] = []
    for await (const c of tar) chunks.push(c as Buffer)
    const data = Buffer.concat(chunks)
    if (data.length === 0) throw new Error('EOF')
    this.imported = { data, opts }
    const img = fakeImage({ name: `imported-${data.length}`, tags: opts.tag ? [opts.tag] : [] })
    this.images.set(img.id, img)
    return img
  }
}

/** The host a fake engine describes: a cgroup v1 host with overlay2 on ext4, unless told. */
export class FakeSystem implements SystemApi {
  facts: SystemInfo = {
    cgroupVersion: '1',
    cgroupDriver: 'cgroupfs',
    storageDriver: 'overlay2',
    driverStatus: [['Backing Filesystem', 'extfs']],
    plugins: { volume: ['local'], network: ['host', 'null'], log: ['json-file'] },
  }
  async info(): Promise<SystemInfo> {
    return structuredClone(this.facts)
  }
}

export interface FakeEngine extends Engine {
  images: FakeImageStore
  containers: FakeContainers
  execs: FakeExecs
  files: FakeFiles
  lifecycle: FakeLifecycle
  volumes: FakeVolumeStore
  events: FakeEvents
  system: FakeSystem
  closed: boolean
  close(): Promise<void>
}

/** Layers as digests of the tar read whole (test-sized diffs only); nothing is stored. */
const hashingIngest: LayerIngest = {
  async writeLayer(input) {
    if (!('tar' in input)) throw new Error('the fake ingest takes plain tars only')
    const chunks: Buffer[] = []
    for await (const c of input.tar) chunks.push(c as Buffer)
    const tar = Buffer.concat(chunks)
    const digest = sha256(tar)
    return {
      diffID: digest,
      blob: digest,
      mediaType: input.mediaType ?? 'application/vnd.docker.image.rootfs.diff.tar',
      blobSize: tar.length,
      diffSize: tar.length,
      size: tar.length,
    }
  },
}

export function fakeEngine(images: Image[] = [], dataRoot = '/var/lib/berth'): FakeEngine {
  const store = new FakeImageStore(images)
  const events = new FakeEvents()
  const containers = new FakeContainers({ images: store, events, dataRoot })
  const committer = new ImageCommitter({
    images: store,
    ingest: hashingIngest,
    freezer: {
      pause: (id) => containers.freeze(id, true),
      resume: (id) => containers.freeze(id, false),
    },
    events,
  })
  const engine = {
    dataRoot,
    images: store,
    containers,
    execs: new FakeExecs(containers),
    files: new FakeFiles(containers, committer),
    lifecycle: new FakeLifecycle(containers),
    volumes: new FakeVolumeStore(`${dataRoot}/volumes`),
    events,
    system: new FakeSystem(),
    closed: false,
    async counts(): Promise<EngineCounts> {
      return { containers: 3, running: 1, paused: 0, stopped: 2, images: store.images.size }
    },
    async close(): Promise<void> {
      engine.closed = true
    },
  }
  return engine
}

export interface TestServer {
  dir: string
  socketPath: string
  server: http.Server
  logs: string[]
  logger: Logger
  close(): Promise<void>
}

export async function startTestServer(engine: Engine, routes?: RouteSet[]): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-api-'))
  const socketPath = join(dir, 'api.sock')
  const logs: string[] = []
  const logger = createLogger({ level: 'debug', write: (l) => void logs.push(l) })
  const server = createApiServer(engine, { logger, routes })
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  return {
    dir,
    socketPath,
    server,
    logs,
    logger,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export interface TestResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
  text: string
  json<T = unknown>(): T
}

export function request(
  socketPath: string,
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, method, path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const body = Buffer.concat(chunks)
          const text = body.toString('utf8')
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text,
            json: <T>() => JSON.parse(text) as T,
          })
        })
      },
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}
