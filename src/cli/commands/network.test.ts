// `berth network ...` and `berth port` against Debian's dockerd, compared with the stock docker
// CLI on the same daemon; and the stock docker CLI against berth's /networks API, compared with
// what it shows against dockerd. Everything runs in a scratch network namespace, so dockerd's
// bridges and rules never reach the host's.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createApiServer } from '../../api/server.ts'
import { createLogger } from '../../daemon/log.ts'
import { NotFound } from '../../engine/errors.ts'
import { nullLogger } from '../../engine/logger.ts'
import { BridgeNetworking } from '../../engine/network/bridge.ts'
import { enterScratchNetns, type ScratchNet } from '../../engine/network/testing.ts'
import { fakeEngine } from '../../api/testing.ts'
import {
  berth,
  busyboxTar,
  docker,
  runProcess,
  startDockerd,
  type Dockerd,
  type RunResult,
} from '../testutil.ts'
import type http from 'node:http'

let scratch: ScratchNet
let d: Dockerd
let tmp: string
let server: http.Server
let berthSock: string

/** IDs and times differ between runs and daemons; everything else must not. */
function norm(s: string): string {
  return s
    .replace(/[0-9a-f]{64}/g, '<ID64>')
    .replace(/\b[0-9a-f]{12}\b/g, '<ID12>')
    .replace(/\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?( \+0000 UTC|Z)/g, '<TIME>')
}

function same(a: RunResult, b: RunResult, what: string): void {
  assert.equal(
    a.code,
    b.code,
    `${what}: exit code\nberth: ${a.stdout}${a.stderr}\ndocker: ${b.stdout}${b.stderr}`,
  )
  assert.equal(norm(a.stdout), norm(b.stdout), `${what}: stdout`)
  assert.equal(norm(a.stderr), norm(b.stderr), `${what}: stderr`)
}

before(async () => {
  scratch = await enterScratchNetns()
  d = await startDockerd()
  const tar = await busyboxTar(d.dir)
  assert.equal((await docker(d, ['import', tar, 'bb:latest'])).code, 0)
  tmp = await mkdtemp('/tmp/bt-netcli-')
  const bridge = new BridgeNetworking({
    root: join(tmp, 'network'),
    logger: nullLogger,
    peers: {
      peer: (ref) => {
        throw new NotFound(`No such container: ${ref}`)
      },
    },
    containers: {
      get: (ref) => Promise.reject(new NotFound(`No such container: ${ref}`)),
      locked: (_id, fn) => fn(),
    },
  })
  await bridge.init()
  berthSock = join(tmp, 'berth.sock')
  server = createApiServer(
    { ...fakeEngine(), networks: bridge.api },
    { logger: createLogger({ level: 'error', write: () => undefined }) },
  )
  await new Promise<void>((r) => server.listen(berthSock, r))
})

after(async () => {
  server?.closeAllConnections()
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
  await d?.stop()
  await rm(tmp, { recursive: true, force: true })
  await scratch?.close()
})

const b = (args: string[], input?: string) => berth(d.host, args, input)

describe('berth network against dockerd, beside docker', () => {
  test('create, ls, inspect, rm, prune', async () => {
    for (const [name, extra] of [
      [
        'bnet',
        [
          '--subnet',
          '10.30.0.0/24',
          '--gateway',
          '10.30.0.254',
          '--ip-range',
          '10.30.0.128/25',
          // One label: docker prints several in Go's random map order.
          '--label',
          'tier=web',
          '-o',
          'com.docker.network.driver.mtu=1400',
        ],
      ],
      ['inner', ['--internal']],
    ] as const) {
      const r = await b(['network', 'create', ...extra, name])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /^[0-9a-f]{64}\n$/)
    }
    for (const args of [
      ['network', 'ls'],
      ['network', 'ls', '-q'],
      ['network', 'ls', '--no-trunc'],
      ['network', 'list', '--filter', 'label=tier=web'],
      [
        'network',
        'ls',
        '--filter',
        'type=custom',
        '--format',
        '{{.Name}} {{.Driver}} {{.Internal}} {{.IPv6}} {{.Labels}} {{.Label "tier"}} {{.CreatedAt}}',
      ],
      ['network', 'ls', '--format', 'table {{.Name}}\t{{.Scope}}'],
      ['network', 'ls', '--format', 'json'],
      ['network', 'inspect', 'bnet'],
      [
        'network',
        'inspect',
        '-f',
        '{{.Name}} {{json .IPAM.Config}} {{.Internal}}',
        'bnet',
        'inner',
      ],
      ['network', 'inspect', 'nosuch'],
      ['network', 'create', 'bnet'],
      ['network', 'create', '--gateway', '10.1.1.1', 'nogw'],
      ['network', 'create', '--subnet', '10.30.0.0/16', 'overlap'],
      ['network', 'rm', 'nosuch'],
      ['network', 'connect', 'bnet', 'nosuch'],
    ]) {
      same(await b(args), await docker(d, args), args.join(' '))
    }
    same(
      await b(['network', 'rm', 'inner', 'ghost']),
      await runProcess('true', [], {}).then(() => ({
        code: 1,
        stdout: 'inner\n',
        stderr: 'Error response from daemon: network ghost not found\nexit status 1\n',
      })),
      'network rm inner ghost',
    )
    const pr = await b(['network', 'prune', '-f', '--filter', 'label=tier=web'])
    assert.deepEqual(pr, { code: 0, stdout: 'Deleted Networks:\nbnet\n\n', stderr: '' })
    same(
      await b(['network', 'prune', '-f']),
      await docker(d, ['network', 'prune', '-f']),
      'prune nothing',
    )
  })

  test('connect, disconnect and port on a container', async () => {
    await docker(d, ['network', 'create', '--subnet', '10.31.0.0/24', 'pnet'])
    const run = await docker(d, [
      'run',
      '-d',
      '--name',
      'pweb',
      '--network',
      'pnet',
      '-p',
      '18080:80',
      '-p',
      '127.0.0.1:18081:81/udp',
      '--expose',
      '7000',
      'bb',
      'sleep',
      '600',
    ])
    assert.equal(run.code, 0, run.stderr)
    for (const args of [
      ['port', 'pweb'],
      ['port', 'pweb', '80'],
      ['port', 'pweb', '81/udp'],
      ['port', 'pweb', '7000'],
      ['port', 'nosuch'],
    ]) {
      same(await b(args), await docker(d, args), args.join(' '))
    }
    await docker(d, ['network', 'create', 'other'])
    const c = await b([
      'network',
      'connect',
      '--alias',
      'web2',
      '--ip',
      '10.31.0.77',
      'pnet',
      'pweb',
    ])
    assert.equal(c.code, 1)
    assert.equal(
      c.stderr,
      'Error response from daemon: endpoint with name pweb already exists in network pnet\n',
    )
    assert.deepEqual(await b(['network', 'connect', '--alias', 'web2', 'other', 'pweb']), {
      code: 0,
      stdout: '',
      stderr: '',
    })
    const aliases = await docker(d, [
      'inspect',
      '-f',
      '{{json .NetworkSettings.Networks.other.Aliases}}',
      'pweb',
    ])
    assert.match(aliases.stdout, /"web2"/)
    assert.deepEqual(await b(['network', 'disconnect', 'other', 'pweb']), {
      code: 0,
      stdout: '',
      stderr: '',
    })
    same(
      await b(['network', 'disconnect', 'other', 'pweb']),
      await docker(d, ['network', 'disconnect', 'other', 'pweb']),
      'disconnect twice',
    )
    await docker(d, ['rm', '-f', 'pweb'])
    await docker(d, ['network', 'rm', 'pnet', 'other'])
  })
})

describe("the stock docker CLI against berth's /networks", () => {
  const atBerth = (args: string[]) =>
    runProcess('/usr/local/bin/docker', args, { ...d.env, DOCKER_HOST: `unix://${berthSock}` })

  test('shows what it shows against dockerd', async () => {
    const create = [
      'network',
      'create',
      '--subnet',
      '10.40.0.0/24',
      '--ip-range',
      '10.40.0.64/26',
      '--label',
      'a=b',
      'shared',
    ]
    same(await atBerth(create), await docker(d, create), 'create')
    for (const args of [
      ['network', 'ls', '--filter', 'name=shared'],
      [
        'network',
        'ls',
        '--filter',
        'name=shared',
        '--format',
        '{{.Name}}|{{.Driver}}|{{.Scope}}|{{.Internal}}|{{.Labels}}',
      ],
      [
        'network',
        'inspect',
        '-f',
        '{{json .IPAM}} {{json .Labels}} {{.Driver}} {{.Scope}} {{json .Containers}}',
        'shared',
      ],
      ['network', 'inspect', 'nosuch'],
      ['network', 'create', 'shared'],
      ['network', 'create', '--subnet', '10.40.0.0/25', 'overlap'],
      ['network', 'rm', 'host'],
      ['network', 'rm', 'shared'],
      ['network', 'rm', 'shared'],
    ]) {
      same(await atBerth(args), await docker(d, args), args.join(' '))
    }
    const ls = await atBerth(['network', 'ls'])
    assert.match(
      ls.stdout,
      /^NETWORK ID +NAME +DRIVER +SCOPE\n[0-9a-f]{12} +bridge +bridge +local\n[0-9a-f]{12} +host +host +local\n[0-9a-f]{12} +none +null +local\n$/,
    )
  })
})
