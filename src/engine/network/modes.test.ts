// Today's network modes behind the seam: what plan() checks and writes, where prepare() puts the
// container's network, and the NetworkSettings inspect shows.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { NotFound } from '../errors.ts'
import { LocalNetworks } from './modes.ts'
import { resolvConfFor } from './etc.ts'
import type { NetworkedContainer, NetworkPeer } from './types.ts'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-net-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

const peers = new Map<string, NetworkPeer>([
  ['web', { id: 'w'.repeat(64), dir: '/containers/web', running: true, pid: 4242 }],
  ['idle', { id: 'i'.repeat(64), dir: '/containers/idle', running: false, pid: 0 }],
])
const networks = new LocalNetworks({
  hostname: () => 'the-host',
  peers: {
    peer(ref) {
      const p = peers.get(ref)
      if (!p) throw new NotFound(`No such container: ${ref}`)
      return p
    },
  },
})

function ctr(hostConfig: NetworkedContainer['hostConfig'], hostname = ''): NetworkedContainer {
  return {
    id: 'a1b2c3d4e5f6'.padEnd(64, '0'),
    name: 'box',
    hostname,
    domainname: '',
    dir,
    exposedPorts: {},
    hostConfig,
    endpoints: {},
  }
}

describe('LocalNetworks', () => {
  test("drivers: host, and none's (null), by Docker's names", () => {
    assert.deepEqual(networks.drivers(), ['host', 'null'])
  })

  test('plan: a namespace of its own gets its ID as hostname and Docker hosts file', async () => {
    const p = await networks.plan(ctr({ NetworkMode: 'default' }))
    assert.deepEqual(p, { warnings: [], hostname: 'a1b2c3d4e5f6' })
    assert.equal(await readFile(join(dir, 'hostname'), 'utf8'), 'a1b2c3d4e5f6\n')
    const hosts = await readFile(join(dir, 'hosts'), 'utf8')
    assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m)
    assert.match(hosts, /^127\.0\.1\.1\ta1b2c3d4e5f6$/m)
    assert.doesNotMatch(await readFile(join(dir, 'resolv.conf'), 'utf8'), /nameserver 127\./)
    const named = await networks.plan(ctr({ NetworkMode: 'none' }, 'named'))
    assert.equal(named.hostname, 'named')
  })

  test("plan: --network host takes the host's name and files, and warns about ports", async () => {
    const p = await networks.plan(
      ctr({ NetworkMode: 'host', PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '80' }] } }),
    )
    assert.deepEqual(p, {
      warnings: ['Published ports are discarded when using host network mode'],
      hostname: 'the-host',
    })
    assert.equal(await readFile(join(dir, 'hostname'), 'utf8'), 'the-host\n')
    assert.equal(
      await readFile(join(dir, 'resolv.conf'), 'utf8'),
      await readFile('/etc/resolv.conf', 'utf8').catch(() => ''),
    )
  })

  test('plan refuses published ports where they cannot work, in Docker words', async () => {
    const ports = { '80/tcp': [{ HostIp: '', HostPort: '80' }] }
    await assert.rejects(networks.plan(ctr({ PortBindings: ports })), {
      status: 400,
      message: /port publishing \(-p, -P\) needs the bridge network/,
    })
    await assert.rejects(networks.plan(ctr({ NetworkMode: 'none', PublishAllPorts: true })), {
      message: 'conflicting options: port publishing and the container type network mode',
    })
    await assert.rejects(networks.plan(ctr({ NetworkMode: 'container:' })), {
      message: 'invalid network mode: container:',
    })
  })

  test('prepare: own namespace, the host, or a running peer; a named network is not found', async () => {
    assert.deepEqual(await networks.prepare(ctr({ NetworkMode: 'bridge' })), { etcDir: dir })
    assert.deepEqual(await networks.prepare(ctr({ NetworkMode: 'host' })), {
      hostNetwork: true,
      etcDir: dir,
    })
    assert.deepEqual(await networks.prepare(ctr({ NetworkMode: 'container:web' })), {
      netnsPath: '/proc/4242/ns/net',
      etcDir: '/containers/web',
    })
    await assert.rejects(networks.prepare(ctr({ NetworkMode: 'container:idle' })), {
      status: 409,
      message: `cannot join network of a non running container: ${'i'.repeat(64)}`,
    })
    await assert.rejects(networks.prepare(ctr({ NetworkMode: 'container:nope' })), {
      status: 404,
      message: 'No such container: nope',
    })
    await assert.rejects(networks.prepare(ctr({ NetworkMode: 'mynet' })), {
      status: 404,
      message: 'network mynet not found',
    })
  })

  test("settings: Docker's NetworkSettings shape, no endpoint", async () => {
    const s = await networks.settings(ctr({}), true)
    assert.deepEqual(s.Networks, {})
    assert.deepEqual(s.Ports, {})
    assert.equal(s.IPAddress, '')
    assert.equal(s.SecondaryIPAddresses, null)
  })

  test("resolv.conf: the host's resolvers less loopback ones; Google's when none is left", () => {
    assert.equal(
      resolvConfFor('search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n'),
      'search lan\nnameserver 10.0.0.1\n',
    )
    const fallback = resolvConfFor('nameserver ::1\n')
    assert.doesNotMatch(fallback, /::1/)
    assert.match(fallback, /^nameserver 8\.8\.8\.8\nnameserver 8\.8\.4\.4\n$/m)
  })
})
