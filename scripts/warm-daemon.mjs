// A stand-in for berthd that the build talks to while it makes the CLI's code cache: it answers
// the few requests of `version`, `ps` and `images` with one plausible entry each, and an
// unchanged rebuild's one request with a build whose steps all came from the cache, so that the
// functions those commands run (the client, the answer's formatting, the template engine, the
// table writer, the context scan, the build's display) are compiled into the cache, not compiled
// on every start. Nothing else uses it.
import http from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const API = '1.47'
const created = Math.floor(Date.now() / 1000) - 3600

const version = {
  Platform: { Name: 'berth' },
  Components: [
    {
      Name: 'Engine',
      Version: '0.1.0',
      Details: {
        ApiVersion: API,
        MinAPIVersion: '1.24',
        NodeVersion: process.version,
        GitCommit: 'unknown',
        BuildTime: new Date().toISOString(),
        Os: 'linux',
        Arch: 'amd64',
        Experimental: 'false',
      },
    },
  ],
  Version: '0.1.0',
  ApiVersion: API,
  MinAPIVersion: '1.24',
  Os: 'linux',
  Arch: 'amd64',
  KernelVersion: '6.1.0',
  BuildTime: new Date().toISOString(),
}

const container = {
  Id: 'a'.repeat(64),
  Names: ['/warm'],
  Image: 'busybox',
  ImageID: `sha256:${'b'.repeat(64)}`,
  Command: 'sh',
  Created: created,
  Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }],
  Labels: {},
  State: 'running',
  Status: 'Up About an hour',
  HostConfig: { NetworkMode: 'bridge' },
  NetworkSettings: { Networks: {} },
  Mounts: [],
}

const image = {
  Id: `sha256:${'b'.repeat(64)}`,
  ParentId: '',
  RepoTags: ['busybox:latest'],
  RepoDigests: [],
  Created: created,
  Size: 2_000_000,
  SharedSize: -1,
  VirtualSize: 2_000_000,
  Labels: {},
  Containers: -1,
}

const answers = {
  '/version': version,
  '/containers/json': [container],
  '/images/json': [image],
  '/berth/v1/containers/unsaved': [
    {
      Id: container.Id,
      Name: 'warm',
      Unsaved: true,
      Size: 1234,
      Files: 1,
      Deleted: 0,
      LastChange: new Date().toISOString(),
      Top: [{ Path: '/root/notes.txt', Size: 1234 }],
      SavedIn: '',
      MeasuredAt: new Date().toISOString(),
      Current: true,
    },
  ],
}

const builtId = `sha256:${'c'.repeat(64)}`
const buildEvent = (aux) => ({ id: 'berth.build', aux })

/** What berthd streams for a rebuild of an unchanged context: every step from the cache. */
const unchangedBuild = [
  buildEvent({
    type: 'plan',
    steps: [
      { index: 0, stage: 0, stageName: 'stage-0', text: 'FROM busybox', heavy: false },
      { index: 1, stage: 0, stageName: 'stage-0', text: 'COPY . /app', heavy: true },
    ],
  }),
  { stream: 'Step 1/2 : FROM busybox' },
  { stream: '\n' },
  buildEvent({ type: 'start', step: 0 }),
  { stream: ` ---> ${image.Id.slice(7, 19)}\n` },
  buildEvent({ type: 'done', step: 0, cached: false, durationMs: 0, id: image.Id }),
  { stream: 'Step 2/2 : COPY . /app' },
  { stream: '\n' },
  buildEvent({ type: 'start', step: 1 }),
  { stream: ' ---> Using cache\n' },
  { stream: ` ---> ${builtId.slice(7, 19)}\n` },
  buildEvent({ type: 'done', step: 1, cached: true, durationMs: 1, id: builtId }),
  { aux: { ID: builtId } },
  { stream: `Successfully built ${builtId.slice(7, 19)}\n` },
]
  .map((m) => JSON.stringify(m) + '\n')
  .join('')

/** Starts the stand-in; `host` is its unix:// address, `close()` stops it and removes it. */
export async function startWarmDaemon() {
  const dir = await mkdtemp(join(tmpdir(), 'berth-warm-'))
  const socket = join(dir, 'warm.sock')
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0].replace(/^\/v[0-9.]+/, '')
    // the unchanged rebuild's request (SCAN_BUILD_PATH in src/lib/build-secrets.ts)
    if (req.method === 'POST' && path === '/berth/v1/build/scan') {
      req.resume()
      res.setHeader('Api-Version', API)
      res.setHeader('Content-Type', 'application/json')
      res.end(unchangedBuild)
      return
    }
    const body = answers[path]
    res.setHeader('Api-Version', API)
    res.setHeader('Content-Type', 'application/json')
    res.statusCode = body === undefined ? 404 : 200
    res.end(JSON.stringify(body ?? { message: 'page not found' }))
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(socket, resolve)
  })
  return {
    host: `unix://${socket}`,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await rm(dir, { recursive: true, force: true })
    },
  }
}
