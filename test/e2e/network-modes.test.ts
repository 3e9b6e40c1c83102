// The network modes besides the bridge (none: its own namespace with loopback only; the
// host's; another container's), and clear refusals, in Docker's words, for what berth has not
// got. berthd runs in a scratch network namespace (the harness's), which is its "host".
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { readFile } from 'node:fs/promises'
import { docker, importBusybox, startBerthd, type Berthd } from './harness.ts'

let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

const run = (args: string[]) => docker(['run', '--rm', ...args], { host: d })

test('--network none has only loopback; the default bridge adds eth0', async () => {
  const none = await run(['--network', 'none', 'busybox', 'ls', '/sys/class/net'])
  assert.equal(none.code, 0, none.stderr)
  assert.equal(none.stdout, 'lo\n')
  const bridged = await run(['busybox', 'ls', '/sys/class/net'])
  assert.equal(bridged.code, 0, bridged.stderr)
  assert.equal(bridged.stdout, 'eth0\nlo\n')
})

test('--network host shares the host network, its name and its resolvers', async () => {
  // The host is berthd's network namespace; the bridge and veths of the containers before
  // this one may still be on their way out.
  const devices = (text: string) =>
    text
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]?.trim())
      .filter((n): n is string => !!n && !/^(berth|veth)/.test(n))
      .sort()
  const hostIfaces = devices(await readFile(`/proc/${d.pid}/net/dev`, 'utf8'))
  const r = await run(['--network', 'host', 'busybox', 'cat', '/proc/net/dev'])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(devices(r.stdout), hostIfaces)
  assert.ok(hostIfaces.includes('uplink0'), hostIfaces.join(' '))
  const name = await run(['--network', 'host', 'busybox', 'hostname'])
  assert.equal(name.stdout, `${hostname()}\n`)
  const resolv = await run(['--network', 'host', 'busybox', 'cat', '/etc/resolv.conf'])
  assert.equal(resolv.stdout, await readFile('/etc/resolv.conf', 'utf8'))
  const warned = await docker(['create', '--network', 'host', '-p', '80:80', 'busybox', 'true'], {
    host: d,
  })
  assert.equal(warned.code, 0, warned.stderr)
  assert.match(warned.stderr, /Published ports are discarded when using host network mode/)
  assert.equal((await docker(['rm', warned.stdout.trim()], { host: d })).code, 0)
})

test('--network container:NAME joins a running container, and only a running one', async () => {
  assert.equal(
    (await docker(['create', '--name', 'sleeper', 'busybox', 'sleep', '100'], { host: d })).code,
    0,
  )
  const notYet = await run(['--network', 'container:sleeper', 'busybox', 'true'])
  assert.equal(notYet.code, 125)
  assert.match(notYet.stderr, /cannot join network of a non running container: [0-9a-f]{64}/)
  assert.equal((await docker(['start', 'sleeper'], { host: d })).code, 0)
  const ns = async (args: string[]) =>
    (await docker(['exec', ...args, 'readlink', '/proc/self/ns/net'], { host: d })).stdout
  const joined = await run([
    '--network',
    'container:sleeper',
    'busybox',
    'readlink',
    '/proc/self/ns/net',
  ])
  assert.equal(joined.code, 0, joined.stderr)
  assert.equal(joined.stdout, await ns(['sleeper']))
  assert.equal((await docker(['rm', '-f', 'sleeper'], { host: d })).code, 0)
})

test('what berth has not got is refused, never silently ignored', async () => {
  const cases: [string[], RegExp][] = [
    [
      ['--network', 'container:other', '-p', '80:80'],
      /conflicting options: port publishing and the container type network mode/,
    ],
    [['--network', 'mynet'], /network mynet not found/],
    [['--gpus', 'all'], /could not select device driver "" with capabilities: \[\[gpu\]\]/],
  ]
  for (const [flags, message] of cases) {
    const r = await run([...flags, 'busybox', 'true'])
    assert.equal(r.code, 125, flags.join(' '))
    assert.match(r.stderr, message, flags.join(' '))
  }
  assert.equal((await docker(['ps', '-aq'], { host: d })).stdout, '')
})
