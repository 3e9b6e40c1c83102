import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import { parseReference } from '../reference/reference.ts'
import {
  endpointsFor,
  isSecure,
  parseInsecureRegistries,
  registryOfServerAddress,
  splitHostPort,
} from './endpoint.ts'
import { Limiter } from './limit.ts'

const dns: Record<string, string[]> = {
  localhost: ['127.0.0.1', '::1'],
  'registry.example.com': ['203.0.113.7'],
  'lab.internal': ['10.1.2.3'],
}
const lookup = async (host: string): Promise<string[]> => {
  const a = dns[host]
  if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
  return a
}

describe('where an image lives', () => {
  test('Docker’s reference rules name the registry and the path on it', () => {
    const table: [string, string, string][] = [
      ['busybox', 'docker.io', 'library/busybox'],
      ['user/app:1', 'docker.io', 'user/app'],
      ['docker.io/library/busybox', 'docker.io', 'library/busybox'],
      ['index.docker.io/busybox', 'docker.io', 'library/busybox'],
      ['localhost:5000/app', 'localhost:5000', 'app'],
      ['localhost/app', 'localhost', 'app'],
      ['127.0.0.1:5000/a/b/c@sha256:' + 'a'.repeat(64), '127.0.0.1:5000', 'a/b/c'],
      ['registry.example.com/team/app', 'registry.example.com', 'team/app'],
      ['[::1]:5000/app', '[::1]:5000', 'app'],
    ]
    for (const [input, domain, path] of table) {
      const ref = parseReference(input)
      assert.deepEqual([ref.domain, ref.path], [domain, path], input)
    }
  })

  test('host and port', () => {
    assert.deepEqual(splitHostPort('localhost:5000'), { host: 'localhost', port: '5000' })
    assert.deepEqual(splitHostPort('[::1]:5000'), { host: '::1', port: '5000' })
    assert.deepEqual(splitHostPort('example.com'), { host: 'example.com', port: '' })
  })

  test('loopback and listed registries are insecure; the rest, and docker.io, are not', async () => {
    const insecure = parseInsecureRegistries(['lab.internal:5000', '192.0.2.0/24', 'http://old:80'])
    const table: [string, boolean][] = [
      ['docker.io', true],
      ['localhost:5000', false],
      ['127.0.0.1:5000', false],
      ['127.9.9.9', false],
      ['[::1]:5000', false],
      ['registry.example.com', true],
      ['registry.example.com:5000', true],
      ['lab.internal:5000', false],
      // Listed with a port, it is that port only; the address is not in a range.
      ['lab.internal', true],
      ['192.0.2.44:443', false],
      ['old:80', false],
      // Unresolvable: only the list could make it insecure.
      ['nowhere.test', true],
    ]
    for (const [name, secure] of table) {
      assert.equal(await isSecure(name, insecure, lookup), secure, name)
    }
  })

  test('the URLs tried: HTTPS, then HTTP for an insecure registry; Docker Hub’s API host', async () => {
    const insecure = parseInsecureRegistries([])
    assert.deepEqual(await endpointsFor('docker.io', insecure, lookup), [
      { name: 'docker.io', url: 'https://registry-1.docker.io', insecure: false, official: true },
    ])
    assert.deepEqual(await endpointsFor('registry.example.com:5000', insecure, lookup), [
      {
        name: 'registry.example.com:5000',
        url: 'https://registry.example.com:5000',
        insecure: false,
        official: false,
      },
    ])
    assert.deepEqual(await endpointsFor('localhost:5000', insecure, lookup), [
      { name: 'localhost:5000', url: 'https://localhost:5000', insecure: true, official: false },
      { name: 'localhost:5000', url: 'http://localhost:5000', insecure: true, official: false },
    ])
  })

  test('--insecure-registry values are checked with Docker’s words', () => {
    const bad: [string, string][] = [
      ['-lead', 'invalid index name (-lead). Cannot begin or end with a hyphen'],
      ['ftp://x', "insecure registry ftp://x should not contain '://'"],
      ['bad host!', 'insecure registry bad host! is not valid: invalid host "bad host!"'],
      ['host:99999', 'insecure registry host:99999 is not valid: invalid port "99999"'],
    ]
    for (const [v, msg] of bad) {
      assert.throws(
        () => parseInsecureRegistries([v]),
        (err: Error) => {
          assert.ok(err instanceof InvalidArgument)
          assert.equal(err.message, msg)
          return true
        },
      )
    }
    // docker.io is always secure, even when listed.
    assert.equal(parseInsecureRegistries(['docker.io', 'index.docker.io']).names.size, 0)
  })

  test('a login’s server address names its registry', () => {
    const table: [string | undefined, string][] = [
      [undefined, 'docker.io'],
      ['', 'docker.io'],
      ['https://index.docker.io/v1/', 'docker.io'],
      ['docker.io', 'docker.io'],
      ['localhost:5000', 'localhost:5000'],
      ['http://localhost:5000/', 'localhost:5000'],
      ['https://registry.example.com/v2/', 'registry.example.com'],
    ]
    for (const [addr, want] of table)
      assert.equal(registryOfServerAddress(addr), want, String(addr))
  })
})

function gate(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

describe('Limiter', () => {
  test('runs at most `size` at once, the rest in order, telling them they wait', async () => {
    const lim = new Limiter(2)
    const started: number[] = []
    const waited: number[] = []
    const gates = [0, 1, 2, 3].map(gate)
    const runs = gates.map((g, i) =>
      lim.run(
        async () => {
          started.push(i)
          await g.promise
          return i
        },
        { onWait: () => waited.push(i) },
      ),
    )
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(started, [0, 1])
    assert.deepEqual(waited, [2, 3])
    gates[1]!.resolve()
    await runs[1]
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(started, [0, 1, 2])
    assert.equal(lim.running, 2)
    for (const g of gates) g.resolve()
    assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3])
    assert.equal(lim.running, 0)
  })

  test('a task aborted while it waits gives its place up', async () => {
    const lim = new Limiter(1)
    const g = gate()
    const first = lim.run(() => g.promise)
    const ac = new AbortController()
    const second = lim.run(async () => 'ran', { signal: ac.signal })
    const third = lim.run(async () => 'third')
    ac.abort(new Error('gone'))
    await assert.rejects(second, { message: 'gone' })
    g.resolve()
    await first
    assert.equal(await third, 'third')
    assert.equal(lim.running, 0)
  })
})
