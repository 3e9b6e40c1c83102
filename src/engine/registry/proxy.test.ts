// Proxies (HTTP_PROXY, HTTPS_PROXY, NO_PROXY with Go's rules), Docker Hub mirrors and schema 1
// manifests: pulls against Debian's docker-registry on loopback, through a real proxy (CONNECT
// and forwarding) that the test runs, into real stores.
import assert from 'node:assert/strict'
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { isBerthError } from '../errors.ts'
import { startHttpProxy, type TestProxy } from '../../../test/registry/httpproxy.ts'
import { imageOf, makeLayer, uploadImage, type TestImage } from '../../../test/registry/images.ts'
import { makePki } from '../../../test/registry/pki.ts'
import { startRegistry, type RegistryServer } from '../../../test/registry/server.ts'
import { plainLines, withStores } from '../../../test/registry/stores.ts'
import { DistributionClient } from './client.ts'
import { maskProxyUrl, parseProxyUrl, ProxyChooser, proxiesFromEnv } from './proxy.ts'

const FAST = { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 }

describe('proxy choice (Go net/http rules)', () => {
  const u = (s: string) => new URL(s)
  test('HTTP_PROXY for http URLs, HTTPS_PROXY for https ones, no fallback between them', () => {
    const c = new ProxyChooser({ httpProxy: 'http://p1:3128', httpsProxy: '' })
    assert.equal(c.proxyFor(u('http://reg.example:5000/v2/'))?.host, 'p1:3128')
    assert.equal(c.proxyFor(u('https://reg.example/v2/')), undefined)
    const s = new ProxyChooser({ httpsProxy: 'p2:8080' })
    assert.equal(s.proxyFor(u('https://reg.example/v2/'))?.href, 'http://p2:8080/')
    assert.equal(s.proxyFor(u('http://reg.example/v2/')), undefined)
  })

  test('localhost and loopback addresses always go direct', () => {
    const c = new ProxyChooser({ httpProxy: 'http://p:1', httpsProxy: 'http://p:1' })
    for (const url of [
      'http://localhost:5000/',
      'https://127.0.0.1:5000/',
      'http://127.8.9.1/',
      'http://[::1]:5000/',
    ]) {
      assert.equal(c.proxyFor(u(url)), undefined, url)
    }
    assert.equal(c.proxyFor(u('http://10.0.0.1:5000/'))?.host, 'p:1')
  })

  test('NO_PROXY: domains and their subdomains, leading dots and stars, ports, IPs, CIDRs, *', () => {
    const c = new ProxyChooser({
      httpProxy: 'http://p:1',
      httpsProxy: 'http://p:1',
      noProxy:
        'corp.example, .only-under.example,*.star.example,ported.example:5000,10.1.2.3,192.168.0.0/16,[fd00::1]:443',
    })
    const direct = [
      'https://corp.example/',
      'https://a.b.corp.example/',
      'https://x.only-under.example/',
      'https://x.star.example/',
      'http://ported.example:5000/',
      'http://10.1.2.3:80/',
      'https://192.168.4.5/',
      'https://[fd00::1]/',
    ]
    const proxied = [
      'https://notcorp.example/',
      'https://only-under.example/',
      'https://star.example/',
      'http://ported.example:5001/',
      'http://10.1.2.4/',
      'https://192.169.0.1/',
      'http://[fd00::1]:80/',
    ]
    for (const url of direct) assert.equal(c.proxyFor(u(url)), undefined, url)
    for (const url of proxied) assert.ok(c.proxyFor(u(url)), url)
    assert.equal(
      new ProxyChooser({ httpProxy: 'p:1', noProxy: '*' }).proxyFor(u('http://a/')),
      undefined,
    )
  })

  test('environment: upper case first; proxy URLs as Go reads them; docker info masks credentials', () => {
    assert.deepEqual(
      proxiesFromEnv({
        HTTP_PROXY: 'http://A:1',
        http_proxy: 'http://a:1',
        https_proxy: 's:2',
        no_proxy: 'x',
      }),
      { httpProxy: 'http://A:1', httpsProxy: 's:2', noProxy: 'x' },
    )
    assert.equal(parseProxyUrl('proxy.corp:3128').href, 'http://proxy.corp:3128/')
    assert.equal(parseProxyUrl('https://proxy.corp').protocol, 'https:')
    assert.equal(maskProxyUrl('http://u:p@127.0.0.1:3128'), 'http://xxxxx:xxxxx@127.0.0.1:3128')
    assert.equal(maskProxyUrl('http://127.0.0.1:3128'), 'http://127.0.0.1:3128')
    // A bad value fails the requests it would carry, not the daemon's start.
    const bad = new ProxyChooser({ httpProxy: '%zz' })
    assert.throws(() => bad.proxyFor(u('http://reg.example/')), {
      message: 'invalid proxy address "%zz"',
    })
    assert.equal(bad.proxyFor(u('http://localhost/')), undefined)
  })
})

describe('pull through a proxy', () => {
  let work: string
  let plain: RegistryServer
  let tls: RegistryServer
  let proxy: TestProxy
  let image: TestImage
  const NAME = 'registry.test'

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-proxy-'))
    const pki = await makePki(work, [], [NAME])
    ;[plain, tls] = await Promise.all([
      startRegistry(),
      startRegistry({ tls: { cert: pki.serverCert, key: pki.serverKey } }),
    ])
    // registry.test resolves only inside the proxy: a request that bypasses it cannot connect.
    proxy = await startHttpProxy({ [NAME]: '127.0.0.1' })
    image = imageOf([
      await makeLayer({ 'etc/proxied': 'through the proxy\n' }, 'gzip'),
      await makeLayer({ 'usr/share/second': 'x'.repeat(50_000) }, 'gzip'),
    ])
    const seeder = new DistributionClient({ retry: FAST })
    for (const r of [plain, tls]) {
      await uploadImage(
        seeder.repository({ domain: r.name, path: 'proxied/img' }, { actions: ['pull', 'push'] }),
        'v1',
        image,
      )
    }
    await seeder.close()
    // The TLS registry's CA under the name berthd is told to use (certs.d/HOST:PORT/ca.crt).
    const port = tls.name.split(':')[1]
    await mkdir(join(work, 'certs.d', `${NAME}:${port}`), { recursive: true })
    await copyFile(pki.caCert, join(work, 'certs.d', `${NAME}:${port}`, 'ca.crt'))
  })
  after(async () => {
    await proxy?.stop()
    await Promise.all([plain?.stop(), tls?.stop()])
    if (work) await rm(work, { recursive: true, force: true })
  })

  test('HTTPS registry: a CONNECT tunnel through HTTPS_PROXY, TLS verified end to end', async () => {
    proxy.log.length = 0
    const ref = `${NAME}:${tls.name.split(':')[1]}/proxied/img:v1`
    await withStores(
      {
        options: {
          retry: FAST,
          certsDir: join(work, 'certs.d'),
          proxies: { httpsProxy: `http://bob:pw@${new URL(proxy.url).host}` },
        },
      },
      async (s) => {
        const [r] = await s.registry.pull(ref)
        assert.equal(r!.image.id, image.config.digest)
        assert.equal((await s.images.resolve(ref)).id, image.config.digest)
        assert.ok(proxy.log.length > 0)
        for (const e of proxy.log) {
          assert.equal(e.method, 'CONNECT')
          assert.equal(e.target, `${NAME}:${tls.name.split(':')[1]}`)
          assert.equal(e.auth, `Basic ${Buffer.from('bob:pw').toString('base64')}`)
        }
      },
    )
  })

  test('plain HTTP registry: requests forwarded by HTTP_PROXY; HTTPS does not use it', async () => {
    proxy.log.length = 0
    const name = `${NAME}:${plain.name.split(':')[1]}`
    await withStores(
      {
        options: {
          retry: FAST,
          insecureRegistries: [name],
          proxies: { httpProxy: proxy.url },
        },
      },
      async (s) => {
        const [r] = await s.registry.pull(`${name}/proxied/img:v1`)
        assert.equal(r!.image.id, image.config.digest)
        const targets = proxy.log.map((e) => `${e.method} ${e.target}`)
        // The HTTPS try (an insecure registry's first) went direct and failed; then plain HTTP.
        assert.ok(
          proxy.log.every((e) => e.method !== 'CONNECT'),
          targets.join('\n'),
        )
        assert.ok(targets.includes(`GET http://${name}/v2/`), targets.join('\n'))
        for (const l of image.layers) {
          assert.ok(
            targets.includes(`GET http://${name}/v2/proxied/img/blobs/${l.blob.digest}`),
            targets.join('\n'),
          )
        }
      },
    )
  })

  test('NO_PROXY names go direct (and fail here: only the proxy knows registry.test)', async () => {
    proxy.log.length = 0
    const name = `${NAME}:${plain.name.split(':')[1]}`
    await withStores(
      {
        options: {
          retry: FAST,
          insecureRegistries: [name],
          proxies: { httpProxy: proxy.url, httpsProxy: proxy.url, noProxy: `other.test,${NAME}` },
        },
      },
      async (s) => {
        await assert.rejects(s.registry.pull(`${name}/proxied/img:v1`), (err: unknown) => {
          assert.ok(isBerthError(err), String(err))
          assert.match(err.message, new RegExp(`${NAME}`))
          return true
        })
        assert.deepEqual(proxy.log, [])
        // A loopback registry is never proxied, whatever the settings say.
        const [r] = await s.registry.pull(`${plain.name}/proxied/img:v1`)
        assert.equal(r!.image.id, image.config.digest)
        assert.deepEqual(proxy.log, [])
      },
    )
  })
})

describe('registry mirrors', () => {
  let mirror: RegistryServer
  let empty: RegistryServer
  let image: TestImage
  let digest: string

  before(async () => {
    ;[mirror, empty] = await Promise.all([startRegistry(), startRegistry()])
    image = imageOf([await makeLayer({ 'etc/mirrored': 'from the mirror\n' }, 'gzip')])
    const seeder = new DistributionClient({ retry: FAST })
    digest = await uploadImage(
      seeder.repository(
        { domain: mirror.name, path: 'library/busybox' },
        { actions: ['pull', 'push'] },
      ),
      'latest',
      image,
    )
    await seeder.close()
  })
  after(async () => {
    await Promise.all([mirror?.stop(), empty?.stop()])
  })

  test('a docker.io pull is served by the first mirror that has it, Docker Hub untouched', async () => {
    // A dead mirror, one without the image, then one with it: each failure hands the pull on.
    const dead = await new Promise<Server>((resolve) => {
      const srv = createServer()
      srv.listen(0, '127.0.0.1', () => resolve(srv))
    })
    const deadPort = (dead.address() as AddressInfo).port
    await new Promise<void>((resolve) => dead.close(() => resolve()))
    await withStores(
      {
        options: {
          retry: FAST,
          mirrors: [`http://127.0.0.1:${deadPort}/`, `${empty.url}/`, `${mirror.url}/`],
        },
      },
      async (s) => {
        const p = s.progress()
        const [r] = await s.registry.pull('busybox', { progress: p.sink })
        assert.equal(r!.ref, 'busybox:latest')
        assert.equal(r!.digest, digest)
        const img = await s.images.resolve('busybox:latest')
        assert.equal(img.id, image.config.digest)
        assert.deepEqual(img.repoDigests, [`busybox@${digest}`])
        assert.deepEqual(plainLines(p.seen).slice(-2), [
          `Digest: ${digest}`,
          'Status: Downloaded newer image for busybox:latest',
        ])
      },
    )
  })

  test('mirrors serve Docker Hub only: another registry is pulled from itself', async () => {
    await withStores({ options: { retry: FAST, mirrors: [`${empty.url}/`] } }, async (s) => {
      const [r] = await s.registry.pull(`${mirror.name}/library/busybox:latest`)
      assert.equal(r!.digest, digest)
    })
  })
})

describe('schema 1 manifests', () => {
  let server: Server
  let name: string
  const manifest = JSON.stringify(
    {
      schemaVersion: 1,
      name: 'old/image',
      tag: 'v1',
      architecture: 'amd64',
      fsLayers: [
        { blobSum: 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4' },
      ],
      history: [
        {
          v1Compatibility:
            '{"id":"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5"}',
        },
      ],
      signatures: [{ header: { alg: 'ES256' }, signature: 'c2ln', protected: 'e30' }],
    },
    null,
    3,
  )

  before(async () => {
    // A registry that serves a signed schema 1 manifest as old registries do: its digest header
    // names the payload without signatures, not the bytes sent.
    server = createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end('{}')
      if (/^\/v2\/old\/image\/manifests\//.test(req.url ?? '')) {
        res.writeHead(200, {
          'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws',
          'docker-content-digest': `sha256:${'1'.repeat(64)}`,
          'content-length': Buffer.byteLength(manifest),
        })
        return void res.end(req.method === 'HEAD' ? undefined : manifest)
      }
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    name = `127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  test("refused with Docker 28's words (400), after 'Pulling from', storing nothing", async () => {
    await withStores({ options: { retry: FAST } }, async (s) => {
      const p = s.progress()
      await assert.rejects(
        s.registry.pull(`${name}/old/image:v1`, { progress: p.sink }),
        (err: unknown) => {
          assert.ok(isBerthError(err), String(err))
          assert.equal(err.status, 400)
          assert.equal(
            err.message,
            'Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. ' +
              `Suggest the author of ${name}/old/image:v1 to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. ` +
              'More information at https://docs.docker.com/go/deprecated-image-specs/',
          )
          return true
        },
      )
      assert.deepEqual(plainLines(p.seen), ['v1: Pulling from old/image'])
      assert.deepEqual(await s.images.list(), [])
    })
  })
})
