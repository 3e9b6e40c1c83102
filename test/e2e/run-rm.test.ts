// `docker run --rm` as a user sees its end, through the stock docker CLI, against berthd and
// against Debian's dockerd the same way: the container's last events come in dockerd's order,
// and its volumes are free by the time the command returns.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { docker, onBothEngines, type EngineCli } from './harness.ts'

onBothEngines('docker run --rm', runRm)

interface Ev {
  Type: string
  Action: string
  Actor: { ID: string; Attributes: Record<string, string> }
}

function runRm({ host, ok: run }: EngineCli): void {
  const ok = async (args: string[]): Promise<string> => (await run(args)).trim()

  test('the last events: die, network disconnect, volume unmount, destroy', async () => {
    const since = (Date.now() / 1000).toFixed(3)
    await ok(['run', '--rm', '--name', 'rmev', '-v', 'rmev-vol:/x', 'busybox', 'true'])
    const until = String(Math.ceil(Date.now() / 1000) + 1)
    const out = await ok(['events', '--since', since, '--until', until, '--format', '{{json .}}'])
    const all = out.split('\n').map((l) => JSON.parse(l) as Ev)
    const created = all.find(
      (e) => e.Type === 'container' && e.Action === 'create' && e.Actor.Attributes.name === 'rmev',
    )
    assert.ok(created, out)
    const id = created.Actor.ID
    const mine = all
      .filter((e) => e.Actor.ID === id || e.Actor.Attributes.container === id)
      .map((e) => `${e.Type} ${e.Action}`)
    const die = mine.indexOf('container die')
    assert.ok(die >= 0, mine.join(', '))
    assert.deepEqual(mine.slice(die), [
      'container die',
      'network disconnect',
      'volume unmount',
      'container destroy',
    ])
    await ok(['volume', 'rm', 'rmev-vol'])
  })

  test('a named volume can be removed as soon as run --rm returns', async () => {
    const refused: string[] = []
    for (let i = 0; i < 8; i++) {
      const vol = `rmvol${i}`
      await ok(['run', '--rm', '-v', `${vol}:/x`, 'busybox', 'sh', '-c', 'echo hi > /x/f'])
      const r = await docker(['volume', 'rm', vol], { host: host() })
      if (r.code !== 0) refused.push(`run ${i + 1}: ${r.stderr.trim()}`)
    }
    assert.deepEqual(refused, [])
  })
}
