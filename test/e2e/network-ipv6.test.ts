// IPv6 on user networks, end to end through the stock docker CLI: `network create --ipv6
// --subnet`, `--ip6`, the containers' IPv6 addresses, routes, /etc/hosts lines and AAAA names,
// traffic between containers over IPv6, a published port on the host's IPv6 address, an
// overlapping IPv6 subnet refused, and nothing left once containers and network are gone.
// berthd runs in the harness's scratch network namespace, its "host".
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SCRATCH_HOST_IP, importBusybox, startBerthd, type Berthd } from './harness.ts'
import { netKit, webServer } from './netkit.ts'

let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

const { dk, ok, onHost, get, leftovers, rmAll, hostnameOf } = netKit(() => d)

/**
 * GET / from inside a container, over nc (busybox's wget crashes on IPv6 literal URLs); the
 * body, or the error.
 */
async function httpFrom(container: string, addr: string, port: number): Promise<string> {
  const r = await dk([
    'exec',
    container,
    'sh',
    '-c',
    `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${addr} ${port}`,
  ])
  if (r.code !== 0) return `error: exit ${r.code}: ${r.stderr}`
  return r.stdout.split('\r\n\r\n')[1] ?? `no body: ${r.stdout}`
}

const inspect = async (fmt: string, ...what: string[]): Promise<string> =>
  (await ok(['inspect', '-f', fmt, ...what])).trim()

describe('IPv6 on user networks', () => {
  test('network create --ipv6: both subnets in IPAM, overlaps and bad input refused', async () => {
    await ok(['network', 'create', '--ipv6', '--subnet', 'fd00:beef::/64', 'v6net'])
    assert.equal(await ok(['network', 'inspect', '-f', '{{.EnableIPv6}}', 'v6net']), 'true\n')
    const ipam = JSON.parse(
      await ok(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'v6net']),
    ) as { Subnet: string; Gateway?: string }[]
    // As dockerd: an IPv4 subnet is chosen too (with its gateway), then the IPv6 one as given.
    assert.equal(ipam.length, 2, JSON.stringify(ipam))
    assert.match(ipam[0]?.Subnet ?? '', /^10\.\d+\.\d+\.0\/24$/)
    assert.ok(ipam[0]?.Gateway)
    assert.deepEqual(ipam[1], { Subnet: 'fd00:beef::/64' })
    const overlap = await dk(['network', 'create', '--ipv6', '--subnet', 'fd00:beef::/80', 'ov6'])
    assert.equal(overlap.code, 1)
    assert.match(overlap.stderr, /Pool overlaps with other one on this address space/)
    // A gateway of one's own, and a subnet chosen for --ipv6 alone (a unique local /64).
    await ok([
      'network',
      'create',
      '--ipv6',
      '--subnet',
      'fd00:cafe::/64',
      '--gateway',
      'fd00:cafe::fe',
      'gw6',
    ])
    const gw = JSON.parse(
      await ok(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'gw6']),
    ) as { Subnet: string; Gateway?: string }[]
    assert.deepEqual(gw[1], { Subnet: 'fd00:cafe::/64', Gateway: 'fd00:cafe::fe' })
    await ok(['network', 'create', '--ipv6', 'auto6'])
    const auto = JSON.parse(
      await ok(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'auto6']),
    ) as { Subnet: string; Gateway?: string }[]
    assert.match(auto[1]?.Subnet ?? '', /^fd[0-9a-f]{2}:[0-9a-f:]+\/64$/)
    await ok(['network', 'rm', 'gw6', 'auto6'])
    const noV6 = await dk(['network', 'create', '--subnet', 'fd00:1::/64', 'nov6'])
    assert.equal(noV6.code, 1)
    assert.match(noV6.stderr, /needs IPv6 enabled/)
    const outside = await dk([
      'run',
      '--rm',
      '--network',
      'v6net',
      '--ip6',
      'fd00:1::5',
      'busybox',
      'true',
    ])
    assert.equal(outside.code, 125)
    assert.match(outside.stderr, /Invalid address fd00:1::5: It does not belong to any/)
  })

  test('containers get their IPv6 address, route, /etc/hosts line and AAAA name', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'six',
      '--network',
      'v6net',
      '--ip6',
      'fd00:beef::a',
      '-p',
      '8086:80',
      'busybox',
      ...webServer([80]),
    ])
    await ok(['run', '-d', '--name', 'peer', '--network', 'v6net', 'busybox', 'sleep', '600'])
    const net = '{{range .NetworkSettings.Networks}}'
    assert.equal(
      await inspect(
        `${net}{{.GlobalIPv6Address}} {{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}}{{end}}`,
        'six',
      ),
      'fd00:beef::a 64 fd00:beef::1',
    )
    assert.equal(await inspect(`${net}{{.IPAMConfig.IPv6Address}}{{end}}`, 'six'), 'fd00:beef::a')
    // The lowest free address: ::1 is the gateway's.
    assert.equal(await inspect(`${net}{{.GlobalIPv6Address}}{{end}}`, 'peer'), 'fd00:beef::2')
    const netInspect = JSON.parse(
      await ok(['network', 'inspect', '-f', '{{json .Containers}}', 'v6net']),
    ) as Record<string, { Name: string; IPv6Address: string }>
    const six = Object.values(netInspect).find((e) => e.Name === 'six')
    assert.equal(six?.IPv6Address, 'fd00:beef::a/64')

    const addr = await ok(['exec', 'six', 'ip', '-6', 'addr', 'show', 'eth0'])
    assert.match(addr, /inet6 fd00:beef::a\/64 scope global/)
    const route = await ok(['exec', 'six', 'ip', '-6', 'route', 'show', 'default'])
    assert.match(route, /^default via fd00:beef::1 dev eth0/m)
    const hostname = await hostnameOf('six')
    const hosts = await ok(['exec', 'six', 'cat', '/etc/hosts'])
    assert.match(hosts, new RegExp(`^fd00:beef::a\\t${hostname}$`, 'm'))
    assert.match(hosts, /^10\.\d+\.\d+\.\d+\t/m)

    // By name over IPv6: aardvark-dns answers AAAA, and the traffic goes between the two.
    const aaaa = await dk(['exec', 'peer', 'busybox', 'nslookup', '-type=AAAA', 'six'])
    assert.match(aaaa.stdout, /fd00:beef::a/, aaaa.stdout + aaaa.stderr)
    const ping = await dk(['exec', 'peer', 'busybox', 'ping', '-6', '-c', '1', '-W', '5', 'six'])
    assert.equal(ping.code, 0, ping.stdout + ping.stderr)
    assert.match(ping.stdout, /fd00:beef::a/)
    assert.equal(await httpFrom('peer', 'fd00:beef::a', 80), `${hostname}\n`)
  })

  test('a published port answers on the host IPv6 address as on its IPv4 ones', async () => {
    // The scratch host gets a global IPv6 address, as a host on an IPv6 network has.
    await onHost(['ip', 'addr', 'add', '2001:db8:5::1/64', 'dev', 'uplink0', 'nodad'])
    const hostname = await hostnameOf('six')
    assert.equal(await get('http://[2001:db8:5::1]:8086/'), `${hostname}\n`)
    assert.equal(await get(`http://${SCRATCH_HOST_IP}:8086/`), `${hostname}\n`)
    assert.equal(await get('http://127.0.0.1:8086/'), `${hostname}\n`)
    // From the other container, through the host's IPv6 address.
    assert.equal(await httpFrom('peer', '2001:db8:5::1', 8086), `${hostname}\n`)
  })

  test('connect --ip6 to a running container, and everything goes with the network', async () => {
    await ok(['network', 'create', '--ipv6', '--subnet', 'fd00:d00d::/64', 'second6'])
    await ok(['network', 'connect', '--ip6', 'fd00:d00d::77', 'second6', 'peer'])
    const addr = await ok(['exec', 'peer', 'ip', '-6', 'addr', 'show', 'eth1'])
    assert.match(addr, /inet6 fd00:d00d::77\/64 scope global/)
    assert.match(await onHost(['nft', 'list', 'tables']), /^table ip6 berth$/m)
    await rmAll()
    await ok(['network', 'rm', 'v6net', 'second6'])
    assert.deepEqual(await leftovers(), [])
    assert.doesNotMatch(await onHost(['ip', '-6', 'addr']), /fd00:/)
  })
})

describe('IPv6 on the default bridge (dockerd --ipv6 --fixed-cidr-v6)', () => {
  let d6: Berthd
  before(async () => {
    d6 = await startBerthd({ args: ['--ipv6', '--fixed-cidr-v6', 'fd00:dead::/64'] })
    await importBusybox(d6)
  })
  after(async () => {
    await d6?.stop()
  })
  const k = netKit(() => d6)

  test('the default bridge has the IPv6 subnet; containers get addresses and published ports', async () => {
    assert.equal(await k.ok(['network', 'inspect', '-f', '{{.EnableIPv6}}', 'bridge']), 'true\n')
    const ipam = JSON.parse(
      await k.ok(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'bridge']),
    ) as { Subnet: string; Gateway?: string }[]
    assert.deepEqual(ipam[1], { Subnet: 'fd00:dead::/64', Gateway: 'fd00:dead::1' })
    await k.ok(['run', '-d', '--name', 'web6', '-p', '8087:80', 'busybox', ...webServer([80])])
    const top = await k.ok([
      'inspect',
      '-f',
      '{{.NetworkSettings.GlobalIPv6Address}} {{.NetworkSettings.GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}}',
      'web6',
    ])
    assert.equal(top, 'fd00:dead::2 64 fd00:dead::1\n')
    const hostname = await k.hostnameOf('web6')
    await k.onHost(['ip', 'addr', 'add', '2001:db8:6::1/64', 'dev', 'uplink0', 'nodad'])
    assert.equal(await k.get('http://[2001:db8:6::1]:8087/'), `${hostname}\n`)
    assert.equal(await k.get('http://[fd00:dead::2]:80/'), `${hostname}\n`)
    // --ip6 is for user networks only, as in Docker.
    const fixed = await k.dk(['run', '--rm', '--ip6', 'fd00:dead::9', 'busybox', 'true'])
    assert.equal(fixed.code, 125)
    assert.match(
      fixed.stderr,
      /user specified IP address is supported on user defined networks only/,
    )
    await k.rmAll()
    assert.deepEqual(await k.leftovers(), [])
  })
})
