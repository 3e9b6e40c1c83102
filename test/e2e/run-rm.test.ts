// `docker run --rm` as a user sees its end, through the stock docker CLI, against berthd and
// against Debian's dockerd the same way: the container's last events come in dockerd's order,
// and its volumes are free by the time the command returns.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { docker, importBusybox, startBerthd, startDockerd, type Host } from './harness.ts'

describe('docker run --rm', { concurrency: 2 }, () => {
  for (const name of ['berthd', 'dockerd'] as const) {
    describe(`against ${name}`, { concurrency: 1 }, () => runRm(name))
  }
})

interface Ev {
  Type: string
  Action: string
  Actor: { ID: string; Attributes: Record<string, string> }
}

function runRm(name: 'berthd' | 'dockerd'): void {
  let d: { socket: string; stop(): Promise<void> }
  const h = (): { host: Host } => ({ host: d })

  before(async () => {
    d = name === 'berthd' ? await startBerthd() : await startDockerd({ bridge: true })
    await importBusybox(d)
  })

  after(async () => {
    await d?.stop()
  })

  async function ok(args: string[]): Promise<string> {
    const r = await docker(args, h())
    assert.equal(r.code, 0, `docker ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
    return r.stdout.trim()
  }

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
      const r = await docker(['volume', 'rm', vol], h())
      if (r.code !== 0) refused.push(`run ${i + 1}: ${r.stderr.trim()}`)
    }
    assert.deepEqual(refused, [])
  })
}
