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

test('a forwarder started with the host-side listening socket carries connections both ways', async () => {
  const { mkdtemp, rm, writeFile, readFile } = await import('node:fs/promises')
  const { createServer, connect } = await import('node:net')
  const { startForwarder, stopForwarder } = await import('./portfwd.ts')
  const dir = await mkdtemp('/tmp/bt-portfwd-')
  // The container's side: answers with what it read, once the client has finished sending.
  const upstream = createServer({ allowHalfOpen: true }, (s) => {
    let got = ''
    s.on('data', (d) => (got += String(d)))
    s.on('end', () => s.end(`echo:${got}`))
  })
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  const target = (upstream.address() as { port: number }).port
  // The forwarder program, run from source here (dist/berth-portfwd.mjs in berthd).
  const tsxApi = new URL('../../../node_modules/tsx/dist/esm/api/index.mjs', import.meta.url).href
  const script = `${dir}/fwd.mjs`
  await writeFile(
    script,
    `import { register } from ${JSON.stringify(tsxApi)}\nregister()\nconst m = await import(${JSON.stringify(new URL('./portfwd.ts', import.meta.url).pathname)})\nm.runForwarder(JSON.parse(process.argv[3]))\n`,
  )
  const probe = createServer()
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
  const hostPort = (probe.address() as { port: number }).port
  await new Promise<void>((r) => probe.close(() => r()))
  const pidFile = `${dir}/fwd.pid`
  const mark = 'c0ffee'
  try {
    await startForwarder(
      { netns: `/proc/${process.pid}/ns/net`, node: process.execPath, script, pidFile, mark },
      [{ hostIp: '127.0.0.1', hostPort, targetIp: '127.0.0.1', targetPort: target }],
    )
    const pid = Number((await readFile(pidFile, 'utf8')).trim())
    assert.ok(pid > 0)
    const answer = await new Promise<string>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port: hostPort, allowHalfOpen: true })
      let got = ''
      c.on('data', (d) => (got += String(d)))
      c.on('end', () => resolve(got))
      c.on('error', reject)
      c.end('ping')
    })
    assert.equal(answer, 'echo:ping')
    await stopForwarder(pidFile, mark)
    await new Promise<void>((resolve) => {
      const c = connect({ host: '127.0.0.1', port: hostPort })
      c.on('error', () => resolve())
      c.on('connect', () => {
        // The port may be seen until the forwarder has exited; it must close at once then.
        c.on('close', () => resolve())
      })
    })
  } finally {
    await stopForwarder(pidFile, mark)
    await new Promise<void>((r) => upstream.close(() => r()))
    await rm(dir, { recursive: true, force: true })
  }
})
