// Health checks through the stock docker CLI against berthd: --health-* flags and
// --no-healthcheck, HEALTHCHECK from a built image, State.Health in inspect, ps's status and
// health= filter, health_status events, checks resumed by a restarted berthd, and
// docker-compose 1.29 starting a service only once the one it depends on is healthy.
// The shapes are Debian's dockerd 20.10's (checked by hand with busybox, see the report).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  apiRequest,
  berth,
  client,
  docker,
  dockerOk,
  dockerBin,
  importBusybox,
  repoRoot,
  startBerthd,
  type Berthd,
  type RunResult,
} from './harness.ts'

let d: Berthd
const host = () => ({ host: d })

function ok(args: string[]): Promise<string> {
  return dockerOk(args, host())
}

/**
 * The first `health_status` event of the container from now on (its status), read from a
 * `docker events` stream started before `trigger` runs, so that none is missed.
 */
async function healthEvent(
  container: string,
  trigger: () => Promise<unknown> = async () => undefined,
  timeoutMs = 30_000,
): Promise<string> {
  const bin = await dockerBin()
  const p = spawn(
    bin,
    [
      'events',
      '--filter',
      `container=${container}`,
      '--filter',
      'event=health_status',
      '--format',
      '{{.Action}}',
    ],
    {
      env: { ...process.env, DOCKER_HOST: `unix://${d.socket}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  try {
    // The stream is open once the CLI has its response: a ping on the same socket orders us after.
    const line = new Promise<string>((resolve, reject) => {
      let buf = ''
      const timer = setTimeout(
        () => reject(new Error(`no health_status event for ${container}`)),
        timeoutMs,
      )
      p.stdout.on('data', (b: Buffer) => {
        buf += b.toString()
        const nl = buf.indexOf('\n')
        if (nl >= 0) {
          clearTimeout(timer)
          resolve(buf.slice(0, nl))
        }
      })
      p.once('exit', () => {
        clearTimeout(timer)
        reject(new Error(`docker events ended: ${buf}`))
      })
    })
    await waitSubscribed()
    await trigger()
    return (await line).replace(/^health_status: /, '')
  } finally {
    p.kill()
  }
}

/** berthd counts its /events subscribers nowhere public: a short settle for the CLI's request. */
async function waitSubscribed(): Promise<void> {
  // The events request goes out as the CLI starts; a version call through a second CLI
  // takes at least as long as that start, so the subscription is in place after it.
  await ok(['version', '--format', '{{.Server.APIVersion}}'])
}

interface HealthJson {
  Status: string
  FailingStreak: number
  Log: { Start: string; End: string; ExitCode: number; Output: string }[]
}

async function health(name: string): Promise<HealthJson | null> {
  return JSON.parse(
    await ok(['inspect', '-f', '{{json .State.Health}}', name]),
  ) as HealthJson | null
}

async function psStatus(name: string, all = false): Promise<string> {
  return (
    await ok([
      'ps',
      ...(all ? ['-a'] : []),
      '--filter',
      `name=^${name}$`,
      '--format',
      '{{.Status}}',
    ])
  ).trim()
}

async function psNames(filter: string): Promise<string[]> {
  const out = await ok(['ps', '-a', '--filter', filter, '--format', '{{.Names}}'])
  return out.trim().split('\n').filter(Boolean).sort()
}

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

describe('health checks', () => {
  test('--health-cmd: starting, then healthy; ps shows it and filters on it; events', async () => {
    await ok([
      'run',
      '-d',
      '--name',
      'hc-wait',
      '--health-cmd',
      'true',
      '--health-interval',
      '1h',
      'busybox',
      'sleep',
      '1000',
    ])
    await ok(['run', '-d', '--name', 'hc-plain', 'busybox', 'sleep', '1000'])
    assert.match(await psStatus('hc-wait'), /^Up .+ \(health: starting\)$/)
    assert.deepEqual(await health('hc-wait'), { Status: 'starting', FailingStreak: 0, Log: [] })
    assert.match(await psStatus('hc-plain'), /^Up [^(]+$/)
    assert.equal(await health('hc-plain'), null)

    const status = await healthEvent('hc-ok', () =>
      ok([
        'run',
        '-d',
        '--name',
        'hc-ok',
        '--health-cmd',
        'echo hi; echo err >&2',
        '--health-interval',
        '500ms',
        '--health-retries',
        '2',
        'busybox',
        'sleep',
        '1000',
      ]),
    )
    assert.equal(status, 'healthy')
    const h = await health('hc-ok')
    assert.equal(h?.Status, 'healthy')
    assert.equal(h?.FailingStreak, 0)
    const first = h?.Log[0]
    assert.equal(first?.ExitCode, 0)
    assert.equal(first?.Output, 'hi\nerr\n')
    assert.ok(Date.parse(first?.Start ?? '') <= Date.parse(first?.End ?? ''), JSON.stringify(first))
    assert.match(await psStatus('hc-ok'), /^Up .+ \(healthy\)$/)
    // The config as the CLI sent it (docker 28 leaves unset fields out).
    assert.equal(
      (await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hc-ok'])).trim(),
      '{"Test":["CMD-SHELL","echo hi; echo err >&2"],"Interval":500000000,"Retries":2}',
    )

    assert.deepEqual(await psNames('health=healthy'), ['hc-ok'])
    assert.deepEqual(await psNames('health=starting'), ['hc-wait'])
    assert.ok((await psNames('health=none')).includes('hc-plain'))
    const bad = await docker(['ps', '--filter', 'health=bogus'], host())
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /Unrecognised filter value for health: bogus/)

    // Stopping ends the checks; Docker then reports the last run unhealthy, its log kept.
    await ok(['stop', '-t', '0', 'hc-ok'])
    const stopped = await health('hc-ok')
    assert.equal(stopped?.Status, 'unhealthy')
    assert.ok((stopped?.Log.length ?? 0) >= 1)
    assert.match(await psStatus('hc-ok', true), /^Exited \(137\) /)
    assert.deepEqual(await psNames('health=unhealthy'), ['hc-ok'])
    await ok(['rm', '-f', 'hc-ok', 'hc-wait', 'hc-plain'])
  })

  test('failures count to --health-retries; a probe past its timeout fails in Docker words', async () => {
    const status = await healthEvent('hc-bad', () =>
      ok([
        'run',
        '-d',
        '--name',
        'hc-bad',
        '--health-cmd',
        'echo bad; exit 3',
        '--health-interval',
        '300ms',
        '--health-retries',
        '2',
        'busybox',
        'sleep',
        '1000',
      ]),
    )
    assert.equal(status, 'unhealthy')
    const h = await health('hc-bad')
    assert.ok((h?.FailingStreak ?? 0) >= 2, JSON.stringify(h))
    assert.deepEqual(h?.Log.map((l) => [l.ExitCode, l.Output]).slice(0, 2), [
      [3, 'bad\n'],
      [3, 'bad\n'],
    ])
    assert.match(await psStatus('hc-bad'), /^Up .+ \(unhealthy\)$/)

    const slow = await healthEvent('hc-slow', () =>
      ok([
        'run',
        '-d',
        '--name',
        'hc-slow',
        '--health-cmd',
        'sleep 30',
        '--health-timeout',
        '300ms',
        '--health-interval',
        '300ms',
        '--health-retries',
        '1',
        'busybox',
        'sleep',
        '1000',
      ]),
    )
    assert.equal(slow, 'unhealthy')
    const s = await health('hc-slow')
    assert.equal(s?.Log[0]?.ExitCode, -1)
    assert.equal(s?.Log[0]?.Output, 'Health check exceeded timeout (300ms)')
    const took = Date.parse(s?.Log[0]?.End ?? '') - Date.parse(s?.Log[0]?.Start ?? '')
    assert.ok(took >= 300 && took < 10_000, `${took} ms`)

    // A command that is not there: the runtime's words, exit code -1.
    const missing = await healthEvent('hc-missing', () =>
      ok([
        'run',
        '-d',
        '--name',
        'hc-missing',
        '--health-cmd',
        'x',
        '--health-interval',
        '300ms',
        '--health-retries',
        '1',
        'busybox',
        'sleep',
        '1000',
      ]).then(() => undefined),
    )
    assert.equal(missing, 'unhealthy')
    await ok(['rm', '-f', 'hc-bad', 'hc-slow', 'hc-missing'])
  })

  test('HEALTHCHECK from a built image, overridden by flags, disabled by --no-healthcheck', async () => {
    const ctx = await mkdtemp(join(tmpdir(), 'bt-hc-'))
    try {
      await writeFile(
        join(ctx, 'Dockerfile'),
        'FROM busybox\nHEALTHCHECK --interval=300ms --timeout=5s --retries=1 CMD ["test", "-e", "/tmp/ok"]\n',
      )
      await ok(['build', '-q', '-t', 'hc-img', ctx])
    } finally {
      await rm(ctx, { recursive: true, force: true })
    }
    const imageHc =
      '{"Test":["CMD","test","-e","/tmp/ok"],"Interval":300000000,"Timeout":5000000000,"Retries":1}'
    assert.equal(
      (await ok(['image', 'inspect', '-f', '{{json .Config.Healthcheck}}', 'hc-img'])).trim(),
      imageHc,
    )
    const first = await healthEvent('hc-img1', () =>
      ok(['run', '-d', '--name', 'hc-img1', 'hc-img', 'sleep', '1000']),
    )
    assert.equal(first, 'unhealthy')
    assert.equal(
      (await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hc-img1'])).trim(),
      imageHc,
    )
    // The check passes once the file is there.
    const healed = await healthEvent('hc-img1', () => ok(['exec', 'hc-img1', 'touch', '/tmp/ok']))
    assert.equal(healed, 'healthy')

    // Flags override the image's fields one by one.
    await ok([
      'create',
      '--name',
      'hc-img2',
      '--health-retries',
      '7',
      '--health-interval',
      '1h',
      'hc-img',
      'sleep',
      '1000',
    ])
    assert.equal(
      (await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hc-img2'])).trim(),
      '{"Test":["CMD","test","-e","/tmp/ok"],"Interval":3600000000000,"Timeout":5000000000,"Retries":7}',
    )
    // --no-healthcheck: no checks at all, and no State.Health (dockerd merges the image's
    // timings under NONE all the same).
    await ok(['run', '-d', '--name', 'hc-img3', '--no-healthcheck', 'hc-img', 'sleep', '1000'])
    assert.equal(
      (await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hc-img3'])).trim(),
      '{"Test":["NONE"],"Interval":300000000,"Timeout":5000000000,"Retries":1}',
    )
    assert.equal(await health('hc-img3'), null)
    assert.match(await psStatus('hc-img3'), /^Up [^(]+$/)
    const conflict = await docker(
      ['run', '--no-healthcheck', '--health-cmd', 'true', 'hc-img'],
      host(),
    )
    assert.equal(conflict.code, 125)
    assert.match(conflict.stderr, /--no-healthcheck conflicts with --health-\* options/)
    await ok(['rm', '-f', 'hc-img1', 'hc-img2', 'hc-img3'])
  })

  test('the berth CLI sends the --health-* flags as docker 28 does, with its words', async () => {
    const flags = [
      '--health-cmd',
      'echo hi',
      '--health-interval',
      '500ms',
      '--health-timeout',
      '2s',
      '--health-retries',
      '2',
      '--health-start-period',
      '1s',
      '--health-start-interval',
      '100ms',
    ]
    await ok(['create', '--name', 'hc-d', ...flags, 'busybox', 'true'])
    const b = await berth(['create', '--name', 'hc-b', ...flags, 'busybox', 'true'], host())
    assert.equal(b.code, 0, b.stderr)
    const cfg = async (n: string) =>
      (await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', n])).trim()
    assert.equal(
      await cfg('hc-d'),
      '{"Test":["CMD-SHELL","echo hi"],"Interval":500000000,"Timeout":2000000000,"StartPeriod":1000000000,"StartInterval":100000000,"Retries":2}',
    )
    assert.equal(await cfg('hc-b'), await cfg('hc-d'))
    const none = await berth(
      ['create', '--name', 'hc-bn', '--no-healthcheck', 'busybox', 'true'],
      host(),
    )
    assert.equal(none.code, 0, none.stderr)
    assert.equal(await cfg('hc-bn'), '{"Test":["NONE"]}')
    for (const [args, words] of [
      [['--health-interval', '-1s'], '--health-interval cannot be negative'],
      [['--health-retries', '-2'], '--health-retries cannot be negative'],
      [
        ['--no-healthcheck', '--health-retries', '2'],
        '--no-healthcheck conflicts with --health-* options',
      ],
    ] as const) {
      for (const run of [docker, berth]) {
        const r = await run(['run', ...args, 'busybox', 'true'], host())
        assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`)
        assert.ok(r.stderr.includes(words), `${args.join(' ')}: ${r.stderr}`)
      }
    }
    await ok(['rm', 'hc-d', 'hc-b', 'hc-bn'])
  })

  test("create refuses bad values with dockerd's 400s", async () => {
    const cases: [object, string][] = [
      [{ Interval: 100 }, 'Interval in Healthcheck cannot be less than 1ms'],
      [{ Interval: -5 }, 'Interval in Healthcheck cannot be less than 1ms'],
      [{ Timeout: 5 }, 'Timeout in Healthcheck cannot be less than 1ms'],
      [{ Retries: -1 }, 'Retries in Healthcheck cannot be negative'],
      [{ StartPeriod: 7 }, 'StartPeriod in Healthcheck cannot be less than 1ms'],
      [{ StartInterval: 7 }, 'StartInterval in Healthcheck cannot be less than 1ms'],
    ]
    for (const [hc, message] of cases) {
      const r = await apiRequest(d, 'POST', '/v1.45/containers/create', {
        Image: 'busybox',
        Healthcheck: hc,
      })
      assert.equal(r.status, 400, JSON.stringify(hc))
      assert.deepEqual(JSON.parse(r.body), { message })
    }
    // Before API 1.44 there was no StartInterval: dockerd drops it, unchecked.
    const old = await apiRequest(d, 'POST', '/v1.43/containers/create', {
      Image: 'busybox',
      Cmd: ['true'],
      Healthcheck: { Test: ['CMD', 'true'], StartInterval: 7 },
    })
    assert.equal(old.status, 201, old.body)
    const oldId = (JSON.parse(old.body) as { Id: string }).Id
    assert.equal(
      (await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', oldId])).trim(),
      '{"Test":["CMD","true"]}',
    )
    await ok(['rm', oldId])
    const cli = await docker(['create', '--health-interval', '100us', 'busybox'], host())
    assert.equal(cli.code, 1)
    assert.match(cli.stderr, /Interval in Healthcheck cannot be less than 1ms/)
  })

  test('a restarted berthd keeps State.Health and goes on checking', async () => {
    const status = await healthEvent('hc-keep', () =>
      ok([
        'run',
        '-d',
        '--name',
        'hc-keep',
        '--health-cmd',
        'test ! -e /tmp/down',
        '--health-interval',
        '300ms',
        '--health-retries',
        '1',
        'busybox',
        'sleep',
        '1000',
      ]),
    )
    assert.equal(status, 'healthy')
    await d.restart()
    assert.equal((await health('hc-keep'))?.Status, 'healthy')
    assert.match(await psStatus('hc-keep'), /^Up .+ \(healthy\)$/)
    // Checks go on under the new daemon: the container turns unhealthy when its check fails.
    const after = await healthEvent('hc-keep', () => ok(['exec', 'hc-keep', 'touch', '/tmp/down']))
    assert.equal(after, 'unhealthy')
    await ok(['rm', '-f', 'hc-keep'])
  })
})

describe('docker-compose 1.29', () => {
  const COMPOSE = '/usr/bin/docker-compose'
  const compose = (args: string[]): Promise<RunResult> =>
    client(
      COMPOSE,
      [
        '-f',
        join(repoRoot, 'test/e2e/health/docker-compose.yml'),
        '-p',
        'bthc',
        '--ansi',
        'never',
        ...args,
      ],
      { host: d, timeoutMs: 120_000 },
    )

  test('depends_on condition service_healthy starts the dependent once the first is healthy', async () => {
    try {
      const up = await compose(['up', '-d'])
      assert.equal(up.code, 0, `${up.stdout}${up.stderr}`)
      const db = await health('bthc_db_1')
      assert.equal(db?.Status, 'healthy')
      const firstHealthy = db?.Log.find((l) => l.ExitCode === 0)
      assert.ok(firstHealthy, JSON.stringify(db))
      // The db failed its check first (it becomes ready 4 s after it starts).
      assert.ok(
        db?.Log.some((l) => l.ExitCode !== 0),
        JSON.stringify(db),
      )
      const appCreated = (await ok(['inspect', '-f', '{{.Created}}', 'bthc_app_1'])).trim()
      assert.ok(
        Date.parse(appCreated) >= Date.parse(firstHealthy.End),
        `app created ${appCreated}, db healthy at ${firstHealthy.End}`,
      )
      assert.match(await psStatus('bthc_app_1'), /^Up /)
    } finally {
      const down = await compose(['down', '-t', '0'])
      assert.equal(down.code, 0, `${down.stdout}${down.stderr}`)
    }
  })
})
