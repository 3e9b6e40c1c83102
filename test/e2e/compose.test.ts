// Debian's docker-compose 1.29 (docker-py underneath) against berthd: a two-service project
// comes up on its own network, the services reach each other by name, the published port
// answers on the host, and `down` takes containers and network away.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  SCRATCH_HOST_IP,
  client,
  curlIn,
  docker,
  importBusybox,
  repoRoot,
  startBerthd,
  startDockerd,
  type RunResult,
} from './harness.ts'

const COMPOSE = '/usr/bin/docker-compose'
const PROJECT = join(repoRoot, 'test/e2e/compose')

/** The engine under test: berthd, or Debian's dockerd run the same way for comparison. */
interface Engine {
  socket: string
  /** Its network namespace, where curl reaches its published ports on hostIp. */
  netns: string
  hostIp: string
  stop(): Promise<void>
}

async function startEngine(name: 'berthd' | 'dockerd'): Promise<Engine> {
  if (name === 'berthd') {
    const b = await startBerthd()
    return { socket: b.socket, netns: b.netns!, hostIp: SCRATCH_HOST_IP, stop: () => b.stop() }
  }
  const dd = await startDockerd({ bridge: true })
  const pid = (await readFile(join(dd.dir, 'p'), 'utf8')).trim()
  return {
    socket: dd.socket,
    netns: `/proc/${pid}/ns/net`,
    hostIp: '127.0.0.1',
    stop: () => dd.stop(),
  }
}

// The two engines run side by side (each in namespaces of its own); each one's tests in order.
describe('docker-compose', { concurrency: 2 }, () => {
  for (const name of ['berthd', 'dockerd'] as const) {
    describe(`against ${name}`, { concurrency: 1 }, () => projects(name))
  }
})

function projects(name: 'berthd' | 'dockerd'): void {
  let d: Engine

  before(async () => {
    d = await startEngine(name)
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
    // dockerd also publishes on IPv6 (berth has no IPv6 yet).
    assert.deepEqual(
      ps.stdout
        .trim()
        .replace(/, (:::|\[::\]:)8090->80\/tcp/, '')
        .split('\n')
        .sort(),
      ['btc_client_1 ', 'btc_web_1 0.0.0.0:8090->80/tcp'],
    )
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
    const stdout = await curlIn(d.netns as string, `http://${d.hostIp}:8090/`)
    assert.equal(stdout, 'hello from web\n')

    await ok(['-f', join(PROJECT, 'docker-compose.yml'), 'down'])
    assert.equal((await docker(['ps', '-aq'], { host: d })).stdout, '')
    const after = await docker(['network', 'ls', '--format', '{{.Name}}'], { host: d })
    assert.doesNotMatch(after.stdout, /btc_default/)
  })

  // The fuller project: a service built from a Dockerfile, a named volume, a healthcheck, a
  // published port and depends_on; then the day-to-day commands: ps, exec, logs, restart, down -v.
  const FULL = join(repoRoot, 'test/e2e/compose-full')
  const full = (args: string[]): Promise<RunResult> =>
    client(COMPOSE, ['--project-directory', FULL, '-p', 'btf', '--ansi', 'never', ...args], {
      host: d,
      timeoutMs: 180_000,
    })

  async function fullOk(args: string[]): Promise<RunResult> {
    const r = await full(args)
    assert.equal(r.code, 0, `docker-compose ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
    return r
  }

  test('docker-compose: build, volume, healthcheck, depends_on service_healthy; ps, exec, logs, restart, down -v', async () => {
    assert.equal((await docker(['tag', 'busybox', 'bt-compose-base:1'], { host: d })).code, 0)
    const up = await fullOk(['up', '-d', '--build'])
    // depends_on: api is created and started before web.
    const order = up.stderr.split('\n').filter((l) => /^(Creating|Starting) btf_/.test(l))
    assert.ok(
      order.findIndex((l) => l.includes('btf_api_1')) <
        order.findIndex((l) => l.includes('btf_web_1')),
      up.stderr,
    )
    assert.match(up.stdout + up.stderr, /Successfully tagged bt-compose-api:1/)

    const ps = await fullOk(['ps'])
    const row = (name: string) => ps.stdout.split('\n').find((l) => l.startsWith(name)) ?? ''
    assert.match(row('btf_api_1'), /\s+Up\b/)
    assert.match(row('btf_web_1'), /\s+Up\s+0\.0\.0\.0:8091->80\/tcp/)

    // depends_on's condition: web started only after api's health check first passed.
    const states = await docker(['inspect', '-f', '{{json .State}}', 'btf_api_1', 'btf_web_1'], {
      host: d,
    })
    const [apiState, webState] = states.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            StartedAt: string
            Health?: { Status: string; Log: { End: string; ExitCode: number }[] }
          },
      ) as [
      { Health?: { Status: string; Log: { End: string; ExitCode: number }[] } },
      { StartedAt: string },
    ]
    assert.equal(apiState.Health?.Status, 'healthy')
    const firstPass = apiState.Health.Log.find((r) => r.ExitCode === 0)
    assert.ok(firstPass, JSON.stringify(apiState.Health))
    assert.ok(
      Date.parse(webState.StartedAt) >= Date.parse(firstPass.End),
      `web started ${webState.StartedAt}, api first healthy ${firstPass.End}`,
    )

    // The healthcheck reaches the engine as Docker's Config.Healthcheck (nanoseconds).
    const hc = await docker(['inspect', '-f', '{{json .Config.Healthcheck}}', 'btf_api_1'], {
      host: d,
    })
    assert.deepEqual(JSON.parse(hc.stdout), {
      Test: ['CMD', 'busybox', 'wget', '-qO-', 'http://localhost:8000/'],
      Interval: 2_000_000_000,
      Timeout: 2_000_000_000,
      Retries: 5,
    })

    // Each service reaches the other by its name; the count lives on the named volume.
    assert.equal(
      (await fullOk(['exec', '-T', 'web', 'wget', '-qO-', 'http://api:8000/cgi-bin/count'])).stdout,
      'visits 1\n',
    )
    assert.equal(
      (await fullOk(['exec', '-T', 'web', 'wget', '-qO-', 'http://api:8000/cgi-bin/count'])).stdout,
      'visits 2\n',
    )
    assert.equal(
      (await fullOk(['exec', '-T', 'api', 'busybox', 'wget', '-qO-', 'http://web/'])).stdout,
      'web is up\n',
    )
    const stdout = await curlIn(d.netns as string, `http://${d.hostIp}:8091/`)
    assert.equal(stdout, 'web is up\n')

    const logs = await fullOk(['logs', '--no-color', 'web'])
    assert.match(logs.stdout, /^web_1\s+\| web starting$/m)

    // restart keeps the volume's data: the count goes on.
    const restart = await fullOk(['restart', 'api'])
    assert.match(restart.stderr, /Restarting btf_api_1 \.\.\. done/)
    // web resolves api at once after the restart (test/e2e/compose-restart.test.ts says why
    // it once did not on berthd).
    const again = await full(['exec', '-T', 'web', 'wget', '-qO-', 'http://api:8000/cgi-bin/count'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(again.stdout, 'visits 3\n')

    // down -v takes containers, the network and the named volume away.
    await fullOk(['down', '-v'])
    assert.equal((await docker(['ps', '-aq'], { host: d })).stdout, '')
    const vols = await docker(['volume', 'ls', '-q'], { host: d })
    assert.doesNotMatch(vols.stdout, /btf_data/)
    const nets = await docker(['network', 'ls', '--format', '{{.Name}}'], { host: d })
    assert.doesNotMatch(nets.stdout, /btf_default/)
  })
}
