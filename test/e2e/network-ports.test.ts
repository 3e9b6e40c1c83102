// Published ports end to end, through the stock docker CLI (and berth's beside it): -p on the
// host's address and on 127.0.0.1, from another container and from itself (hairpin), -P, port/ps/inspect as Docker shows
// them, a taken host port. berthd runs in the harness's scratch network namespace, its "host":
// every client that reaches a published port runs there too (nsenter).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SCRATCH_HOST_IP, berth, importBusybox, startBerthd, type Berthd } from './harness.ts'
import { netKit, webServer } from './netkit.ts'

let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

const { dk, ok, get, leftovers, rmAll, hostnameOf } = netKit(() => d)

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
    // Hairpin: the container reaches its own published port through the host's address.
    const self = await dk([
      'exec',
      'web',
      'timeout',
      '5',
      'wget',
      '-qO-',
      `http://${SCRATCH_HOST_IP}:8080/`,
    ])
    assert.equal(self.code, 0, self.stderr)
    assert.equal(self.stdout, 'web-host\n')
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

  test('removing every container and network leaves no rule, device or namespace', async () => {
    await rmAll()
    assert.deepEqual(await leftovers(), [])
  })
})
