// Network events (and volume mount and unmount) through the stock docker CLI against a real
// berthd, in the order and with the attributes Debian's dockerd 20.10 showed for the same commands.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { docker, importBusybox, startBerthd, type Berthd } from './harness.ts'

let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

async function run(args: string[]): Promise<string> {
  const r = await docker(args, { host: d })
  assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}

interface Ev {
  Type: string
  Action: string
  Actor: { ID: string; Attributes: Record<string, string> }
}

/** Events from `since` to now: their type, action and actor (times left out). */
async function events(since: string, filters: string[] = []): Promise<Ev[]> {
  const until = String(Math.ceil(Date.now() / 1000) + 1)
  const out = await run([
    'events',
    '--since',
    since,
    '--until',
    until,
    ...filters.flatMap((f) => ['--filter', f]),
    '--format',
    '{{json .}}',
  ])
  if (out === '') return []
  return out.split('\n').map((l) => {
    const { Type, Action, Actor } = JSON.parse(l) as Ev
    return { Type, Action, Actor }
  })
}

// Fractional, so the events of the commands just before are left out.
const nowSeconds = (): string => (Date.now() / 1000).toFixed(3)

/** A network event as dockerd shows it: ID, and attributes container (when any), name, type. */
function netEvent(action: string, id: string, name: string, type: string, container?: string) {
  return {
    Type: 'network',
    Action: action,
    Actor: { ID: id, Attributes: { ...(container ? { container } : {}), name, type } },
  }
}

const shortly = (e: Ev) => `${e.Type} ${e.Action}`

describe('network events', () => {
  test('create, connect at start, disconnect at exit, destroy, prune', async () => {
    const bridge = await run(['network', 'inspect', '--format', '{{.Id}}', 'bridge'])
    const since = nowSeconds()
    const net1 = await run(['network', 'create', 'nev1'])
    const c1 = await run(['run', '-d', '--name', 'nevc1', 'busybox', 'true'])
    assert.equal(await run(['wait', c1]), '0')
    const c2 = await run(['run', '-d', '--name', 'nevc2', '--network', 'nev1', 'busybox', 'true'])
    assert.equal(await run(['wait', c2]), '0')
    await run(['rm', c1, c2])
    await run(['network', 'rm', 'nev1'])
    const net2 = await run(['network', 'create', 'nev2'])
    await run(['network', 'prune', '-f'])

    const got = await events(since, ['type=network'])
    assert.deepEqual(got, [
      netEvent('create', net1, 'nev1', 'bridge'),
      netEvent('connect', bridge, 'bridge', 'bridge', c1),
      netEvent('disconnect', bridge, 'bridge', 'bridge', c1),
      netEvent('connect', net1, 'nev1', 'bridge', c2),
      netEvent('disconnect', net1, 'nev1', 'bridge', c2),
      netEvent('destroy', net1, 'nev1', 'bridge'),
      netEvent('create', net2, 'nev2', 'bridge'),
      netEvent('destroy', net2, 'nev2', 'bridge'),
      { Type: 'network', Action: 'prune', Actor: { ID: '', Attributes: { reclaimed: '0' } } },
    ])
    // Among the container's events: connect before start, disconnect after die.
    const order = (await events(since)).filter(
      (e) => e.Actor.ID === c1 || e.Actor.Attributes.container === c1,
    )
    assert.deepEqual(order.map(shortly), [
      'container create',
      'network connect',
      'container start',
      'container die',
      'network disconnect',
      'container destroy',
    ])
  })

  test('docker network connect and disconnect; stop tells the disconnect before stop', async () => {
    const bridge = await run(['network', 'inspect', '--format', '{{.Id}}', 'bridge'])
    const net = await run(['network', 'create', 'nev3'])
    const c = await run(['create', '--name', 'nevc3', 'busybox', 'sleep', '300'])
    const since = nowSeconds()
    await run(['start', c])
    await run(['network', 'connect', 'nev3', c])
    await run(['network', 'disconnect', 'nev3', c])
    await run(['stop', '-t', '0', c])
    // A stopped container: its connect is told when it starts; its disconnect at once.
    await run(['network', 'connect', 'nev3', c])
    await run(['network', 'disconnect', 'nev3', c])
    const got = (await events(since)).filter((e) => e.Actor.ID === c || e.Type === 'network')
    assert.deepEqual(
      got.map((e) => (e.Type === 'network' ? e : shortly(e))),
      [
        netEvent('connect', bridge, 'bridge', 'bridge', c),
        'container start',
        netEvent('connect', net, 'nev3', 'bridge', c),
        netEvent('disconnect', net, 'nev3', 'bridge', c),
        'container kill',
        'container kill',
        'container die',
        netEvent('disconnect', bridge, 'bridge', 'bridge', c),
        'container stop',
        netEvent('disconnect', net, 'nev3', 'bridge', c),
      ],
    )
    await run(['rm', c])
    await run(['network', 'rm', 'nev3'])
  })

  test('host and none: connect and disconnect on the predefined networks', async () => {
    const ids = {
      host: await run(['network', 'inspect', '--format', '{{.Id}}', 'host']),
      none: await run(['network', 'inspect', '--format', '{{.Id}}', 'none']),
    }
    const since = nowSeconds()
    const h = await run(['run', '-d', '--network', 'host', 'busybox', 'true'])
    assert.equal(await run(['wait', h]), '0')
    const n = await run(['run', '-d', '--network', 'none', 'busybox', 'true'])
    assert.equal(await run(['wait', n]), '0')
    await run(['rm', h, n])
    assert.deepEqual(await events(since, ['type=network']), [
      netEvent('connect', ids.host, 'host', 'host', h),
      netEvent('disconnect', ids.host, 'host', 'host', h),
      netEvent('connect', ids.none, 'none', 'null', n),
      netEvent('disconnect', ids.none, 'none', 'null', n),
    ])
  })
})

describe('volume events', () => {
  test('mount after the network connect, unmount after the disconnect', async () => {
    await run(['volume', 'create', 'nevvol'])
    const since = nowSeconds()
    const c = await run(['run', '-d', '-v', 'nevvol:/data', 'busybox', 'true'])
    assert.equal(await run(['wait', c]), '0')
    const ro = await run(['run', '-d', '-v', 'nevvol:/data:ro', 'busybox', 'true'])
    assert.equal(await run(['wait', ro]), '0')
    await run(['rm', c, ro])
    const got = (await events(since)).filter((e) => e.Actor.ID === c || e.Type !== 'container')
    assert.deepEqual(got.map((e) => (e.Type === 'volume' ? e : shortly(e))).slice(0, 8), [
      // dockerd tells a named volume's create again when a container takes it.
      {
        Type: 'volume',
        Action: 'create',
        Actor: { ID: 'nevvol', Attributes: { driver: 'local' } },
      },
      'container create',
      'network connect',
      {
        Type: 'volume',
        Action: 'mount',
        Actor: {
          ID: 'nevvol',
          Attributes: {
            container: c,
            destination: '/data',
            driver: 'local',
            propagation: '',
            'read/write': 'true',
          },
        },
      },
      'container start',
      'container die',
      'network disconnect',
      {
        Type: 'volume',
        Action: 'unmount',
        Actor: { ID: 'nevvol', Attributes: { container: c, driver: 'local' } },
      },
    ])
    const mounts = (await events(since, ['type=volume', 'event=mount'])).map(
      (e) => e.Actor.Attributes['read/write'],
    )
    assert.deepEqual(mounts, ['true', 'false'])
    // Unmounted at exit, and not again at removal.
    assert.equal((await events(since, ['type=volume', 'event=unmount'])).length, 2)
    await run(['volume', 'rm', 'nevvol'])
  })
})
