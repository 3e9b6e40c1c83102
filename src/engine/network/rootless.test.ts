import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidArgument } from '../errors.ts'
import { forwardsOf, onUserNetwork, rootlessNetworkApi } from './rootless.ts'
import { rootlessNetnsPastaArgs, pastaFailure } from './rootlessns.ts'
import { emptyNetworkSettings } from './modes.ts'
import type { NetworkApi } from './types.ts'

test('user-defined networks are the modes that are none of the built-in ones', () => {
  for (const m of [undefined, '', 'default', 'bridge', 'host', 'none', 'container:web'])
    assert.equal(onUserNetwork(m), false, String(m))
  for (const m of ['mynet', 'proj_default', 'a1b2c3']) assert.equal(onUserNetwork(m), true, m)
})

test('forwards go from each published TCP port to the address on the first network', () => {
  const s = emptyNetworkSettings()
  s.Networks = {
    front: { ...emptyEndpoint(), IPAddress: '10.89.1.2' },
    back: { ...emptyEndpoint(), IPAddress: '10.89.2.2' },
  }
  s.Ports = {
    '80/tcp': [
      { HostIp: '0.0.0.0', HostPort: '8080' },
      { HostIp: '127.0.0.1', HostPort: '8081' },
    ],
    '443/tcp': null,
  }
  assert.deepEqual(forwardsOf(s), [
    { hostIp: '0.0.0.0', hostPort: 8080, targetIp: '10.89.1.2', targetPort: 80 },
    { hostIp: '127.0.0.1', hostPort: 8081, targetIp: '10.89.1.2', targetPort: 80 },
  ])
  // Not running (no address): nothing to forward.
  s.Networks = { front: emptyEndpoint() }
  assert.deepEqual(forwardsOf(s), [])
})

function emptyEndpoint() {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    MacAddress: '',
    DriverOpts: null,
    NetworkID: 'n',
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  }
}

test('the rootless namespace gets one pasta for outbound traffic only', () => {
  assert.deepEqual(rootlessNetnsPastaArgs('/x/rootless.netns', '/x/p.pid'), [
    ...['--config-net', '--quiet', '--netns', '/x/rootless.netns', '--pid', '/x/p.pid'],
    ...['-t', 'none', '-u', 'none', '-T', 'none', '-U', 'none'],
  ])
  assert.equal(
    pastaFailure("Couldn't open log to syslog\nFailed to open() /dev/net/tun: Permission denied\n"),
    'Failed to open() /dev/net/tun: Permission denied (pasta needs /dev/net/tun open to users: mode 0666, as Debian ships it)',
  )
})

test('without root the bridge network shows pasta; user networks pass; default containers stay', async () => {
  const bridge = {
    Name: 'bridge',
    Driver: 'bridge',
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '172.17.0.0/16' }] },
    Options: { 'com.docker.network.bridge.name': 'docker0' },
  }
  const mine = { ...bridge, Name: 'mine', Options: {} }
  const none = { Name: 'none', Driver: 'null', IPAM: bridge.IPAM, Options: {} }
  const calls: string[] = []
  const api = rootlessNetworkApi(
    {
      list: async () => [bridge, mine, none],
      inspect: async () => bridge,
      create: async (req: { Name: string }) => {
        calls.push(`create ${req.Name}`)
        return { Id: 'id', Warning: '' }
      },
      connect: async (n: string, c: string) => void calls.push(`connect ${n} ${c}`),
      disconnect: async (n: string, c: string) => void calls.push(`disconnect ${n} ${c}`),
    } as unknown as NetworkApi,
    (ctr) => ctr === 'ondefault',
  )
  const listed = await api.list({ driver: ['pasta'] })
  assert.deepEqual(
    listed.map((n) => [n.Name, n.Driver, n.IPAM.Config.length, Object.keys(n.Options).length]),
    [['bridge', 'pasta', 0, 0]],
  )
  assert.deepEqual(
    (await api.list({ driver: ['bridge'] })).map((n) => n.Name),
    ['mine'],
  )
  assert.equal((await api.list()).length, 3)
  assert.equal((await api.inspect('bridge')).Driver, 'pasta')
  await api.create({ Name: 'mine' })
  await api.connect('mine', 'onuser')
  await api.disconnect('mine', 'onuser')
  await assert.rejects(api.connect('mine', 'ondefault'), InvalidArgument)
  await assert.rejects(api.disconnect('mine', 'ondefault'), /not on a user-defined network/)
  assert.deepEqual(calls, ['create mine', 'connect mine onuser', 'disconnect mine onuser'])
})
