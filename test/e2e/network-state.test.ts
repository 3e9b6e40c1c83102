// What lasts, end to end through the stock docker CLI: after berthd is killed (-9) and
// restarted, running containers keep their networks and published ports; after a host reboot
// (the scratch "host" namespace made anew, every process and mount gone), restart-always
// containers get them back and stopped ones start with them; removing everything leaves no
// rule, device or namespace.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SCRATCH_HOST_IP, importBusybox, startBerthd, type Berthd } from './harness.ts'
import { netKit, webServer } from './netkit.ts'

let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
  // What the tests find already there: a web server publishing 8080 on the default bridge, and
  // a user network with a container under a network alias.
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
  await ok(['network', 'create', '--subnet', '10.90.0.0/24', 'shop'])
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
})

after(async () => {
  await d?.stop()
})

const { dk, ok, onHost, get, leftovers, rmAll, hostnameOf } = netKit(() => d)

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

  test('a container whose network an older berthd made with netavark loses its iptables rules at stop', async () => {
    const id = (
      await ok(['run', '-d', '--name', 'legacy', '-p', '8484:80', 'busybox', 'sleep', '600'])
    ).trim()
    // What a berthd of the netavark era left: the same record (no plumbing mark), the set-up
    // made by netavark (its veth, its iptables chains and rules) instead of berth's plumbing.
    await d.kill9()
    const recPath = join(d.dataRoot, 'network', 'containers', `${id}.json`)
    const rec = JSON.parse(await readFile(recPath, 'utf8')) as {
      live: {
        netns: string
        setups: { networks: Record<string, { interface_name: string }> }[]
        plumbing?: string
      }
    }
    delete rec.live.plumbing
    await writeFile(recPath, JSON.stringify(rec))
    const setup = rec.live.setups[0]
    assert.ok(setup)
    await onHost(['ip', 'link', 'del', `veth${id.slice(0, 9)}0`])
    const netavark = [
      'flock',
      '-o',
      join(d.dataRoot, 'network', 'netavark.lock'),
      '/usr/lib/podman/netavark',
      '--config',
      join(d.dataRoot, 'network', 'netavark'),
      '--rootless',
      'false',
      '--aardvark-binary',
      '/usr/lib/podman/aardvark-dns',
      'setup',
      rec.live.netns,
    ]
    const r = spawnSync('nsenter', [`--net=${d.netns as string}`, '--', ...netavark], {
      input: JSON.stringify(setup),
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
    assert.match((await leftovers()).join('\n'), /chain :NETAVARK-DN-|dnat name: /)
    await d.restart()
    await ok(['stop', '-t', '0', 'legacy'])
    assert.deepEqual(await leftovers(), [])
    await ok(['rm', 'legacy'])
  })

  test('berthd stopped right after a run --rm on the bridge finishes releasing its network', async () => {
    // The release of a --rm container's network runs after its record went (run --rm stays
    // quick); a SIGTERM right after must not cut it: no berth0, no table ip berth left.
    await ok(['run', '--rm', '-p', '8383:80', 'busybox', 'true'])
    await d.term()
    assert.deepEqual(await leftovers(), [])
  })
})
