// Debian's docker-compose 1.29 (docker-py underneath) against berthd: a two-service project
// comes up on its own network, the services reach each other by name, the published port
// answers on the host, and `down` takes containers and network away.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  SCRATCH_HOST_IP,
  client,
  docker,
  importBusybox,
  repoRoot,
  startBerthd,
  type Berthd,
  type RunResult,
} from './harness.ts'

const exec = promisify(execFile)
const COMPOSE = '/usr/bin/docker-compose'
const PROJECT = join(repoRoot, 'test/e2e/compose')
let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
  // Images of the project's own, made from busybox under tags that exist: compose pulls nothing.
  for (const tag of ['bt-compose-web:1', 'bt-compose-client:1']) {
    assert.equal((await docker(['tag', 'busybox', tag], { host: d })).code, 0)
  }
})

after(async () => {
  await d?.stop()
})

const compose = (args: string[]): Promise<RunResult> =>
  client(COMPOSE, ['--project-directory', PROJECT, '-p', 'btc', '--ansi', 'never', ...args], {
    host: d,
    timeoutMs: 120_000,
  })

async function ok(args: string[]): Promise<string> {
  const r = await compose(args)
  assert.equal(r.code, 0, `docker-compose ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
  return r.stdout
}

test('docker-compose up: services reach each other by name, the published port answers', async () => {
  await ok(['-f', join(PROJECT, 'docker-compose.yml'), 'up', '-d'])
  const ps = await docker(['ps', '--format', '{{.Names}} {{.Ports}}'], { host: d })
  assert.deepEqual(ps.stdout.trim().split('\n').sort(), [
    'btc_client_1 ',
    'btc_web_1 0.0.0.0:8090->80/tcp',
  ])
  const nets = await docker(['network', 'ls', '--format', '{{.Name}}'], { host: d })
  assert.match(nets.stdout, /^btc_default$/m)

  // client -> web by its service name (the alias compose gives it), and by container name.
  const r = await ok(['exec', '-T', 'client', 'wget', '-qO-', 'http://web/'])
  assert.equal(r, 'hello from web\n')
  const byName = await docker(['exec', 'btc_client_1', 'wget', '-qO-', 'http://btc_web_1/'], {
    host: d,
  })
  assert.equal(byName.stdout, 'hello from web\n', byName.stderr)
  // web -> client: the name resolves to the client's address on the project network.
  const clientIp = (
    await docker(
      [
        'inspect',
        '-f',
        '{{(index .NetworkSettings.Networks "btc_default").IPAddress}}',
        'btc_client_1',
      ],
      { host: d },
    )
  ).stdout.trim()
  const lookup = await docker(['exec', 'btc_web_1', 'busybox', 'nslookup', 'client'], { host: d })
  assert.match(lookup.stdout, new RegExp(`Address: ${clientIp.replace(/\./g, '\\.')}$`, 'm'))

  // The published port, from the host.
  const { stdout } = await exec('nsenter', [
    `--net=${d.netns as string}`,
    '--',
    'curl',
    '-sS',
    '--retry',
    '5',
    '--retry-connrefused',
    '--retry-delay',
    '1',
    `http://${SCRATCH_HOST_IP}:8090/`,
  ])
  assert.equal(stdout, 'hello from web\n')

  await ok(['-f', join(PROJECT, 'docker-compose.yml'), 'down'])
  assert.equal((await docker(['ps', '-aq'], { host: d })).stdout, '')
  const after = await docker(['network', 'ls', '--format', '{{.Name}}'], { host: d })
  assert.doesNotMatch(after.stdout, /btc_default/)
})
