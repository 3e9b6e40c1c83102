// A compose-like project's services keep finding each other by name across restarts: after
// each `docker restart api` returns, `web` (on the same user network, which has names)
// resolves api's service alias to api's address at once. Stock docker CLI against berthd, and
// against Debian's dockerd the same way for comparison.
//
// It used to fail on berthd about one restart in two: the network's bridge took the lowest
// MAC address of its ports, so api's new veth changed it, web's ARP entry for the gateway
// (where aardvark-dns answers) went on pointing at the old one, and web's DNS queries were
// lost until that entry went stale ("bad address" in docker-compose's e2e test).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { docker, onBothEngines, type EngineCli } from './harness.ts'

const RESTARTS = 6

onBothEngines('restart keeps a service resolvable by name', restarts)

function restarts({ host, ok }: EngineCli): void {
  /** web's answer for api's alias, and api's address as inspect shows it. */
  async function lookup(): Promise<{ answer: string; ip: string }> {
    const ip = (
      await ok(['inspect', '-f', '{{(index .NetworkSettings.Networks "proj").IPAddress}}', 'api'])
    ).trim()
    const r = await docker(['exec', 'web', 'busybox', 'nslookup', 'api-svc'], { host: host() })
    return { answer: `${r.stdout}${r.stderr}`, ip }
  }

  test(`web resolves api's alias right after each of ${RESTARTS} restarts of api`, async () => {
    await ok(['network', 'create', 'proj'])
    for (const [c, alias] of [
      ['api', 'api-svc'],
      ['web', 'web-svc'],
    ] as const) {
      await ok([
        'run',
        '-d',
        '--name',
        c,
        '--network',
        'proj',
        '--network-alias',
        alias,
        'busybox',
        'sleep',
        '1000',
      ])
    }
    // web has talked to the gateway (its resolver) before the first restart, as a running
    // service has.
    const first = await lookup()
    assert.match(first.answer, new RegExp(`Address: ${first.ip.replace(/\./g, '\\.')}$`, 'm'))

    const failed: string[] = []
    for (let i = 1; i <= RESTARTS; i++) {
      await ok(['restart', '-t', '0', 'api'])
      const { answer, ip } = await lookup()
      if (!new RegExp(`Address: ${ip.replace(/\./g, '\\.')}$`, 'm').test(answer)) {
        failed.push(`restart ${i}: ${answer.trim().replace(/\n+/g, ' / ')}`)
      }
    }
    assert.deepEqual(failed, [], `web could not resolve api-svc after restarts`)
    await ok(['rm', '-f', 'api', 'web'])
    await ok(['network', 'rm', 'proj'])
  })
}
