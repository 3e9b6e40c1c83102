// HTTPS to the reference registry with a CA the test makes: trusted through certs.d as Docker
// reads it, refused without it, client certificates presented when the registry asks, and an
// insecure registry reached without verification. The registry is named localhost:PORT, and the
// client's lookup finds no address for it, so it counts as secure (a loopback address would make
// it insecure, as in Docker).
import assert from 'node:assert/strict'
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Internal, InvalidArgument } from '../errors.ts'
import { makePki, type Pki } from '../../../test/registry/pki.ts'
import { opener, randomBlob, readAll } from '../../../test/registry/seed.ts'
import { startRegistry, type RegistryServer } from '../../../test/registry/server.ts'
import { DistributionClient } from './client.ts'

const noAddresses = async (): Promise<string[]> => []

describe('DistributionClient over HTTPS', () => {
  let dir: string
  let pki: Pki
  let tlsReg: RegistryServer
  let mtlsReg: RegistryServer
  let plainReg: RegistryServer
  const clients: DistributionClient[] = []
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tls-'))
    pki = await makePki(dir)
    const tls = { cert: pki.serverCert, key: pki.serverKey }
    ;[tlsReg, mtlsReg, plainReg] = await Promise.all([
      startRegistry({ tls }),
      startRegistry({ tls: { ...tls, clientCA: pki.caCert } }),
      startRegistry(),
    ])
  })
  after(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await Promise.all([tlsReg.stop(), mtlsReg.stop(), plainReg.stop()])
    await rm(dir, { recursive: true, force: true })
  })

  /** A certs.d with the given files for the registry's name. */
  async function certsDir(reg: RegistryServer, files: Record<string, string>): Promise<string> {
    const root = await mkdtemp(join(dir, 'certs.d-'))
    const host = join(root, localName(reg))
    await mkdir(host)
    for (const [name, from] of Object.entries(files)) await copyFile(from, join(host, name))
    return root
  }
  const localName = (reg: RegistryServer) => reg.name.replace('127.0.0.1', 'localhost')
  function client(certs: string, insecure: string[] = []): DistributionClient {
    const c = new DistributionClient({
      certsDir: certs,
      insecureRegistries: insecure,
      lookup: noAddresses,
      retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10 },
    })
    clients.push(c)
    return c
  }
  const repo = (c: DistributionClient, reg: RegistryServer) =>
    c.repository({ domain: localName(reg), path: 'tls/img' }, { actions: ['pull', 'push'] })

  test('a CA in certs.d/HOST:PORT/ca.crt is trusted beside the system’s', async () => {
    const c = client(await certsDir(tlsReg, { 'ca.crt': pki.caCert }))
    const b = randomBlob(50_000)
    const r = repo(c, tlsReg)
    assert.equal(await r.pushBlob(b.digest, b.size, opener(b)), 'uploaded')
    assert.deepEqual(await readAll(await r.fetchBlob(b.digest, { size: b.size })), b.data)
  })

  test('without the CA the certificate is refused in Go’s words, and HTTP is not tried', async () => {
    const c = client(await certsDir(tlsReg, {}))
    await assert.rejects(repo(c, tlsReg).statBlob(randomBlob(1).digest), (err: Error) => {
      assert.ok(err instanceof Internal)
      assert.equal(
        err.message,
        `Get "https://${localName(tlsReg)}/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
      )
      return true
    })
  })

  test('a secure registry that speaks plain HTTP is refused, not downgraded', async () => {
    const c = client(await certsDir(plainReg, {}))
    await assert.rejects(repo(c, plainReg).statBlob(randomBlob(1).digest), (err: Error) => {
      assert.equal(
        err.message,
        `Get "https://${localName(plainReg)}/v2/": http: server gave HTTP response to HTTPS client`,
      )
      return true
    })
  })

  test('a registry listed as insecure is reached without verification', async () => {
    const c = client(await certsDir(tlsReg, {}), [localName(tlsReg)])
    const b = randomBlob(1000)
    const r = repo(c, tlsReg)
    await r.pushBlob(b.digest, b.size, opener(b))
    assert.equal(await r.statBlob(b.digest), b.size)
  })

  test('a registry listed as insecure that speaks HTTP is reached over HTTP', async () => {
    const c = client(await certsDir(plainReg, {}), [localName(plainReg)])
    assert.equal(await repo(c, plainReg).statBlob(randomBlob(1).digest), undefined)
  })

  test('client.cert and client.key are presented when the registry asks', async () => {
    const without = client(await certsDir(mtlsReg, { 'ca.crt': pki.caCert }))
    await assert.rejects(repo(without, mtlsReg).statBlob(randomBlob(1).digest), (err: Error) => {
      assert.ok(err instanceof Internal)
      // TLS 1.3 refuses the missing certificate after the handshake: the request sees the close.
      assert.match(
        err.message,
        /^Get "https:\/\/localhost:[0-9]+\/v2\/": (EOF|remote error: tls: (certificate required|bad certificate))$/,
      )
      return true
    })
    const c = client(
      await certsDir(mtlsReg, {
        'ca.crt': pki.caCert,
        'client.cert': pki.clientCert,
        'client.key': pki.clientKey,
      }),
    )
    const b = randomBlob(1000)
    const r = repo(c, mtlsReg)
    await r.pushBlob(b.digest, b.size, opener(b))
    assert.equal(await r.statBlob(b.digest), b.size)
  })

  test('a client certificate without its key, or a key alone, is refused in Docker’s words', async () => {
    const c = client(
      await certsDir(mtlsReg, { 'ca.crt': pki.caCert, 'client.cert': pki.clientCert }),
    )
    await assert.rejects(repo(c, mtlsReg).statBlob(randomBlob(1).digest), (err: Error) => {
      assert.ok(err instanceof InvalidArgument)
      assert.equal(
        err.message,
        'missing key client.key for client certificate client.cert. CA certificates must use the extension .crt',
      )
      return true
    })
    const k = client(await certsDir(mtlsReg, { 'client.key': pki.clientKey }))
    await assert.rejects(repo(k, mtlsReg).statBlob(randomBlob(1).digest), {
      message: 'missing client certificate client.cert for key client.key',
    })
  })
})
