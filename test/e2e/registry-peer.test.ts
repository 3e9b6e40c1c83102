// A registry shared with a real Docker: an image committed in berth and pushed is pulled by
// Debian's dockerd and runs there, and an image committed in dockerd and pushed is pulled by berth
// and runs here. dockerd runs in a network namespace of its own (inOwnNetns); the registry on the
// host's loopback reaches it at the same localhost:PORT through a relay (test/registry/relay.ts).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { relayIntoNetns, type NetnsRelay } from '../registry/relay.ts'
import { startRegistry, type RegistryServer } from '../registry/server.ts'
import {
  docker,
  importBusybox,
  startBerthd,
  startDockerd,
  type Berthd,
  type Dockerd,
  type RunResult,
} from './harness.ts'

let d: Berthd
let dd: Dockerd
let reg: RegistryServer
let relay: NetnsRelay
let name: string

async function on(h: { socket: string }, args: string[]): Promise<RunResult> {
  const r = await docker(args, { host: h })
  assert.equal(r.code, 0, `docker ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
  return r
}

const imageId = async (h: { socket: string }, ref: string): Promise<string> =>
  (await on(h, ['image', 'inspect', '-f', '{{.Id}}', ref])).stdout.trim()

/** The manifest digest a push printed ("TAG: digest: D size: N"). */
function pushedDigest(r: RunResult): string {
  const m = /: digest: (sha256:[0-9a-f]{64}) size: \d+$/m.exec(r.stdout)
  assert.ok(m, r.stdout)
  return m[1]!
}

before(async () => {
  reg = await startRegistry()
  // berthd on the host's network: it reaches the registry the test runs on the host's loopback
  ;[d, dd] = await Promise.all([startBerthd({ network: 'inherit' }), startDockerd()])
  const pid = Number((await readFile(join(dd.dir, 'p'), 'utf8')).trim())
  relay = await relayIntoNetns(pid, Number(reg.name.split(':')[1]))
  // localhost: a loopback registry, plain HTTP for both engines without any flag.
  name = `localhost:${reg.name.split(':')[1]}`
  await Promise.all([importBusybox(d), importBusybox({ socket: dd.socket })])
})

after(async () => {
  await relay?.stop()
  await d?.stop()
  await dd?.stop()
  await reg?.stop()
})

describe('a registry shared with dockerd', () => {
  test('berth pushes, dockerd pulls and runs it', async () => {
    const ref = `${name}/peer/from-berth:1`
    await on(d, [
      'run',
      '--network',
      'none',
      '--name',
      'made',
      'busybox',
      'sh',
      '-c',
      'echo made in berth > /hello',
    ])
    await on(d, ['commit', 'made', ref])
    const pushed = await on(d, ['push', ref])
    const digest = pushedDigest(pushed)

    const pulled = await on(dd, ['pull', ref])
    assert.match(pulled.stdout, new RegExp(`Digest: ${digest}`))
    assert.match(pulled.stdout, new RegExp(`Status: Downloaded newer image for ${ref}`))
    // The same image: the config, hence the ID, is what berth made.
    assert.equal(await imageId(dd, ref), await imageId(d, ref))
    const run = await on(dd, ['run', '--rm', '--network', 'none', ref, 'cat', '/hello'])
    assert.equal(run.stdout, 'made in berth\n')
    const digests = await on(dd, ['image', 'inspect', '-f', '{{json .RepoDigests}}', ref])
    assert.deepEqual(JSON.parse(digests.stdout), [`${name}/peer/from-berth@${digest}`])
  })

  test('dockerd pushes, berth pulls and runs it', async () => {
    const ref = `${name}/peer/from-docker:1`
    await on(dd, [
      'run',
      '--name',
      'made',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'echo made in docker > /hello',
    ])
    await on(dd, ['commit', 'made', ref])
    const digest = pushedDigest(await on(dd, ['push', ref]))

    const pulled = await on(d, ['pull', ref])
    assert.match(pulled.stdout, new RegExp(`Digest: ${digest}`))
    assert.match(pulled.stdout, new RegExp(`Status: Downloaded newer image for ${ref}`))
    assert.equal(await imageId(d, ref), await imageId(dd, ref))
    const run = await on(d, ['run', '--network', 'none', '--rm', ref, 'cat', '/hello'])
    assert.equal(run.stdout, 'made in docker\n')

    // And back: berth pushes it under another tag; every layer is already there.
    const again = `${name}/peer/from-docker:again`
    await on(d, ['tag', ref, again])
    const pushed = await on(d, ['push', again])
    assert.doesNotMatch(pushed.stdout, /: Pushed$/m, pushed.stdout)
    assert.match(pushed.stdout, /: Layer already exists$/m)
  })
})
