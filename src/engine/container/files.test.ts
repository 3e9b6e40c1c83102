import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { LocalBlobStore } from '../content/local.ts'
import type { Digest } from '../digest.ts'
import { InvalidArgument } from '../errors.ts'
import { ImageCommitter } from '../image/commit.ts'
import { LayerIngester } from '../image/ingest.ts'
import type { Freezer, Image, ImageConfig, ImageStore, LayerDescriptor } from '../image/types.ts'
import { OverlayDiffer } from '../layer/diff.ts'
import { LocalLayerStore } from '../layer/local.ts'
import type { LayerStore } from '../layer/types.ts'
import { makeTar } from '../layer/testkit.ts'
import { ContainerFiles, type FilesDeps } from './files.ts'
import type { Container } from './types.ts'

let dir: string
let sentinel: string

function container(id: string, running: boolean): Container {
  return {
    id,
    name: id,
    created: '',
    path: 'sh',
    args: [],
    config: { Image: 'busybox', Cmd: ['sh'] },
    hostConfig: {},
    image: 'sha256:0000000000000000000000000000000000000000000000000000000000000000',
    imageRef: 'busybox',
    state: {
      Status: running ? 'running' : 'exited',
      Running: running,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: 0,
      ExitCode: 0,
      Error: '',
      StartedAt: '',
      FinishedAt: '',
    },
    logPath: '',
    restartCount: 0,
  }
}

function deps(over: Partial<FilesDeps> = {}): FilesDeps {
  const c = container('c1', true)
  return {
    containers: { get: async () => c },
    containerDir: () => `${dir}/ctr`,
    locked: (_id, fn) => fn(),
    layers: undefined as never,
    differ: undefined as never,
    commits: undefined as never,
    mount: async () => undefined,
    unmount: async () => undefined,
    ...over,
  }
}

async function tarNames(s: Readable): Promise<string[]> {
  const chunks: Buffer[] = []
  for await (const c of s) chunks.push(c as Buffer)
  const r = spawnSync('tar', ['-t'], { input: Buffer.concat(chunks), encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  return r.stdout.trim().split('\n')
}

/** Every path under `top` (symlinks not followed) whose last element is `name`. */
async function find(top: string, name: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(top, { withFileTypes: true })) {
    const p = `${top}/${e.name}`
    if (e.name === name) out.push(p)
    if (e.isDirectory()) out.push(...(await find(p, name)))
  }
  return out.sort()
}

before(async () => {
  dir = await mkdtemp('/tmp/berth-files-')
  sentinel = `${dir}/sentinel`
  await mkdir(`${sentinel}/etc`, { recursive: true })
  await writeFile(`${sentinel}/etc/secret`, 'host secret')
  const root = `${dir}/ctr/rootfs`
  await mkdir(`${root}/etc`, { recursive: true })
  await mkdir(`${root}/data`, { recursive: true })
  await writeFile(`${root}/etc/passwd`, 'root:x:0:0::/root:/bin/sh\n')
  // Hostile links a container could make, pointing at the host's sentinel dir.
  await symlink('/', `${root}/evil`)
  await symlink(sentinel, `${root}/abs`)
  await symlink('../../../../../../../../..', `${root}/data/up`)
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('archive', () => {
  const files = (): ContainerFiles => new ContainerFiles(deps())

  test('stat and get resolve symlinks inside the container root', async () => {
    const st = await files().statPath('c1', '/evil')
    assert.equal(st.name, 'evil')
    assert.equal(st.linkTarget, '/')
    const abs = await files().statPath('c1', '/abs')
    // The link's host path does not exist in the container.
    assert.equal(abs.linkTarget, sentinel)
    await assert.rejects(files().statPath('c1', `/abs/etc/secret`), /Could not find the file/)
    const { tar } = await files().getArchive('c1', '/data/up/etc')
    // /etc holds the network's files too, as Docker's init layer puts them there.
    assert.deepEqual(await tarNames(tar), [
      'etc/',
      'etc/hostname',
      'etc/hosts',
      'etc/passwd',
      'etc/resolv.conf',
    ])
  })

  test('a missing path is NotFound in Docker words', async () => {
    await assert.rejects(
      files().statPath('c1', '/nope'),
      (e: Error) => e.message === 'Could not find the file /nope in container c1',
    )
  })

  test('put through hostile links and hostile entries stays inside the root', async () => {
    // Unique names, so that finding one anywhere on the host means this test put it there.
    const escape = `escape-${process.pid}-${Date.now()}`
    const first = `a-${process.pid}-${Date.now()}.txt`
    const hostile = await makeTar([
      { name: first, data: 'a' },
      { name: `../../../../${escape}`, data: 'x' },
    ])
    await assert.rejects(
      files().putArchive('c1', '/evil/etc', Readable.from([hostile]), {
        noOverwriteDirNonDir: true,
        copyUIDGID: false,
      }),
      (e: Error) =>
        e instanceof InvalidArgument &&
        e.message === `invalid layer: entry "../../../../${escape}" escapes the layer root`,
    )
    // The entry before it went through the container's /evil -> / into the container's /etc,
    // and the escaping one landed nowhere: not in the root, the test dir, any of the root's
    // ancestors, nor the host's / and /etc that /evil names on the host.
    const root = `${dir}/ctr/rootfs`
    assert.equal(await readFile(`${root}/etc/${first}`, 'utf8'), 'a')
    assert.deepEqual(await find(dir, escape), [])
    assert.deepEqual(await find(dir, first), [`${root}/etc/${first}`])
    for (const p of [`/${escape}`, `/tmp/${escape}`, `/etc/${escape}`, `/etc/${first}`]) {
      await assert.rejects(lstat(p), { code: 'ENOENT' }, p)
    }
    const viaLink = await makeTar([
      { name: 'lnk', type: 'symlink', linkname: sentinel },
      { name: 'lnk/etc/owned', data: 'x' },
      { name: 'b.txt', data: 'b' },
    ])
    // The link's target exists inside the container too: writing through it must land there.
    await mkdir(`${dir}/ctr/rootfs${sentinel}/etc`, { recursive: true })
    await files().putArchive('c1', '/data/up/evil/data', Readable.from([viaLink]), {
      noOverwriteDirNonDir: true,
      copyUIDGID: false,
    })
    assert.equal(await readFile(`${root}/data/b.txt`, 'utf8'), 'b')
    // The entry under the link went to <root><sentinel>/etc/owned, never the host's sentinel.
    assert.deepEqual(await readdir(`${sentinel}/etc`), ['secret'])
    assert.equal(await readFile(`${root}${sentinel}/etc/owned`, 'utf8'), 'x')
    assert.deepEqual(await find(dir, 'owned'), [`${root}${sentinel}/etc/owned`])
  })

  test('put refuses a file as extraction point, and a dir over a file', async () => {
    const t = await makeTar([{ name: 'x', data: 'x' }])
    await assert.rejects(
      files().putArchive('c1', '/etc/passwd', Readable.from([t]), {
        noOverwriteDirNonDir: true,
        copyUIDGID: false,
      }),
      /extraction point is not a directory/,
    )
    const d = await makeTar([{ name: 'passwd', type: 'directory' }])
    await assert.rejects(
      files().putArchive('c1', '/etc', Readable.from([d]), {
        noOverwriteDirNonDir: true,
        copyUIDGID: false,
      }),
      /cannot overwrite non-directory/,
    )
  })
})

describe('commit', () => {
  test('freezes a running container while its layer is read and always thaws it', async () => {
    const blobs = new LocalBlobStore(`${dir}/content`)
    await blobs.init()
    const layers = new LocalLayerStore(`${dir}/layers`)
    await layers.init()
    await layers.createRW('c1', [])
    const upper = `${dir}/layers/rw/c1/upper`
    await writeFile(`${upper}/hello`, 'hi')
    const events: string[] = []
    let frozen = false
    const created: { config: ImageConfig; layers: LayerDescriptor[] }[] = []
    const images = {
      get: async () => undefined,
      create: async (input: { config: ImageConfig; layers: LayerDescriptor[] }) => {
        created.push(input)
        return { id: 'sha256:1' as Digest } as Image
      },
    } as unknown as ImageStore
    const layersSpy = Object.create(layers) as LocalLayerStore
    layersSpy.unpack = async (s, o) => {
      // The layer is read only while the container is frozen.
      events.push(`read frozen=${frozen}`)
      return layers.unpack(s, o)
    }
    // As src/daemon/wire.ts wires them: the image side's committer, the overlay differ.
    const wired = (l: LayerStore, freezer: Freezer): Partial<FilesDeps> => ({
      layers: l,
      differ: new OverlayDiffer(l),
      commits: new ImageCommitter({
        images,
        ingest: new LayerIngester({ blobs, layers: l }),
        freezer,
      }),
    })
    const f = new ContainerFiles(
      deps(
        wired(layersSpy, {
          pause: async () => {
            frozen = true
            events.push('pause')
          },
          resume: async () => {
            frozen = false
            events.push('resume')
          },
        }),
      ),
    )
    const out = await f.commit('c1', {
      pause: true,
      changes: ['CMD ["cat","/hello"]'],
      comment: 'm',
    })
    assert.equal(out.Id, 'sha256:1')
    assert.deepEqual(events, ['pause', 'read frozen=true', 'resume'])
    assert.deepEqual(created[0]?.config.config?.Cmd, ['cat', '/hello'])
    assert.equal(created[0]?.config.history?.at(-1)?.comment, 'm')
    assert.equal(created[0]?.layers.length, 1)
    const diffID = created[0]?.layers[0]?.diffID as Digest
    assert.equal(created[0]?.layers[0]?.blob, diffID)
    assert.ok(await layers.has(diffID))

    // A failure while reading still thaws the container.
    events.length = 0
    const broken = new ContainerFiles(
      deps(
        wired({ ...layers, rootfsMount: async () => Promise.reject(new Error('boom')) } as never, {
          pause: async () => void events.push('pause'),
          resume: async () => void events.push('resume'),
        }),
      ),
    )
    await assert.rejects(broken.commit('c1', { pause: true, changes: [] }), /boom/)
    assert.deepEqual(events, ['pause', 'resume'])
  })
})
