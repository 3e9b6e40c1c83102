// User-defined networks end to end, through the stock docker CLI: create/ls/inspect/connect/
// disconnect/rm, names, aliases and links resolving, --ip and --mac-address, the /etc files as
// Docker writes them, and outbound NAT to a peer namespace the test makes. berthd runs in the
// harness's scratch network namespace, its "host".
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { SCRATCH_HOST_IP, importBusybox, startBerthd, type Berthd } from './harness.ts'
import { netKit, webServer } from './netkit.ts'
import { startServer, type Server } from '../../src/engine/network/testing.ts'

const exec = promisify(execFile)

let d: Berthd
let tmp: string

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
  tmp = await mkdtemp('/tmp/bt-nete2e-')
  // A web server publishing 8080 on the default bridge, for connect and disconnect.
  await ok([
    'run',
    '-d',
    '--name',
    'web',
    '--hostname',
    'web-host',
    '-p',
    '8080:80',
    'busybox',
    ...webServer([80]),
  ])
})

after(async () => {
  await d?.stop()
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

const { dk, ok, onHost, get, leftovers, rmAll, hostnameOf } = netKit(() => d)

describe('user-defined networks', () => {
  test('network create, ls, inspect, connect and rm; names, aliases and links resolve', async () => {
    const id = (
      await ok(['network', 'create', '--subnet', '10.90.0.0/24', '--label', 'app=shop', 'shop'])
    ).trim()
    assert.match(id, /^[0-9a-f]{64}$/)
    const ls = await ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}'])
    assert.deepEqual(ls.trim().split('\n').sort(), [
      'bridge bridge local',
      'host host local',
      'none null local',
      'shop bridge local',
    ])
    const net = JSON.parse(await ok(['network', 'inspect', 'shop']))[0]
    assert.equal(net.Id, id)
    assert.deepEqual(net.IPAM.Config, [{ Subnet: '10.90.0.0/24' }])
    assert.deepEqual(net.Labels, { app: 'shop' })

    await ok([
      'run',
      '-d',
      '--name',
      'db',
      '--network',
      'shop',
      '--network-alias',
      'database',
      'busybox',
      ...webServer([80]),
    ])
    const dbHost = await hostnameOf('db')
    for (const name of ['db', 'database', dbHost]) {
      const r = await dk([
        'run',
        '--rm',
        '--network',
        'shop',
        'busybox',
        'timeout',
        '5',
        'wget',
        '-qO-',
        `http://${name}/`,
      ])
      assert.equal(r.code, 0, `${name}: ${r.stderr}`)
      assert.equal(r.stdout, `${dbHost}\n`)
    }
    const linked = await dk([
      'run',
      '--rm',
      '--network',
      'shop',
      '--link',
      'db:store',
      'busybox',
      'timeout',
      '5',
      'wget',
      '-qO-',
      'http://store/',
    ])
    assert.equal(linked.stdout, `${dbHost}\n`, linked.stderr)
    // The default bridge has no names.
    const noName = await dk([
      'run',
      '--rm',
      'busybox',
      'timeout',
      '3',
      'wget',
      '-qO-',
      'http://db/',
    ])
    assert.notEqual(noName.code, 0)

    // connect and disconnect a running container (web, on the default bridge).
    await ok(['network', 'connect', '--alias', 'front', 'shop', 'web'])
    const ifaces = await ok(['exec', 'web', 'ls', '/sys/class/net'])
    assert.equal(ifaces, 'eth0\neth1\nlo\n')
    const viaAlias = await dk(['exec', 'db', 'timeout', '5', 'wget', '-qO-', 'http://front/'])
    assert.equal(viaAlias.stdout, 'web-host\n', viaAlias.stderr)
    const nets = JSON.parse(
      await ok(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'web']),
    )
    assert.deepEqual(Object.keys(nets).sort(), ['bridge', 'shop'])
    assert.match(nets.shop.IPAddress, /^10\.90\.0\.\d+$/)
    assert.deepEqual(nets.shop.Aliases, ['front'])
    await ok(['network', 'disconnect', 'shop', 'web'])
    assert.equal(await ok(['exec', 'web', 'ls', '/sys/class/net']), 'eth0\nlo\n')
    const gone = await dk(['exec', 'db', 'timeout', '3', 'wget', '-qO-', 'http://front/'])
    assert.notEqual(gone.code, 0)
    // Published ports still answer after the other network went.
    assert.equal(await get(`http://${SCRATCH_HOST_IP}:8080/`), 'web-host\n')

    const inUse = await dk(['network', 'rm', 'shop'])
    assert.equal(inUse.code, 1)
    assert.match(
      inUse.stderr,
      /error while removing network: network shop id [0-9a-f]{64} has active endpoints/,
    )
  })

  test('--ip, --mac-address, a taken address, an overlapping subnet, an unknown network', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'fixed',
      '--network',
      'shop',
      '--ip',
      '10.90.0.50',
      '--mac-address',
      '02:42:0a:5a:00:99',
      'busybox',
      'sleep',
      '600',
    ])
    const addr = await ok(['exec', 'fixed', 'ip', '-o', '-4', 'addr', 'show', 'eth0'])
    assert.match(addr, /inet 10\.90\.0\.50\/24/)
    assert.match(
      await ok(['exec', 'fixed', 'cat', '/sys/class/net/eth0/address']),
      /^02:42:0a:5a:00:99$/m,
    )
    const taken = await dk([
      'run',
      '-d',
      '--name',
      'fixed2',
      '--network',
      'shop',
      '--ip',
      '10.90.0.50',
      'busybox',
      'sleep',
      '60',
    ])
    assert.equal(taken.code, 125)
    assert.match(taken.stderr, /Address already in use/)
    await ok(['rm', 'fixed2'])
    const overlap = await dk(['network', 'create', '--subnet', '10.90.0.128/25', 'overlap'])
    assert.equal(overlap.code, 1)
    assert.match(overlap.stderr, /Pool overlaps with other one on this address space/)
    // As dockerd: the container is made, its start says the network is not found.
    const unknown = await dk(['run', '--name', 'lost', '--network', 'nosuch', 'busybox', 'true'])
    assert.equal(unknown.code, 125)
    assert.match(unknown.stderr, /Error response from daemon: network nosuch not found/)
    await ok(['rm', 'lost'])
    const onDefault = await dk(['run', '--rm', '--ip', '10.66.0.99', 'busybox', 'true'])
    assert.equal(onDefault.code, 125)
    assert.match(
      onDefault.stderr,
      /user specified IP address is supported on user defined networks only/,
    )
    await ok(['rm', '-f', 'fixed'])
  })

  test('/etc files as Docker writes them; --add-host, --dns, --dns-search, --dns-option', async () => {
    const onBridge = await ok([
      'run',
      '--rm',
      '--hostname',
      'box',
      '--add-host',
      'gw:host-gateway',
      '--add-host',
      'foo:192.0.2.7',
      '--dns',
      '192.0.2.53',
      '--dns-search',
      'example.org',
      '--dns-option',
      'ndots:2',
      'busybox',
      'sh',
      '-c',
      'cat /etc/hostname /etc/hosts /etc/resolv.conf; ip -o -4 addr show eth0',
    ])
    const ip = /inet ([0-9.]+)\//.exec(onBridge)?.[1] ?? ''
    const gateway = JSON.parse(await ok(['network', 'inspect', 'bridge']))[0].IPAM.Config[0].Gateway
    assert.ok(
      onBridge.startsWith(
        [
          'box',
          '127.0.0.1\tlocalhost',
          '::1\tlocalhost ip6-localhost ip6-loopback',
          'fe00::0\tip6-localnet',
          'ff00::0\tip6-mcastprefix',
          'ff02::1\tip6-allnodes',
          'ff02::2\tip6-allrouters',
          `${gateway}\tgw`,
          '192.0.2.7\tfoo',
          `${ip}\tbox`,
          'search example.org',
          'nameserver 192.0.2.53',
          'options ndots:2',
          '',
        ].join('\n'),
      ),
      onBridge,
    )
    // On a user network the network's DNS server is the only nameserver.
    const onShop = await ok([
      'run',
      '--rm',
      '--network',
      'shop',
      'busybox',
      'cat',
      '/etc/resolv.conf',
    ])
    assert.match(onShop, /^nameserver 10\.90\.0\.1$/m)
    assert.doesNotMatch(onShop.replace(/^nameserver 10\.90\.0\.1$/m, ''), /nameserver/)
    assert.match(onShop, /^options ndots:0$/m)
  })

  test('--link on the default bridge sets the environment variables Docker sets', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'ldb',
      '-e',
      'DB_USER=me',
      '-e',
      'HOME=/x',
      '--expose',
      '5432',
      '--expose',
      '53/udp',
      'busybox',
      'sleep',
      '600',
    ])
    const ip = (await ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'ldb'])).trim()
    assert.match(ip, /^10\.66\.\d+\.\d+$/)
    const env = (
      await ok([
        'run',
        '--rm',
        '--name',
        'lclient',
        '--link',
        'ldb:my-db',
        '-e',
        'MINE=1',
        'busybox',
        'env',
      ])
    ).split('\n')
    // dockerd 20.10's variables and order: Docker's defaults, the links', then the container's.
    assert.deepEqual(
      env.filter((l) => l.startsWith('MY_DB_')),
      [
        `MY_DB_PORT=udp://${ip}:53`,
        `MY_DB_PORT_53_UDP=udp://${ip}:53`,
        `MY_DB_PORT_53_UDP_ADDR=${ip}`,
        'MY_DB_PORT_53_UDP_PORT=53',
        'MY_DB_PORT_53_UDP_PROTO=udp',
        `MY_DB_PORT_5432_TCP=tcp://${ip}:5432`,
        `MY_DB_PORT_5432_TCP_ADDR=${ip}`,
        'MY_DB_PORT_5432_TCP_PORT=5432',
        'MY_DB_PORT_5432_TCP_PROTO=tcp',
        'MY_DB_NAME=/lclient/my-db',
        'MY_DB_ENV_DB_USER=me',
      ],
    )
    assert.match(env[0] ?? '', /^PATH=/)
    assert.match(env[1] ?? '', /^HOSTNAME=/)
    assert.equal(env.indexOf('MINE=1'), env.indexOf('MY_DB_ENV_DB_USER=me') + 1)
    // An exec gets them too, as dockerd gives it (its environment is the container's).
    await ok(
      ['run', '-d', '--name', 'lexec', '--link', 'ldb:my-db', '-e', 'MINE=1'].concat([
        'busybox',
        'sleep',
        '600',
      ]),
    )
    const execEnv = (await ok(['exec', 'lexec', 'env'])).split('\n')
    assert.deepEqual(
      execEnv.filter((l) => l.startsWith('MY_DB_') || l === 'MINE=1'),
      env
        .filter((l) => l.startsWith('MY_DB_') || l === 'MINE=1')
        .map((l) => l.replace('/lclient/', '/lexec/')),
    )
    await ok(['rm', '-f', 'lexec'])
    // Without an alias the name is the alias; the container's own value wins over a link's.
    const plain = await ok([
      'run',
      '--rm',
      '--link',
      'ldb',
      '-e',
      'LDB_NAME=mine',
      'busybox',
      'env',
    ])
    assert.match(plain, /^LDB_PORT_5432_TCP_ADDR=10\.66\./m)
    assert.match(plain, /^LDB_NAME=mine$/m)
    // A container's own Config.Env does not hold them.
    const created = (await ok(['create', '--link', 'ldb:x', 'busybox', 'true'])).trim()
    assert.equal((await ok(['inspect', '-f', '{{json .Config.Env}}', created])).trim(), 'null')
    await ok(['rm', '-f', 'ldb', created])
  })

  test('outbound traffic is masqueraded behind the host address', async () => {
    // A machine outside: a namespace on a link of its own from the host.
    const peer = join(tmp, 'peer')
    await writeFile(peer, '')
    await exec('unshare', [`--net=${peer}`, 'ip', 'link', 'set', 'lo', 'up'])
    const inPeer = (argv: string[]) => exec('nsenter', [`--net=${peer}`, '--', ...argv])
    let server: Server | undefined
    try {
      await onHost([
        'ip',
        'link',
        'add',
        'out0',
        'type',
        'veth',
        'peer',
        'name',
        'out1',
        'netns',
        peer,
      ])
      await onHost(['ip', 'addr', 'add', '203.0.113.1/24', 'dev', 'out0'])
      await onHost(['ip', 'link', 'set', 'out0', 'up'])
      await inPeer(['ip', 'addr', 'add', '203.0.113.2/24', 'dev', 'out1'])
      await inPeer(['ip', 'link', 'set', 'out1', 'up'])
      server = await startServer(peer, 'tcp', '0.0.0.0', 7777, 'peer')
      const r = await dk(['run', '--rm', 'busybox', 'nc', '203.0.113.2', '7777'])
      assert.equal(r.stdout, 'peer 203.0.113.1\n', r.stderr)
    } finally {
      server?.stop()
      // The link goes with the peer's namespace.
      await exec('umount', [peer]).catch(() => undefined)
    }
  })

  test('removing every container and network leaves no rule, device or namespace', async () => {
    await rmAll()
    await ok(['network', 'rm', 'shop'])
    assert.deepEqual(await leftovers(), [])
  })
})
