// Bridge networking end to end, through the stock docker CLI (and berth's beside it): published
// ports with real traffic on the host's address and on 127.0.0.1, port/ps/inspect as Docker
// shows them, user networks with names, connect and disconnect on running containers, the
// /etc files, outbound NAT to a peer, and what lasts across a daemon `kill -9` and a host
// reboot. berthd runs in the harness's scratch network namespace, which is its "host": every
// client that reaches a published port runs there too (nsenter).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  SCRATCH_HOST_IP,
  berth,
  docker,
  importBusybox,
  startBerthd,
  type Berthd,
  type RunResult,
} from './harness.ts'
import { startServer, type Server } from '../../src/engine/network/testing.ts'

const exec = promisify(execFile)
let d: Berthd
let tmp: string

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
  tmp = await mkdtemp('/tmp/bt-nete2e-')
})

after(async () => {
  await d?.stop()
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

const dk = (args: string[]): Promise<RunResult> => docker(args, { host: d })

/** docker ARGS, which must succeed; its stdout. */
async function ok(args: string[]): Promise<string> {
  const r = await dk(args)
  assert.equal(r.code, 0, `docker ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
  return r.stdout
}

/** A command on berthd's host (its network namespace); stdout, or throws with stderr. */
async function onHost(argv: string[]): Promise<string> {
  const netns = d.netns as string
  const r = await exec('nsenter', [`--net=${netns}`, '--', ...argv], { timeout: 30_000 })
  return r.stdout
}

/**
 * GET url from the host; the body, or `error: ...`. A server in a container that was just
 * started may not listen yet: refused connections are retried for a few seconds.
 */
async function get(url: string): Promise<string> {
  try {
    return await onHost([
      'curl',
      '-sS',
      '--max-time',
      '5',
      '--retry',
      '5',
      '--retry-connrefused',
      '--retry-delay',
      '1',
      url,
    ])
  } catch (err) {
    return `error: ${(err as { stderr?: string }).stderr ?? String(err)}`
  }
}

/** A web server container: each port serves its name (the hostname) at /. */
function webServer(ports: number[]): string[] {
  const serve = ports.map((p, i) =>
    i === ports.length - 1
      ? `exec busybox httpd -f -p ${p} -h /www`
      : `busybox httpd -p ${p} -h /www`,
  )
  return ['sh', '-c', ['mkdir /www', 'hostname > /www/index.html', ...serve].join('; ')]
}

/** berth's rules, devices and namespaces on the host (its network namespace). */
async function leftovers(): Promise<string[]> {
  const out: string[] = []
  const links = await onHost(['ip', '-o', 'link'])
  for (const l of links.split('\n')) {
    const name = l.split(':')[1]?.trim().split('@')[0] ?? ''
    if (name.startsWith('berth') || name.startsWith('veth')) out.push(`device ${name}`)
  }
  const rules = await onHost(['iptables-save'])
  for (const l of rules.split('\n')) {
    if (/^:NETAVARK-(DN-)?[0-9A-F]{13} /.test(l)) out.push(`chain ${l.split(' ')[0]}`)
    else if (/^-A .*(dnat name: |-j NETAVARK-(DN-)?[0-9A-F]{13})/.test(l)) out.push(`rule ${l}`)
  }
  const { stdout } = await exec('findmnt', ['-rn', '-o', 'TARGET'])
  for (const m of stdout.split('\n')) {
    if (m.startsWith(join(d.dataRoot, 'network'))) out.push(`mount ${m}`)
  }
  return out
}

async function rmAll(): Promise<void> {
  const ids = (await ok(['ps', '-aq'])).split('\n').filter((l) => l !== '')
  if (ids.length > 0) await ok(['rm', '-f', ...ids])
}

describe('published ports', () => {
  let hostPort81 = ''

  test('-p answers on the host address and on 127.0.0.1, also from another container', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'web',
      '--hostname',
      'web-host',
      '-p',
      '8080:80',
      '-p',
      '127.0.0.1::81',
      '-p',
      '9000-9001:9000-9001',
      '--expose',
      '90',
      'busybox',
      ...webServer([81, 9000, 9001, 80]),
    ])
    assert.equal(await get(`http://${SCRATCH_HOST_IP}:8080/`), 'web-host\n')
    assert.equal(await get('http://127.0.0.1:8080/'), 'web-host\n')
    assert.equal(await get(`http://${SCRATCH_HOST_IP}:9001/`), 'web-host\n')
    hostPort81 = (await ok(['port', 'web', '81'])).trim().split(':')[1] ?? ''
    assert.match(hostPort81, /^\d+$/)
    assert.equal(await get(`http://127.0.0.1:${hostPort81}/`), 'web-host\n')
    // Published on 127.0.0.1 only: not on the host's other addresses.
    assert.match(await get(`http://${SCRATCH_HOST_IP}:${hostPort81}/`), /^error: /)
    // Another container reaches it through the host's address.
    const other = await dk([
      'run',
      '--rm',
      'busybox',
      'timeout',
      '5',
      'wget',
      '-qO-',
      `http://${SCRATCH_HOST_IP}:8080/`,
    ])
    assert.equal(other.code, 0, other.stderr)
    assert.equal(other.stdout, 'web-host\n')
  })

  test('port, ps and inspect show the mappings as Docker does; berth ps matches docker ps', async () => {
    assert.equal(
      await ok(['port', 'web']),
      [
        '80/tcp -> 0.0.0.0:8080',
        `81/tcp -> 127.0.0.1:${hostPort81}`,
        '9000/tcp -> 0.0.0.0:9000',
        '9001/tcp -> 0.0.0.0:9001',
        '',
      ].join('\n'),
    )
    assert.equal(await ok(['port', 'web', '80/tcp']), '0.0.0.0:8080\n')
    const none = await dk(['port', 'web', '90'])
    assert.equal(none.code, 1)
    assert.equal(none.stderr, "Error: No public port '90' published for web\n")
    const ourNone = await berth(['port', 'web', '90'], { host: d })
    assert.deepEqual([ourNone.code, ourNone.stderr], [1, none.stderr])
    const ports = `90/tcp, 0.0.0.0:9000-9001->9000-9001/tcp, 0.0.0.0:8080->80/tcp, 127.0.0.1:${hostPort81}->81/tcp`
    assert.equal(await ok(['ps', '--format', '{{.Ports}}']), `${ports}\n`)
    const ours = await berth(['ps', '--format', '{{.Ports}}'], { host: d })
    assert.equal(ours.stdout, `${ports}\n`, ours.stderr)
    const ourPort = await berth(['port', 'web'], { host: d })
    assert.equal(ourPort.stdout, await ok(['port', 'web']))

    const s = JSON.parse(await ok(['inspect', '-f', '{{json .NetworkSettings}}', 'web']))
    assert.deepEqual(s.Ports, {
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }],
      '81/tcp': [{ HostIp: '127.0.0.1', HostPort: hostPort81 }],
      '90/tcp': null,
      '9000/tcp': [{ HostIp: '0.0.0.0', HostPort: '9000' }],
      '9001/tcp': [{ HostIp: '0.0.0.0', HostPort: '9001' }],
    })
    const bridge = JSON.parse(await ok(['network', 'inspect', 'bridge']))[0]
    const ep = s.Networks.bridge
    assert.equal(ep.NetworkID, bridge.Id)
    assert.equal(ep.Gateway, bridge.IPAM.Config[0].Gateway)
    assert.equal(s.IPAddress, ep.IPAddress)
    assert.equal(s.Gateway, ep.Gateway)
    assert.match(ep.MacAddress, /^02:42(:[0-9a-f]{2}){4}$/)
    assert.match(s.SandboxKey, /\/network\/netns\/[0-9a-f]{64}$/)
    // The default bridge is berth's own, clear of Docker's 172.17.0.0/16.
    assert.match(bridge.IPAM.Config[0].Subnet, /^10\.6[56]\.0\.0\/16$/)
    assert.equal(bridge.Options['com.docker.network.bridge.name'], 'berth0')
    assert.deepEqual(Object.keys(bridge.Containers), [
      JSON.parse(await ok(['inspect', 'web']))[0].Id,
    ])
  })

  test('-P publishes every exposed port on a free host port', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'pub',
      '--expose',
      '7000',
      '-P',
      'busybox',
      ...webServer([7000]),
    ])
    const line = (await ok(['port', 'pub', '7000'])).trim()
    assert.match(line, /^0\.0\.0\.0:\d+$/)
    assert.equal(
      await get(`http://${SCRATCH_HOST_IP}:${line.split(':')[1]}/`),
      `${await hostnameOf('pub')}\n`,
    )
    await ok(['rm', '-f', 'pub'])
  })

  test('a host port already taken is refused in Docker words and leaves nothing made', async () => {
    const before = await leftovers()
    const r = await dk(['run', '-d', '--name', 'clash', '-p', '8080:80', 'busybox', 'sleep', '60'])
    assert.equal(r.code, 125)
    assert.match(
      r.stderr,
      /driver failed programming external connectivity on endpoint clash \([0-9a-f]+\): Bind for 0\.0\.0\.0:8080 failed: port is already allocated/,
    )
    assert.equal(await ok(['inspect', '-f', '{{.State.Status}}', 'clash']), 'created\n')
    assert.deepEqual(await leftovers(), before)
    await ok(['rm', 'clash'])
    const bad = await dk(['run', '--rm', '-p', '80:abc', 'busybox', 'true'])
    assert.equal(bad.code, 125)
    assert.match(bad.stderr, /invalid (containerPort|port)/i)
  })
})

async function hostnameOf(name: string): Promise<string> {
  return (await ok(['inspect', '-f', '{{.Config.Hostname}}', name])).trim()
}

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
})

describe('state lasts', () => {
  test('after berthd is killed (-9) and restarted, running containers keep their network and ports', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'api',
      '--network',
      'shop',
      '-p',
      '8181:80',
      'busybox',
      ...webServer([80]),
    ])
    const apiHost = await hostnameOf('api')
    assert.equal(await get(`http://${SCRATCH_HOST_IP}:8181/`), `${apiHost}\n`)
    await d.kill9()
    // The daemon is gone; the published ports are the kernel's and keep answering.
    assert.equal(await get(`http://${SCRATCH_HOST_IP}:8181/`), `${apiHost}\n`)
    assert.equal(await get(`http://${SCRATCH_HOST_IP}:8080/`), 'web-host\n')
    await d.restart()
    assert.equal(await get(`http://127.0.0.1:8181/`), `${apiHost}\n`)
    const byName = await dk(['exec', 'db', 'timeout', '5', 'wget', '-qO-', 'http://api/'])
    assert.equal(byName.stdout, `${apiHost}\n`, byName.stderr)
    assert.equal((await ok(['port', 'api'])).trim(), '80/tcp -> 0.0.0.0:8181')
    // The new daemon knows what is held: the port and the addresses.
    const clash = await dk([
      'run',
      '-d',
      '--name',
      'clash2',
      '-p',
      '8181:80',
      'busybox',
      'sleep',
      '60',
    ])
    assert.equal(clash.code, 125)
    assert.match(clash.stderr, /port is already allocated/)
    await ok(['rm', 'clash2'])
    const ips = JSON.parse(
      await ok(['network', 'inspect', '-f', '{{json .Containers}}', 'shop']),
    ) as Record<string, { IPv4Address: string }>
    const fresh = await ok([
      'run',
      '--rm',
      '--network',
      'shop',
      'busybox',
      'ip',
      '-o',
      '-4',
      'addr',
      'show',
      'eth0',
    ])
    const freshIp = /inet ([0-9.]+\/24)/.exec(fresh)?.[1]
    assert.ok(freshIp && !Object.values(ips).some((c) => c.IPv4Address === freshIp), fresh)
    // Stopping and removing after the restart takes everything down.
    await ok(['rm', '-f', 'api'])
    assert.doesNotMatch((await leftovers()).join('\n'), /8181/)
  })

  test('after a host reboot, restart-always containers get their network and ports back', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'always',
      '--restart',
      'always',
      '--network',
      'shop',
      '-p',
      '8282:80',
      'busybox',
      ...webServer([80]),
    ])
    await ok(['run', '-d', '--name', 'stopped', '--network', 'shop', 'busybox', 'sleep', '600'])
    await ok(['stop', '-t', '0', 'stopped'])
    await d.rebootHost()
    const alwaysHost = await hostnameOf('always')
    assert.equal(await ok(['inspect', '-f', '{{.State.Running}}', 'always']), 'true\n')
    assert.equal(await get(`http://${SCRATCH_HOST_IP}:8282/`), `${alwaysHost}\n`)
    assert.equal(await get(`http://127.0.0.1:8282/`), `${alwaysHost}\n`)
    // The containers that ran before are stopped; they start again with their networks.
    await ok(['start', 'web', 'db', 'stopped'])
    assert.equal(await get(`http://${SCRATCH_HOST_IP}:8080/`), 'web-host\n')
    const byName = await dk(['exec', 'stopped', 'timeout', '5', 'wget', '-qO-', 'http://always/'])
    assert.equal(byName.stdout, `${alwaysHost}\n`, byName.stderr)
    const db = await dk(['exec', 'always', 'timeout', '5', 'wget', '-qO-', 'http://database/'])
    assert.equal(db.stdout, `${await hostnameOf('db')}\n`, db.stderr)
  })

  test('removing every container and network leaves no rule, device or namespace', async () => {
    await rmAll()
    await ok(['network', 'rm', 'shop'])
    assert.deepEqual(await leftovers(), [])
  })
})
