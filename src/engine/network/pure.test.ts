// Table tests for the network module's pure parts: addresses and subnets, port bindings,
// /etc files, filters and links.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidArgument } from '../errors.ts'
import { parseLink } from './bridge.ts'
import { hostsFile, parseExtraHosts, resolvConf, upstreamServers } from './etc.ts'
import { listFilter, pruneFilter, type FilterSubject } from './filters.ts'
import { linkEnv } from './links.ts'
import {
  formatCidr,
  formatIPv4,
  macForIPv4,
  overlaps,
  parseCidr,
  parseIPv4,
  parseMac,
  parseProcRoutes,
  requireCidr,
} from './ipv4.ts'
import {
  contains6,
  formatCidr6,
  formatIPv6,
  overlaps6,
  parseCidr6,
  parseIPv6,
  randomUla64,
} from './ipv6.ts'
import { baseRules, networkUp, portsAdd } from './nft.ts'
import { nftPorts } from './plumbing.ts'
import { netavarkPorts, parseHostPort, portMap, portRequests, type PortMapping } from './ports.ts'

describe('ipv4', () => {
  test('parses and formats addresses, refusing what is not dotted quad', () => {
    for (const [s, want] of [
      ['10.66.0.1', '10.66.0.1'],
      ['0.0.0.0', '0.0.0.0'],
      ['255.255.255.255', '255.255.255.255'],
    ] as const) {
      const n = parseIPv4(s)
      assert.notEqual(n, undefined, s)
      assert.equal(formatIPv4(n as number), want)
    }
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', 'a.b.c.d', '', '::1']) {
      assert.equal(parseIPv4(bad), undefined, bad)
    }
  })

  test('subnets keep their network part and overlap as Docker checks', () => {
    assert.equal(formatCidr(requireCidr('10.10.0.7/24')), '10.10.0.0/24')
    assert.equal(parseCidr('10.5.0.0/33'), undefined)
    assert.throws(() => requireCidr('10.5.0.0/33'), {
      message: 'invalid subnet 10.5.0.0/33: invalid CIDR address: 10.5.0.0/33',
    })
    assert.throws(() => requireCidr('fd00::/64'), InvalidArgument)
    assert.ok(overlaps(requireCidr('10.10.0.0/24'), requireCidr('10.10.0.0/25')))
    assert.ok(overlaps(requireCidr('10.0.0.0/8'), requireCidr('10.10.5.0/24')))
    assert.ok(!overlaps(requireCidr('10.10.0.0/24'), requireCidr('10.10.1.0/24')))
  })

  test('reads the host routes from /proc/net/route, default route left out', () => {
    const text = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    ].join('\n')
    assert.deepEqual(parseProcRoutes(text).map(formatCidr), ['192.0.2.0/24', '172.17.0.0/16'])
  })

  test('MAC addresses: Docker-style from the address, and user ones checked', () => {
    assert.equal(macForIPv4(parseIPv4('172.17.0.2') as number), '02:42:ac:11:00:02')
    assert.equal(parseMac('02:42:AC:11:00:99'), '02:42:ac:11:00:99')
    assert.equal(parseMac('02-42-ac-11-00-99'), '02:42:ac:11:00:99')
    assert.equal(parseMac('02:42:ac:11:00'), undefined)
  })
})

describe('ipv6', () => {
  test('parses any spelling and prints RFC 5952 text, as Docker prints addresses', () => {
    for (const [s, want] of [
      ['fd00:beef::a', 'fd00:beef::a'],
      ['FD00:BEEF:0:0:0:0:0:A', 'fd00:beef::a'],
      ['::', '::'],
      ['::1', '::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0db8:0000:0001:0000:0000:0000:0000', '2001:db8:0:1::'],
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ] as const) {
      const n = parseIPv6(s)
      assert.notEqual(n, undefined, s)
      assert.equal(formatIPv6(n as bigint), want, s)
    }
    for (const bad of ['', '10.0.0.1', 'fd00::1::2', 'fe80::1%eth0', 'g::1', '[::1]']) {
      assert.equal(parseIPv6(bad), undefined, bad)
    }
  })

  test('subnets: host bits cleared, containment and overlap', () => {
    const a = parseCidr6('fd00:beef::5/64')
    assert.equal(a && formatCidr6(a), 'fd00:beef::/64')
    assert.equal(parseCidr6('fd00::/129'), undefined)
    assert.equal(parseCidr6('fd00::'), undefined)
    const b = parseCidr6('fd00:beef::/80')
    const c = parseCidr6('fd00:beee::/64')
    assert.ok(a && b && c)
    assert.equal(overlaps6(a, b), true)
    assert.equal(overlaps6(b, a), true)
    assert.equal(overlaps6(a, c), false)
    assert.equal(contains6(a, parseIPv6('fd00:beef::ffff') as bigint), true)
    assert.equal(contains6(a, parseIPv6('fd00:bef0::1') as bigint), false)
    const u = randomUla64()
    assert.equal(u.prefix, 64)
    assert.match(formatCidr6(u), /^fd[0-9a-f]{2}:/)
  })

  test("the ip6 table's rules and port elements use IPv6 addresses", () => {
    const rules = baseRules('ip6')
    assert.match(rules, /add table ip6 berth/)
    assert.match(rules, /type ipv6_addr : verdict; flags interval/)
    assert.match(rules, /dnat ip6 to ip6 daddr \. meta l4proto \. th dport map @hp_ip/)
    assert.match(rules, /ip6 saddr vmap @post_src/)
    // No 127.0.0.0/8 rule: the loopback path exists for IPv4 only.
    assert.doesNotMatch(rules, /127\.0\.0\.0/)
    assert.doesNotMatch(baseRules('ip'), /ipv6_addr/)
    const up = networkUp({ device: 'berthx', subnet: 'fd00:beef::/64', internal: false }, 'ip6')
    assert.match(up, /add element ip6 berth post_src \{ fd00:beef::\/64 : jump n-berthx-post \}/)
    // A port on every address goes to both families; one on an address only to its own.
    const o = {
      container_id: 'c',
      container_name: 'n',
      networks: {},
      network_info: {},
      port_mappings: [
        { host_ip: '', container_port: 80, host_port: 8080, range: 1, protocol: 'tcp' },
        { host_ip: '127.0.0.1', container_port: 81, host_port: 8081, range: 1, protocol: 'tcp' },
        { host_ip: '2001:db8::1', container_port: 82, host_port: 8082, range: 1, protocol: 'tcp' },
      ],
    }
    assert.deepEqual(
      nftPorts(o, 'fd00:beef::2').map((p) => p.hostPort),
      [8080, 8082],
    )
    assert.deepEqual(
      nftPorts(o, '10.67.0.2').map((p) => p.hostPort),
      [8080, 8081],
    )
    assert.equal(
      portsAdd(nftPorts(o, 'fd00:beef::2').slice(0, 1), 'ip6'),
      'add element ip6 berth hp_any { tcp . 8080 : fd00:beef::2 . 80 }\n',
    )
  })
})

describe('ports', () => {
  test('PortBindings and -P become requests, checked in Docker words', () => {
    const reqs = portRequests(
      { '80/tcp': {}, '90/udp': {}, '7000/tcp': {} },
      {
        '80/tcp': [{ HostIp: '', HostPort: '8080' }],
        '81/tcp': [{ HostIp: '127.0.0.1', HostPort: '8081' }],
        '5000/tcp': [{ HostIp: '', HostPort: '' }],
        '9000/udp': [{ HostIp: '0.0.0.0', HostPort: '9000-9002' }],
      },
      true,
    )
    assert.deepEqual(reqs, [
      { proto: 'tcp', containerPort: 80, hostIp: '', hostPorts: { first: 8080, last: 8080 } },
      {
        proto: 'tcp',
        containerPort: 81,
        hostIp: '127.0.0.1',
        hostPorts: { first: 8081, last: 8081 },
      },
      { proto: 'tcp', containerPort: 5000, hostIp: '' },
      { proto: 'udp', containerPort: 9000, hostIp: '', hostPorts: { first: 9000, last: 9002 } },
      { proto: 'udp', containerPort: 90, hostIp: '' },
      { proto: 'tcp', containerPort: 7000, hostIp: '' },
    ])
  })

  test('bad bindings are refused as Docker words them', () => {
    const cases: [Record<string, { HostIp: string; HostPort: string }[]>, string][] = [
      [{ '80/tcp': [{ HostIp: '', HostPort: 'abc' }] }, 'invalid port specification: "abc"'],
      [{ '80/tcp': [{ HostIp: '', HostPort: '70000' }] }, 'invalid port specification: "70000"'],
      [{ 'abc/tcp': [{ HostIp: '', HostPort: '80' }] }, 'invalid port specification: "abc"'],
      [{ '80-82/tcp': [{ HostIp: '', HostPort: '80' }] }, 'invalid port specification: "80-82"'],
      [{ '80/xyz': [{ HostIp: '', HostPort: '80' }] }, 'invalid proto: xyz'],
      [{ '80/tcp': [{ HostIp: '1.2.3', HostPort: '80' }] }, 'invalid IP address: 1.2.3'],
      [{ '80/tcp': [{ HostIp: '', HostPort: '90-80' }] }, 'invalid port specification: "90-80"'],
    ]
    for (const [b, msg] of cases) {
      assert.throws(() => portRequests({}, b, false), { name: 'InvalidArgument', message: msg })
    }
    assert.equal(parseHostPort(''), undefined)
  })

  test('mappings show as NetworkSettings.Ports and go to netavark as ranges', () => {
    const m: PortMapping[] = [
      { proto: 'udp', containerPort: 9000, hostIp: '', hostPort: 9000 },
      { proto: 'udp', containerPort: 9001, hostIp: '', hostPort: 9001 },
      { proto: 'udp', containerPort: 9002, hostIp: '', hostPort: 9002 },
      { proto: 'tcp', containerPort: 80, hostIp: '', hostPort: 8080 },
      { proto: 'tcp', containerPort: 81, hostIp: '127.0.0.1', hostPort: 8081 },
    ]
    assert.deepEqual(portMap({ '7000/tcp': {}, '80/tcp': {} }, m), {
      '7000/tcp': null,
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }],
      '9000/udp': [{ HostIp: '0.0.0.0', HostPort: '9000' }],
      '9001/udp': [{ HostIp: '0.0.0.0', HostPort: '9001' }],
      '9002/udp': [{ HostIp: '0.0.0.0', HostPort: '9002' }],
      '81/tcp': [{ HostIp: '127.0.0.1', HostPort: '8081' }],
    })
    assert.deepEqual(netavarkPorts(m), [
      { host_ip: '', container_port: 80, host_port: 8080, range: 1, protocol: 'tcp' },
      { host_ip: '127.0.0.1', container_port: 81, host_port: 8081, range: 1, protocol: 'tcp' },
      { host_ip: '', container_port: 9000, host_port: 9000, range: 3, protocol: 'udp' },
    ])
  })
})

describe('/etc files', () => {
  test('hosts: defaults, added hosts, links, then the container', () => {
    const text = hostsFile({
      extraHosts: parseExtraHosts(['foo:1.2.3.4', 'gw:host-gateway', 'v6:::1'], '10.66.0.1'),
      links: [{ ip: '10.66.0.3', names: ['db', '0123456789ab', 'postgres'] }],
      ip: '10.66.0.2',
      hostname: 'myh',
      domainname: 'example.com',
    })
    assert.equal(
      text,
      [
        '127.0.0.1\tlocalhost',
        '::1\tlocalhost ip6-localhost ip6-loopback',
        'fe00::0\tip6-localnet',
        'ff00::0\tip6-mcastprefix',
        'ff02::1\tip6-allnodes',
        'ff02::2\tip6-allrouters',
        '1.2.3.4\tfoo',
        '10.66.0.1\tgw',
        '::1\tv6',
        '10.66.0.3\tdb 0123456789ab postgres',
        '10.66.0.2\tmyh.example.com myh',
        '',
      ].join('\n'),
    )
    assert.throws(() => parseExtraHosts(['nohost']), {
      message: 'bad format for add-host: "nohost"',
    })
    assert.throws(() => parseExtraHosts(['a:notanip']), {
      message: 'invalid IP address in add-host: "notanip"',
    })
  })

  test('resolv.conf: the host file without loopback resolvers, or built from --dns*', () => {
    const host =
      '# generated\nsearch corp.example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n'
    assert.equal(
      resolvConf({ hostText: host }),
      '# generated\nsearch corp.example\nnameserver 10.0.0.2\noptions edns0\n',
    )
    assert.equal(
      resolvConf({ hostText: 'nameserver 127.0.0.53\n' }),
      'nameserver 8.8.8.8\nnameserver 8.8.4.4\n',
    )
    assert.equal(
      resolvConf({
        hostText: host,
        dns: ['9.9.9.9'],
        dnsSearch: ['a.example'],
        dnsOptions: ['ndots:3'],
      }),
      'search a.example\nnameserver 9.9.9.9\noptions ndots:3\n',
    )
    assert.equal(
      resolvConf({ hostText: host, dns: ['9.9.9.9'] }),
      'search corp.example\nnameserver 9.9.9.9\noptions edns0\n',
    )
    // A user network: its own server answers, with ndots:0 unless one is asked for.
    assert.equal(
      resolvConf({ hostText: host, embedded: '10.67.0.1' }),
      'search corp.example\nnameserver 10.67.0.1\noptions edns0 ndots:0\n',
    )
    assert.equal(
      resolvConf({
        hostText: host,
        embedded: '10.67.0.1',
        dnsOptions: ['ndots:2'],
        dnsSearch: ['.'],
      }),
      'nameserver 10.67.0.1\noptions ndots:2\n',
    )
    assert.deepEqual(upstreamServers(host, []), ['10.0.0.2'])
  })
})

describe('filters', () => {
  const nets: FilterSubject[] = [
    {
      id: 'aaaa1111',
      name: 'bridge',
      driver: 'bridge',
      labels: {},
      predefined: true,
      inUse: false,
      created: '2020-01-01T00:00:00Z',
    },
    {
      id: 'bbbb2222',
      name: 'web',
      driver: 'bridge',
      labels: { env: 'prod' },
      predefined: false,
      inUse: true,
      created: '2020-01-02T00:00:00Z',
    },
    {
      id: 'cccc3333',
      name: 'webdb',
      driver: 'bridge',
      labels: { env: 'dev', x: '' },
      predefined: false,
      inUse: false,
      created: '2030-01-01T00:00:00Z',
    },
    {
      id: 'dddd4444',
      name: 'host',
      driver: 'host',
      labels: {},
      predefined: true,
      inUse: false,
      created: '2020-01-01T00:00:00Z',
    },
  ]
  const names = (f: Record<string, string[]>) => nets.filter(listFilter(f)).map((n) => n.name)
  test('list filters: name and id as moby matches them, labels, type, driver, dangling', () => {
    assert.deepEqual(names({ name: ['web'] }), ['web', 'webdb'])
    assert.deepEqual(names({ name: ['^web$'] }), ['web'])
    assert.deepEqual(names({ id: ['cccc'] }), ['webdb'])
    assert.deepEqual(names({ label: ['env=prod'] }), ['web'])
    assert.deepEqual(names({ label: ['x'] }), ['webdb'])
    assert.deepEqual(names({ type: ['builtin'] }), ['bridge', 'host'])
    assert.deepEqual(names({ type: ['custom'] }), ['web', 'webdb'])
    assert.deepEqual(names({ driver: ['host'] }), ['host'])
    assert.deepEqual(names({ dangling: ['true'] }), ['webdb'])
    assert.deepEqual(names({ dangling: ['false'] }), ['bridge', 'web', 'host'])
    assert.throws(() => names({ nope: ['x'] }), { message: "Invalid filter 'nope'" })
    assert.throws(() => names({ type: ['bogus'] }), { message: "invalid filter: 'type'='bogus'" })
  })
  test('prune filters: until, label and label!', () => {
    const now = Date.parse('2025-01-01T00:00:00Z')
    const pruned = (f: Record<string, string[]>) =>
      nets.filter(pruneFilter(f, now)).map((n) => n.name)
    assert.deepEqual(pruned({ until: ['2020-01-01T12:00:00Z'] }), ['bridge', 'host'])
    assert.deepEqual(pruned({ until: ['24h'] }), ['bridge', 'web', 'host'])
    assert.deepEqual(pruned({ 'label!': ['env'] }), ['bridge', 'host'])
    assert.throws(() => pruned({ dangling: ['true'] }), { message: "Invalid filter 'dangling'" })
  })
})

test('links: NAME:ALIAS, NAME, and the /name:/ctr/alias form Docker stores', () => {
  assert.deepEqual(parseLink('db:database'), { name: 'db', alias: 'database' })
  assert.deepEqual(parseLink('db'), { name: 'db', alias: 'db' })
  assert.deepEqual(parseLink('/db:/web/database'), { name: 'db', alias: 'database' })
  assert.throws(() => parseLink(':x'), InvalidArgument)
})

test("legacy links' environment variables are dockerd 20.10's", () => {
  // What Debian's dockerd 20.10 gave `env` in `run --name client --link web-1:my.web` to
  // web-1 (`-e FOO=bar -e HOME=/x -e EMPTY= -e MULTI=a=b --expose 80 --expose 53/udp
  // --expose 9000-9002`), its own defaults around them left out. A name set twice keeps its
  // first place (the container's environment is built that way).
  const raw = linkEnv({
    parent: 'client',
    alias: 'my.web',
    ip: '172.17.0.2',
    exposedPorts: { '9001/tcp': {}, '80/tcp': {}, '53/udp': {}, '9000/tcp': {}, '9002/tcp': {} },
    env: ['EMPTY=', 'MULTI=a=b', 'FOO=bar', 'HOME=/x', 'PATH=/y', 'BARE'],
  })
  const env = new Map<string, string>()
  for (const e of raw) env.set(e.slice(0, e.indexOf('=')), e)
  const P = 'MY.WEB_PORT'
  assert.deepEqual(
    [...env.values()],
    [
      `${P}=udp://172.17.0.2:53`,
      `${P}_9000_TCP_START=tcp://172.17.0.2:9000`,
      `${P}_9000_TCP_ADDR=172.17.0.2`,
      `${P}_9000_TCP_PROTO=tcp`,
      `${P}_9000_TCP_PORT_START=9000`,
      `${P}_9000_TCP_END=tcp://172.17.0.2:9002`,
      `${P}_9000_TCP_PORT_END=9002`,
      ...[
        [53, 'udp'],
        [80, 'tcp'],
        [9000, 'tcp'],
        [9001, 'tcp'],
        [9002, 'tcp'],
      ]
        .flatMap(([n, p]) => {
          const pre = `${P}_${n}_${String(p).toUpperCase()}`
          const all = [`${pre}=${p}://172.17.0.2:${n}`, `${pre}_ADDR=172.17.0.2`]
          return [...all, `${pre}_PORT=${n}`, `${pre}_PROTO=${p}`]
        })
        .filter((e) => !/_9000_TCP_(ADDR|PROTO)=/.test(e)),
      'MY.WEB_NAME=/client/my.web',
      'MY.WEB_ENV_EMPTY=',
      'MY.WEB_ENV_MULTI=a=b',
      'MY.WEB_ENV_FOO=bar',
    ],
  )
  // No ports: the name and the environment only; a dash in the alias becomes an underscore.
  assert.deepEqual(
    linkEnv({ parent: 'c', alias: 'db-1', ip: '10.66.0.3', exposedPorts: {}, env: ['A=1'] }),
    ['DB_1_NAME=/c/db-1', 'DB_1_ENV_A=1'],
  )
  // A port number on both tcp and udp: tcp is the default port.
  assert.equal(
    linkEnv({
      parent: 'c',
      alias: 'd',
      ip: '10.66.0.3',
      exposedPorts: { '5/udp': {}, '5/tcp': {} },
      env: [],
    })[0],
    'D_PORT=tcp://10.66.0.3:5',
  )
})
