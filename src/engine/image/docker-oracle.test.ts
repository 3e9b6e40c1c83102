// Checks the archive formats against the real thing: Debian's dockerd, started here in a temp
// dir, saves an image that berth loads, and loads and runs an image that berth saves. Fails
// loudly (never skips) when dockerd cannot start.
import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createReadStream, createWriteStream } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { LocalBlobStore } from '../content/local.ts'
import { LocalImageStore } from './local.ts'
import { FakeLayerStore, FakeUsage } from './testing.ts'

const run = promisify(execFile)

function ping(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: sock, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => {
      req.destroy()
      resolve(false)
    })
    req.end()
  })
}

describe('docker save/load oracle', { timeout: 120_000 }, () => {
  let T: string
  let sock: string
  let dockerd: ChildProcess | undefined
  let log = ''
  const docker = (...args: string[]) =>
    run('docker', ['-H', `unix://${sock}`, ...args], { maxBuffer: 1 << 24 })

  before(async () => {
    T = await mkdtemp(join(tmpdir(), 'berth-oracle-'))
    sock = join(T, 'sock')
    // In a network namespace of its own: a dockerd with --bridge=none deletes the host's docker0.
    dockerd = spawn(
      'unshare',
      [
        '--net',
        '--',
        'dockerd',
        '--data-root',
        join(T, 'd'),
        '--exec-root',
        join(T, 'e'),
        '--pidfile',
        join(T, 'p'),
        '-H',
        `unix://${sock}`,
        '--iptables=false',
        '--bridge=none',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    dockerd.stdout?.on('data', (d: Buffer) => (log += d.toString()))
    dockerd.stderr?.on('data', (d: Buffer) => (log += d.toString()))
    let exited = false
    dockerd.on('exit', () => (exited = true))
    const deadline = Date.now() + 30_000
    while (!(await ping(sock))) {
      if (exited || Date.now() > deadline)
        throw new Error(`dockerd did not start:\n${log.slice(-3000)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  after(async () => {
    if (dockerd && dockerd.exitCode === null) {
      const exit = new Promise((r) => dockerd!.once('exit', r))
      dockerd.kill('SIGTERM')
      const timer = setTimeout(() => dockerd!.kill('SIGKILL'), 15_000)
      await exit
      clearTimeout(timer)
    }
    if (T) await rm(T, { recursive: true, force: true })
  })

  test('docker save → berth load; berth save → docker load and run', async () => {
    const rootfs = join(T, 'rootfs')
    await mkdir(join(rootfs, 'bin'), { recursive: true })
    await copyFile('/bin/busybox', join(rootfs, 'bin', 'busybox'))
    for (const c of ['sh', 'echo', 'ls', 'cat']) await symlink('busybox', join(rootfs, 'bin', c))
    await run('tar', ['-C', rootfs, '-cf', join(T, 'rootfs.tar'), '.'])
    await docker('import', '--change', 'CMD ["sh"]', join(T, 'rootfs.tar'), 'oracle/bb:1')
    await docker('save', '-o', join(T, 'docker.tar'), 'oracle/bb:1')

    const blobs = new LocalBlobStore(join(T, 'berth', 'content'))
    await blobs.init()
    const layers = new FakeLayerStore()
    const store = new LocalImageStore({
      dir: join(T, 'berth', 'images'),
      blobs,
      layers,
      usage: new FakeUsage(),
    })
    await store.init()
    const r = await store.load(createReadStream(join(T, 'docker.tar')), {})
    assert.deepEqual(r.loaded, ['oracle/bb:1'])
    const img = await store.resolve('oracle/bb:1')
    const inspected = JSON.parse((await docker('image', 'inspect', 'oracle/bb:1')).stdout) as {
      Id: string
      RootFS: { Layers: string[] }
    }[]
    assert.equal(img.id, inspected[0].Id)
    assert.deepEqual(img.config.rootfs.diff_ids, inspected[0].RootFS.Layers)
    assert.equal(img.config.comment, 'Imported from -')
    assert.deepEqual(img.config.config?.Cmd, ['sh'])
    assert.deepEqual(layers.unpacked, img.config.rootfs.diff_ids)

    await store.tag('oracle/bb:1', 'berth/roundtrip:1')
    await docker('rmi', 'oracle/bb:1')
    await pipeline(
      await store.save(['berth/roundtrip:1'], {}),
      createWriteStream(join(T, 'berth.tar')),
    )
    const loaded = await docker('load', '-i', join(T, 'berth.tar'))
    assert.match(loaded.stdout, /Loaded image: berth\/roundtrip:1/)
    const out = await docker('run', '--rm', '--network', 'none', 'berth/roundtrip:1', 'echo', 'hi')
    assert.equal(out.stdout, 'hi\n')
  })
})
