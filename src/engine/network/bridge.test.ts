// The bridge NetworkManager driven directly, with real namespaces, nftables, aardvark-dns and
// real traffic. The test process runs in a scratch network namespace of its own (so nothing
// touches the host's), with a peer namespace on a veth pair as the world outside. Containers
// are their namespaces here; servers and clients run inside them with nsenter.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { join } from 'node:path'
import { nullLogger } from '../logger.ts'
import { BridgeNetworking } from './bridge.ts'
import { isNetnsMounted } from './netns.ts'
import {
  ask,
  askHere,
  enterScratchNetns,
  inNetns,
  lookup,
  networkLeftovers,
  startServer,
  type ScratchNet,
  type Server,
} from './testing.ts'
import type {
  NetworkContainers,
  NetworkPeers,
  NetworkedContainer,
  PreparedNetwork,
} from './types.ts'

let scratch: ScratchNet
let tmp: string
let root: string
const servers: Server[] = []

/** The containers the fake lifecycle knows: config, and whether each runs. */
const known = new Map<string, { c: NetworkedContainer; running: boolean }>()
const lookupContainers: NetworkContainers = {
  get(ref) {
    const hit =
      known.get(ref) ??
      [...known.values()].find((k) => k.c.name === ref) ??
      [...known.values()].find((k) => k.c.id.startsWith(ref))
    if (!hit)
      return Promise.reject(Object.assign(new Error(`No such container: ${ref}`), { status: 404 }))
    return Promise.resolve({ container: hit.c, running: hit.running })
  },
  locked: (_id, fn) => fn(),
}

/** A container's "process" for container:NAME: a sleep inside its namespace. */
const pids = new Map<string, number>()
const peers: NetworkPeers = {
  peer(ref) {
    const hit = [...known.values()].find((k) => k.c.id === ref || k.c.name === ref)
    if (!hit) throw Object.assign(new Error(`No such container: ${ref}`), { status: 404 })
    return {
      id: hit.c.id,
      dir: hit.c.dir,
      running: hit.running,
      pid: hit.running ? (pids.get(hit.c.id) ?? 0) : 0,
    }
  },
}

let seq = 0
async function container(
  name: string,
  hostConfig: NetworkedContainer['hostConfig'] = {},
  more: Partial<NetworkedContainer> = {},
): Promise<NetworkedContainer> {
  seq++
  const id = `${String(seq).padStart(4, '0')}${'ab'.repeat(30)}`
  const dir = join(tmp, 'containers', id)
  await mkdir(dir, { recursive: true })
  const c: NetworkedContainer = {
    id,
    name,
    hostname: id.slice(0, 12),
    domainname: '',
    dir,
    exposedPorts: {},
    hostConfig,
    endpoints: {},
    ...more,
  }
  known.set(id, { c, running: false })
  return c
}

let nets: BridgeNetworking
async function makeNets(): Promise<BridgeNetworking> {
  const n = new BridgeNetworking({
    root,
    containers: lookupContainers,
    peers,
    logger: nullLogger,
    hostname: () => 'the-host',
    hostFiles: { resolvConf: join(tmp, 'resolv.conf'), hosts: join(tmp, 'hosts') },
  })
  await n.init()
  return n
}

/** create + start, as the lifecycle would call them. */
async function start(c: NetworkedContainer): Promise<PreparedNetwork> {
  await nets.manager.plan(c)
  const p = await nets.manager.prepare(c)
  ;(known.get(c.id) as { running: boolean }).running = true
  return p
}

async function stop(c: NetworkedContainer): Promise<void> {
  ;(known.get(c.id) as { running: boolean }).running = false
  await nets.manager.release(c)
}

async function remove(c: NetworkedContainer): Promise<void> {
  await stop(c)
  await nets.manager.remove(c)
  known.delete(c.id)
}

async function serve(
  netns: string | undefined,
  proto: 'tcp' | 'udp',
  host: string,
  port: number,
  tag: string,
) {
  servers.push(await startServer(netns, proto, host, port, tag))
}

before(async () => {
  scratch = await enterScratchNetns()
  tmp = await mkdtemp('/tmp/bt-bridge-')
  root = join(tmp, 'network')
  await writeFile(
    join(tmp, 'resolv.conf'),
    'search corp.example\nnameserver 127.0.0.53\nnameserver 198.51.100.53\n',
  )
  await writeFile(join(tmp, 'hosts'), '127.0.0.1\tlocalhost\n')
  nets = await makeNets()
})

after(async () => {
  for (const s of servers) s.stop()
  for (const { c } of [...known.values()]) await remove(c).catch(() => undefined)
  const left = await networkLeftovers(root)
  await rm(tmp, { recursive: true, force: true })
  await scratch.close()
  assert.deepEqual(left, [], 'berth left these behind')
})

describe('default bridge', () => {
  let web: NetworkedContainer
  let webNetns: string
  let webIp: string

  test('the default bridge avoids the host routes and has Docker shape', async () => {
    const list = await nets.api.list()
    assert.deepEqual(
      list.map((n) => [n.Name, n.Driver]),
      [
        ['bridge', 'bridge'],
        ['host', 'host'],
        ['none', 'null'],
      ],
    )
    const bridge = await nets.api.inspect('bridge')
    assert.equal(bridge.IPAM.Config[0]?.Subnet, '10.66.0.0/16')
    assert.equal(bridge.Options['com.docker.network.bridge.name'], 'berth0')
    assert.equal(bridge.Options['com.docker.network.bridge.default_bridge'], 'true')
  })

  test('a container gets an address, /etc files as Docker writes them, and published ports', async () => {
    web = await container(
      'web',
      {
        PortBindings: {
          '80/tcp': [{ HostIp: '', HostPort: '8080' }],
          '81/tcp': [{ HostIp: '127.0.0.1', HostPort: '8081' }],
          '53/udp': [{ HostIp: '', HostPort: '5353' }],
        },
        ExtraHosts: ['gw:host-gateway', 'foo:1.2.3.4'],
      },
      { exposedPorts: { '80/tcp': {}, '7000/tcp': {} } },
    )
    const p = await start(web)
    assert.ok(p.netnsPath && (await isNetnsMounted(p.netnsPath)))
    assert.equal(p.etcDir, web.dir)
    webNetns = p.netnsPath as string
    const s = await nets.manager.settings(web, true)
    webIp = s.IPAddress
    assert.equal(webIp, '10.66.0.2')
    assert.equal(s.Gateway, '10.66.0.1')
    assert.equal(s.IPPrefixLen, 16)
    assert.equal(s.MacAddress, '02:42:0a:42:00:02')
    assert.equal(s.Networks.bridge?.IPAddress, '10.66.0.2')
    assert.deepEqual(s.Ports, {
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }],
      '7000/tcp': null,
      '81/tcp': [{ HostIp: '127.0.0.1', HostPort: '8081' }],
      '53/udp': [{ HostIp: '0.0.0.0', HostPort: '5353' }],
    })
    const ipLine = await inNetns(webNetns, ['ip', '-4', '-o', 'addr', 'show', 'eth0'])
    assert.match(ipLine, /inet 10\.66\.0\.2\/16/)
    const hosts = await readFile(join(web.dir, 'hosts'), 'utf8')
    assert.match(hosts, /\n10\.66\.0\.1\tgw\n1\.2\.3\.4\tfoo\n10\.66\.0\.2\t[0-9a-f]{12}\n$/)
    // The host's loopback resolver is of no use inside: only the other one is kept.
    assert.equal(
      await readFile(join(web.dir, 'resolv.conf'), 'utf8'),
      'search corp.example\nnameserver 198.51.100.53\n',
    )
    await serve(webNetns, 'tcp', '0.0.0.0', 80, 'web80')
    await serve(webNetns, 'tcp', '0.0.0.0', 81, 'web81')
    await serve(webNetns, 'udp', '0.0.0.0', 53, 'web53')
  })

  test('published ports answer on the host address and on 127.0.0.1', async () => {
    assert.match(await askHere('tcp', scratch.hostIp, 8080), /^web80 /)
    assert.match(await askHere('tcp', '127.0.0.1', 8080), /^web80 /)
    assert.match(await askHere('tcp', '127.0.0.1', 8081), /^web81 /)
    assert.match(await askHere('udp', scratch.hostIp, 5353), /^web53 /)
    // Bound to 127.0.0.1 only: not on the other address.
    assert.match(await askHere('tcp', scratch.hostIp, 8081), /^error /)
    // And from the peer outside, through the host's address.
    assert.match(
      await ask(scratch.peerNetns, 'tcp', scratch.hostIp, 8080),
      /^web80 198\.51\.100\.2$/,
    )
  })

  test('another container reaches it by address and through the host address; outbound is NATed', async () => {
    const client = await container('client')
    const p = await start(client)
    const cns = p.netnsPath as string
    assert.match(await ask(cns, 'tcp', webIp, 80), /^web80 10\.66\.0\.3$/)
    assert.match(await ask(cns, 'tcp', scratch.hostIp, 8080), /^web80 /)
    await serve(scratch.peerNetns, 'tcp', scratch.peerIp, 7000, 'peer')
    // The peer sees the host's address, not the container's.
    assert.equal(await ask(cns, 'tcp', scratch.peerIp, 7000), `peer ${scratch.hostIp}`)
    await remove(client)
  })

  test('a host port taken by another container is refused in Docker words, leaving nothing', async () => {
    const second = await container('second', {
      PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
    })
    await nets.manager.plan(second)
    await assert.rejects(nets.manager.prepare(second), {
      status: 500,
      message:
        /^driver failed programming external connectivity on endpoint second \([0-9a-f]{64}\): Bind for 0\.0\.0\.0:8080 failed: port is already allocated$/,
    })
    assert.equal(await isNetnsMounted(join(root, 'netns', second.id)), false)
    assert.deepEqual((await nets.manager.settings(second, false)).Ports, {})
    // Its address went back too: the next container gets the one it would have had.
    const third = await container('third')
    await start(third)
    assert.equal((await nets.manager.settings(third, true)).IPAddress, '10.66.0.3')
    await remove(third)
    await remove(second)
  })

  test('a host port a host process listens on is refused', async () => {
    const srv = net.createServer().listen(8090, '0.0.0.0')
    await new Promise((r) => srv.once('listening', r))
    try {
      const c = await container('busy', {
        PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8090' }] },
      })
      await nets.manager.plan(c)
      await assert.rejects(nets.manager.prepare(c), {
        message:
          /: failed to bind host port for 0\.0\.0\.0:8090:10\.66\.0\.3:80\/tcp: address already in use$/,
      })
      await remove(c)
    } finally {
      srv.close()
    }
  })

  test('-p CTR and -P take free ports from the ephemeral range; ranges publish one by one', async () => {
    const c = await container(
      'free',
      {
        PortBindings: {
          '5000/tcp': [{ HostIp: '', HostPort: '' }],
          '5001/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }],
          '9000/udp': [{ HostIp: '', HostPort: '9000' }],
          '9001/udp': [{ HostIp: '', HostPort: '9001' }],
        },
        PublishAllPorts: true,
      },
      { exposedPorts: { '6000/tcp': {}, '5000/tcp': {} } },
    )
    const p = await start(c)
    const ports = (await nets.manager.settings(c, true)).Ports
    const range = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'))
      .trim()
      .split(/\s+/)
      .map(Number)
    for (const key of ['5000/tcp', '5001/tcp', '6000/tcp']) {
      const hp = Number(ports[key]?.[0]?.HostPort)
      assert.ok(hp >= (range[0] as number) && hp <= (range[1] as number), `${key} -> ${hp}`)
    }
    assert.equal(ports['5001/tcp']?.[0]?.HostIp, '127.0.0.1')
    await serve(p.netnsPath, 'tcp', '0.0.0.0', 6000, 'six')
    await serve(p.netnsPath, 'udp', '0.0.0.0', 9001, 'udp9001')
    assert.match(
      await askHere('tcp', scratch.hostIp, Number(ports['6000/tcp']?.[0]?.HostPort)),
      /^six /,
    )
    assert.match(await askHere('udp', '127.0.0.1', 9001), /^udp9001 /)
    await remove(c)
  })
})

describe('user-defined networks', () => {
  let netId: string
  test('create, inspect and the errors Docker gives', async () => {
    const r = await nets.api.create({ Name: 'appnet', Labels: { tier: 'app' } })
    netId = r.Id
    assert.match(netId, /^[0-9a-f]{64}$/)
    const n = await nets.api.inspect('appnet')
    assert.equal(n.IPAM.Config[0]?.Subnet, '10.67.0.0/24')
    assert.equal(n.IPAM.Config[0]?.Gateway, '10.67.0.1')
    assert.deepEqual(n.Labels, { tier: 'app' })
    assert.equal((await nets.api.inspect(netId.slice(0, 6))).Name, 'appnet')
    await assert.rejects(nets.api.create({ Name: 'appnet' }), {
      status: 409,
      message: 'network with name appnet already exists',
    })
    await assert.rejects(
      nets.api.create({ Name: 'ov', IPAM: { Config: [{ Subnet: '10.67.0.128/25' }] } }),
      {
        status: 403,
        message: 'Pool overlaps with other one on this address space',
      },
    )
    await assert.rejects(nets.api.inspect('nosuch'), {
      status: 404,
      message: 'network nosuch not found',
    })
    await assert.rejects(nets.api.remove('bridge'), {
      status: 403,
      message: 'bridge is a pre-defined network and cannot be removed',
    })
    await assert.rejects(nets.api.create({ Name: 'host' }), { status: 403 })
    await assert.rejects(nets.api.create({ Name: 'x', Driver: 'overlay' }), {
      status: 404,
      message: 'plugin "overlay" not found',
    })
    await assert.rejects(
      nets.api.create({
        Name: 'gw',
        IPAM: { Config: [{ Subnet: '10.90.0.0/24', Gateway: '10.91.0.1' }] },
      }),
      {
        status: 400,
        message: 'failed to allocate gateway (10.91.0.1): Requested address is out of range',
      },
    )
  })

  test('containers resolve each other by name, alias and short ID; links and --dns work', async () => {
    await nets.api.create({
      Name: 'static',
      IPAM: { Config: [{ Subnet: '10.88.5.0/24', IPRange: '10.88.5.128/25' }] },
    })
    const db = await container(
      'db',
      { NetworkMode: 'appnet' },
      { endpoints: { appnet: { Aliases: ['database'] } } },
    )
    const dbp = await start(db)
    const app = await container('app', {
      NetworkMode: 'appnet',
      Links: ['db:pg'],
      Dns: ['198.51.100.2'],
      DnsOptions: ['timeout:1'],
    })
    const appp = await start(app)
    const ans = await nets.manager.settings(app, true)
    const gw = ans.Networks.appnet?.Gateway as string
    assert.equal(gw, '10.67.0.1')
    const dbIp = (await nets.manager.settings(db, true)).Networks.appnet?.IPAddress as string
    for (const name of ['db', 'database', db.id.slice(0, 12)]) {
      assert.deepEqual(await lookup(appp.netnsPath as string, name, gw), [dbIp], name)
    }
    assert.deepEqual((await nets.manager.settings(db, true)).Networks.appnet?.DNSNames, [
      'db',
      'database',
      db.id.slice(0, 12),
    ])
    // Docker's resolv.conf on a user network: its DNS server, with the upstream --dns behind it.
    assert.equal(
      await readFile(join(app.dir, 'resolv.conf'), 'utf8'),
      `search corp.example\nnameserver ${gw}\noptions timeout:1 ndots:0\n`,
    )
    assert.match(
      await readFile(join(app.dir, 'hosts'), 'utf8'),
      new RegExp(`\\n${dbIp}\\tpg ${db.id.slice(0, 12)} db\\n`),
    )
    // The top-level fields are the default bridge's only, as in Docker.
    assert.equal(ans.IPAddress, '')
    await serve(dbp.netnsPath, 'tcp', '0.0.0.0', 5432, 'pg')
    assert.match(await ask(appp.netnsPath as string, 'tcp', dbIp, 5432), /^pg /)
    // A network is its own: a container on the default bridge cannot reach it.
    const outsider = await container('outsider')
    const op = await start(outsider)
    assert.match(await ask(op.netnsPath as string, 'tcp', dbIp, 5432), /^error /)

    const inspect = await nets.api.inspect('appnet')
    assert.deepEqual(
      Object.values(inspect.Containers)
        .map((e) => e.Name)
        .sort(),
      ['app', 'db'],
    )
    await assert.rejects(nets.api.remove('appnet'), {
      status: 403,
      message: `error while removing network: network appnet id ${netId} has active endpoints`,
    })
    await remove(outsider)
    await remove(app)
    await remove(db)
  })

  test('--ip, --mac-address, and a second container with the same address', async () => {
    const a = await container(
      'sa',
      { NetworkMode: 'static' },
      {
        endpoints: {
          static: { IPAMConfig: { IPv4Address: '10.88.5.50' }, MacAddress: '02:42:0a:58:05:99' },
        },
      },
    )
    const ap = await start(a)
    const link = await inNetns(ap.netnsPath as string, ['ip', '-o', 'link', 'show', 'eth0'])
    assert.match(link, /link\/ether 02:42:0a:58:05:99/)
    const s = await nets.manager.settings(a, true)
    assert.equal(s.Networks.static?.IPAddress, '10.88.5.50')
    assert.deepEqual(s.Networks.static?.IPAMConfig, { IPv4Address: '10.88.5.50' })
    // Dynamic addresses come from the IP range.
    const d = await container('sd', { NetworkMode: 'static' })
    await start(d)
    assert.equal((await nets.manager.settings(d, true)).Networks.static?.IPAddress, '10.88.5.128')
    const b = await container(
      'sb',
      { NetworkMode: 'static' },
      {
        endpoints: { static: { IPAMConfig: { IPv4Address: '10.88.5.50' } } },
      },
    )
    await nets.manager.plan(b)
    await assert.rejects(nets.manager.prepare(b), {
      status: 403,
      message: 'Address already in use',
    })
    const bad = await container(
      'bad',
      { NetworkMode: 'appnet' },
      {
        endpoints: { appnet: { IPAMConfig: { IPv4Address: '10.67.0.9' } } },
      },
    )
    await assert.rejects(nets.manager.plan(bad), {
      status: 400,
      message:
        'user specified IP address is supported only when connecting to networks with user configured subnets',
    })
    const outside = await container(
      'out',
      { NetworkMode: 'static' },
      {
        endpoints: { static: { IPAMConfig: { IPv4Address: '10.1.1.1' } } },
      },
    )
    await assert.rejects(nets.manager.plan(outside), {
      message: "Invalid address 10.1.1.1: It does not belong to any of this network's subnets",
    })
    for (const c of [a, b, d, bad, outside]) await remove(c)
  })

  test('an internal network has names but no way out', async () => {
    await nets.api.create({ Name: 'inside', Internal: true })
    const c = await container('in1', { NetworkMode: 'inside' })
    const p = await start(c)
    const routes = await inNetns(p.netnsPath as string, ['ip', 'route'])
    assert.doesNotMatch(routes, /default/)
    assert.match(await ask(p.netnsPath as string, 'tcp', scratch.peerIp, 7000), /^error /)
    await remove(c)
    await nets.api.remove('inside')
  })

  test('networks are isolated from each other; the same network and the host reach in', async () => {
    const a = await container('iso-a', { NetworkMode: 'appnet' })
    const ap = await start(a)
    const b = await container('iso-b')
    const bp = await start(b)
    const c = await container('iso-c', { NetworkMode: 'appnet' })
    const cp = await start(c)
    const aIp = (await nets.manager.settings(a, true)).Networks.appnet?.IPAddress as string
    await serve(ap.netnsPath, 'tcp', '0.0.0.0', 7100, 'iso-a')
    // From the default bridge: dropped between the bridges (Docker's isolation).
    assert.match(await ask(bp.netnsPath as string, 'tcp', aIp, 7100), /^error /)
    // From the same network and from the host: answered.
    assert.match(await ask(cp.netnsPath as string, 'tcp', aIp, 7100), /^iso-a /)
    assert.match(await askHere('tcp', aIp, 7100), /^iso-a /)
    for (const x of [a, b, c]) await remove(x)
  })

  test('connect and disconnect a running container', async () => {
    const a = await container('ca')
    const ap = await start(a)
    const b = await container('cb', { NetworkMode: 'appnet' })
    await start(b)
    await nets.api.connect('appnet', 'ca', { Aliases: ['second-name'] })
    const s = await nets.manager.settings(a, true)
    assert.deepEqual(Object.keys(s.Networks).sort(), ['appnet', 'bridge'])
    assert.match(
      await inNetns(ap.netnsPath as string, ['ip', '-o', 'addr', 'show', 'eth1']),
      /inet 10\.67\.0\./,
    )
    const gw = s.Networks.appnet?.Gateway as string
    const bns = (await nets.manager.settings(b, true)).SandboxKey
    assert.deepEqual(await lookup(bns, 'second-name', gw), [s.Networks.appnet?.IPAddress])
    await assert.rejects(nets.api.connect('appnet', 'ca'), {
      status: 403,
      message: 'endpoint with name ca already exists in network appnet',
    })
    await assert.rejects(nets.api.connect('host', 'ca'), {
      status: 400,
      message: 'container cannot be disconnected from host network or connected to host network',
    })
    await nets.api.disconnect('appnet', 'ca')
    assert.deepEqual(Object.keys((await nets.manager.settings(a, true)).Networks), ['bridge'])
    await assert.rejects(inNetns(ap.netnsPath as string, ['ip', 'link', 'show', 'eth1']))
    await assert.rejects(nets.api.disconnect('appnet', 'ca'), {
      message: /is not connected to network appnet$/,
    })
    // A stopped container is connected in its record only, and gets the network at start.
    await stop(a)
    await nets.api.connect('appnet', 'ca')
    const again = await nets.manager.prepare(a)
    ;(known.get(a.id) as { running: boolean }).running = true
    assert.match(
      await inNetns(again.netnsPath as string, ['ip', '-o', 'addr', 'show', 'eth1']),
      /10\.67\.0\./,
    )
    await remove(a)
    await remove(b)
  })
})

describe('modes', () => {
  test('none has loopback only; host shares the host; container: joins another', async () => {
    // none: the runtime's own namespace (loopback only), nothing made on the host.
    const none = await container('nonet', { NetworkMode: 'none' }, { hostname: '' })
    assert.deepEqual(await nets.manager.plan(none), {
      warnings: [],
      hostname: none.id.slice(0, 12),
    })
    const np = await nets.manager.prepare(none)
    assert.deepEqual(np, { etcDir: none.dir })
    assert.deepEqual(Object.keys((await nets.manager.settings(none, true)).Networks), ['none'])
    assert.doesNotMatch(await readFile(join(none.dir, 'hosts'), 'utf8'), /10\.|berth/)

    const host = await container(
      'hostnet',
      { NetworkMode: 'host', PortBindings: { '80/tcp': [] } },
      { hostname: '' },
    )
    assert.deepEqual(await nets.manager.plan(host), {
      warnings: ['Published ports are discarded when using host network mode'],
      hostname: 'the-host',
    })
    const hp = await nets.manager.prepare(host)
    assert.deepEqual(hp, { hostNetwork: true, etcDir: host.dir })

    // container:NAME joins the other's process's namespace and sees its /etc files.
    const target = await container('target')
    const tp = await start(target)
    const sleeper = spawn('nsenter', [`--net=${tp.netnsPath}`, 'sleep', '600'], { stdio: 'ignore' })
    pids.set(target.id, sleeper.pid as number)
    try {
      const joiner = await container('joiner', { NetworkMode: 'container:target' })
      const jp = await start(joiner)
      assert.deepEqual(jp, { netnsPath: `/proc/${sleeper.pid}/ns/net`, etcDir: target.dir })
      await remove(joiner)
    } finally {
      sleeper.kill('SIGKILL')
    }
    await assert.rejects(
      nets.manager.plan(
        await container('j2', { NetworkMode: 'container:target', PortBindings: { '80/tcp': [] } }),
      ),
      { message: 'conflicting options: port publishing and the container type network mode' },
    )
    await stop(target)
    await assert.rejects(
      nets.manager.prepare(await container('j3', { NetworkMode: 'container:target' })),
      {
        status: 409,
        message: `cannot join network of a non running container: ${target.id}`,
      },
    )
    for (const c of [none, host, target]) await remove(c)
    await assert.rejects(
      nets.manager.plan(
        await container('badport', {
          PortBindings: { '80/tcp': [{ HostIp: '', HostPort: 'abc' }] },
        }),
      ),
      { status: 400, message: 'invalid port specification: "abc"' },
    )
    // As dockerd: create succeeds, start says not found, and works once the network exists.
    const nf = await container('nf', { NetworkMode: 'later' })
    await nets.manager.plan(nf)
    await assert.rejects(nets.manager.prepare(nf), {
      status: 404,
      message: 'network later not found',
    })
    await nets.api.create({ Name: 'later' })
    const lp = await nets.manager.prepare(nf)
    ;(known.get(nf.id) as { running: boolean }).running = true
    assert.deepEqual(Object.keys((await nets.manager.settings(nf, true)).Networks), ['later'])
    assert.ok(lp.netnsPath)
    await remove(nf)
    await nets.api.remove('later')
  })
})

describe('restarts', () => {
  test('a new daemon keeps running containers as they are and releases the rest', async () => {
    const keep = await container('keep', {
      PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8181' }] },
    })
    const kp = await start(keep)
    await serve(kp.netnsPath, 'tcp', '0.0.0.0', 80, 'keep')
    const gone = await container('gone', { NetworkMode: 'appnet' })
    const gp = await start(gone)
    // The old daemon is "killed": nothing of it is asked to clean up. A new one starts.
    ;(known.get(gone.id) as { running: boolean }).running = false
    nets = await makeNets()
    await nets.manager.reconcile([keep], [keep, gone])
    assert.match(await askHere('tcp', scratch.hostIp, 8181), /^keep /)
    assert.equal(await isNetnsMounted(gp.netnsPath as string), false)
    assert.equal((await nets.manager.settings(keep, true)).Ports['80/tcp']?.[0]?.HostPort, '8181')
    // The new daemon knows the port is held.
    const clash = await container('clash', {
      PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8181' }] },
    })
    await nets.manager.plan(clash)
    await assert.rejects(nets.manager.prepare(clash), { message: /port is already allocated/ })
    await remove(clash)
    await remove(gone)
    await remove(keep)
  })

  test('after a reboot the records are cleared and the stale files removed', async () => {
    const c = await container('rebooted')
    await start(c)
    await stop(c)
    // What a reboot leaves: a record claiming a namespace from another boot, and a plain file.
    const recPath = join(root, 'containers', `${c.id}.json`)
    const rec = JSON.parse(await readFile(recPath, 'utf8'))
    const stale = join(root, 'netns', c.id)
    rec.live = {
      bootId: 'another-boot',
      netns: stale,
      sandboxId: 'x',
      endpoints: [],
      ports: [],
      setups: [],
    }
    await writeFile(recPath, JSON.stringify(rec))
    await writeFile(stale, '')
    nets = await makeNets()
    await nets.manager.reconcile([], [c])
    await assert.rejects(readFile(stale))
    assert.equal(JSON.parse(await readFile(recPath, 'utf8')).live, undefined)
    await remove(c)
  })

  test('prune removes unused user networks', async () => {
    await nets.api.create({ Name: 'spare', Labels: { keep: 'no' } })
    const r = await nets.api.prune({ label: ['keep=no'] })
    assert.deepEqual(r, { NetworksDeleted: ['spare'] })
    const all = await nets.api.prune()
    assert.deepEqual(all.NetworksDeleted, ['appnet', 'static'])
    assert.deepEqual(
      (await nets.api.list()).map((n) => n.Name),
      ['bridge', 'host', 'none'],
    )
  })
})

test('the leftover check sees what a running container holds', async () => {
  await nets.api.create({ Name: 'leaky' })
  const c = await container('leaky1', {
    NetworkMode: 'leaky',
    PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8282' }] },
  })
  await start(c)
  const left = (await networkLeftovers(root)).join('\n')
  assert.match(left, /^device berth[0-9a-f]{10}$/m)
  assert.match(left, /^nftables table ip berth$/m)
  assert.match(left, new RegExp(`^namespace ${root}/netns/${c.id}$`, 'm'))
  assert.match(left, /^process \d+ .*aardvark-dns --config /m)
  await remove(c)
  await nets.api.remove('leaky')
  assert.deepEqual(await networkLeftovers(root), [])
  // Nothing is left of netavark's either: berth no longer runs it.
  assert.deepEqual(await networkLeftovers(root, { skeleton: true }), [])
})
