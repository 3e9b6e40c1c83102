// berthd's registry client behind a proxy (HTTP_PROXY/HTTPS_PROXY/NO_PROXY in the daemon's
// environment, as dockerd reads them) and with a Docker Hub mirror (daemon.json
// `registry-mirrors`), driven by the stock docker CLI. The proxy is a real one on loopback that
// the test runs; registry.test resolves only inside it, so a request that bypasses it fails.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startHttpProxy, type TestProxy } from '../registry/httpproxy.ts'
import { startRegistry, type RegistryServer } from '../registry/server.ts'
import { docker, importBusybox, startBerthd, type Berthd, type RunResult } from './harness.ts'

let d: Berthd
let work: string
let reg: RegistryServer
let mirror: RegistryServer
let proxy: TestProxy
let name: string

async function ok(args: string[]): Promise<RunResult> {
  const r = await docker(args, { host: d })
  assert.equal(r.code, 0, `docker ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
  return r
}

before(async () => {
  work = await mkdtemp('/tmp/bt-regproxy-')
  ;[reg, mirror] = await Promise.all([startRegistry(), startRegistry()])
  proxy = await startHttpProxy({ 'registry.test': '127.0.0.1' })
  name = `registry.test:${reg.name.split(':')[1]}`
  const daemonJson = join(work, 'daemon.json')
  await writeFile(
    daemonJson,
    JSON.stringify({ 'registry-mirrors': [mirror.url], 'insecure-registries': [name] }),
  )
  const proxyUrl = `http://alice:s3cret@${new URL(proxy.url).host}`
  d = await startBerthd({
    args: ['--config-file', daemonJson],
    env: { HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: 'internal.test,10.0.0.0/8' },
    // The registries and the proxy listen on the host's loopback; so containers run with
    // --network none, leaving no bridge of berth's on the host.
    network: 'inherit',
  })
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
  await proxy?.stop()
  await Promise.all([reg?.stop(), mirror?.stop()])
  if (work) await rm(work, { recursive: true, force: true })
})

describe('registry proxies and mirrors', () => {
  test('docker info shows the proxies (credentials hidden) and the mirror', async () => {
    const r = await ok(['info'])
    const host = new URL(proxy.url).host
    assert.match(r.stdout, new RegExp(`\\n HTTP Proxy: http://xxxxx:xxxxx@${host}\\n`))
    assert.match(r.stdout, new RegExp(`\\n HTTPS Proxy: http://xxxxx:xxxxx@${host}\\n`))
    assert.match(r.stdout, /\n No Proxy: internal\.test,10\.0\.0\.0\/8\n/)
    assert.match(r.stdout, new RegExp(`\\n Registry Mirrors:\\n  ${mirror.url}/\\n`))
    assert.match(r.stdout, new RegExp(`\\n Insecure Registries:\\n  ${name}\\n`))
  })

  test('push and pull through the proxy, which sees every request', async () => {
    proxy.log.length = 0
    const ref = `${name}/via/proxy:1`
    await ok(['tag', 'busybox', ref])
    await ok(['push', ref])
    await ok(['rmi', ref])
    const pull = await ok(['pull', ref])
    assert.match(
      pull.stdout,
      /Status: Downloaded newer image for registry\.test:[0-9]+\/via\/proxy:1/,
    )
    const run = await ok(['run', '--network', 'none', '--rm', ref, 'echo', 'proxied'])
    assert.equal(run.stdout, 'proxied\n')
    const seen = proxy.log.map((e) => `${e.method} ${e.target}`)
    const prefix = `http://${name}/v2/via/proxy`
    assert.ok(
      seen.some((s) => s.startsWith(`PUT ${prefix}/manifests/1`)),
      seen.join('\n'),
    )
    assert.ok(
      seen.some((s) => s.startsWith(`GET ${prefix}/manifests/`)),
      seen.join('\n'),
    )
    assert.ok(
      seen.some((s) => s.startsWith(`GET ${prefix}/blobs/sha256:`)),
      seen.join('\n'),
    )
    // Go's rule: an https URL uses HTTPS_PROXY (a CONNECT), plain http the forwarding proxy.
    assert.ok(seen.includes(`CONNECT ${name}`), seen.join('\n'))
    const auth = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`
    assert.ok(proxy.log.every((e) => e.auth === auth))
  })

  test('a docker.io pull comes from the mirror (no Docker Hub here), and runs', async () => {
    // The mirror holds docker.io/library/busybox as Docker Hub would; loopback is never proxied.
    const m = `${mirror.name}/library/busybox:latest`
    await ok(['tag', 'busybox', m])
    await ok(['push', m])
    await ok(['rmi', m, 'busybox'])
    proxy.log.length = 0
    const pull = await ok(['pull', 'busybox'])
    const lines = pull.stdout.split('\n').filter(Boolean)
    assert.equal(lines[0], 'Using default tag: latest')
    assert.equal(lines[1], 'latest: Pulling from library/busybox')
    assert.deepEqual(lines.slice(-3), [
      lines.at(-3)!,
      'Status: Downloaded newer image for busybox:latest',
      'docker.io/library/busybox:latest',
    ])
    assert.match(lines.at(-3)!, /^Digest: sha256:[0-9a-f]{64}$/)
    assert.deepEqual(proxy.log, [])
    const run = await ok(['run', '--network', 'none', '--rm', 'busybox', 'echo', 'mirrored'])
    assert.equal(run.stdout, 'mirrored\n')
  })
})
