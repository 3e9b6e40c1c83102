import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { EventBus } from './bus.ts'
import { containerAttributes, eventJson } from './types.ts'
import type { EngineEvent } from './types.ts'

const ev = (action: string, id = 'c1') => ({
  Type: 'container',
  Action: action,
  Actor: { ID: id, Attributes: { image: 'busybox', name: 'n' } },
})

async function take(it: AsyncIterable<EngineEvent>, n: number): Promise<string[]> {
  const out: string[] = []
  for await (const e of it) {
    out.push(e.Action)
    if (out.length === n) break
  }
  return out
}

describe('EventBus', () => {
  test('stamps events with strictly increasing times and the legacy fields', () => {
    const bus = new EventBus()
    const sub = bus.subscribe({ since: 0n })
    bus.emit(ev('create'))
    bus.emit(ev('start'))
    bus.emit({
      Type: 'image',
      Action: 'tag',
      Actor: { ID: 'sha256:x', Attributes: { name: 'a:b' } },
    })
    sub.close()
    return (async () => {
      const all: EngineEvent[] = []
      for await (const e of bus.subscribe({ since: 0n, until: bus.now() })) all.push(e)
      assert.deepEqual(
        all.map((e) => e.Action),
        ['create', 'start', 'tag'],
      )
      assert.ok(all[0]!.timeNano < all[1]!.timeNano && all[1]!.timeNano < all[2]!.timeNano)
      assert.equal(all[0]!.status, 'create')
      assert.equal(all[0]!.from, 'busybox')
      assert.equal(all[2]!.from, undefined)
      assert.equal(all[2]!.id, 'sha256:x')
      assert.equal(all[0]!.time, Number(all[0]!.timeNano / 1_000_000_000n))
    })()
  })

  test('without since only live events arrive; match filters them', async () => {
    const bus = new EventBus()
    bus.emit(ev('old'))
    const sub = bus.subscribe({ match: (e) => e.Action !== 'skip' })
    const got = take(sub, 2)
    bus.emit(ev('skip'))
    bus.emit(ev('a'))
    bus.emit(ev('b'))
    assert.deepEqual(await got, ['a', 'b'])
  })

  test('since replays the backlog, then live events follow without a gap', async () => {
    const bus = new EventBus()
    bus.emit(ev('one'))
    const t = bus.now()
    bus.emit(ev('two'))
    const sub = bus.subscribe({ since: t })
    const got = take(sub, 2)
    bus.emit(ev('three'))
    assert.deepEqual(await got, ['two', 'three'])
  })

  test('an until in the past ends after the backlog; the backlog is bounded', async () => {
    const bus = new EventBus(3)
    for (const a of ['a', 'b', 'c', 'd', 'e']) bus.emit(ev(a))
    const all: string[] = []
    for await (const e of bus.subscribe({ since: 0n, until: bus.now() })) all.push(e.Action)
    assert.deepEqual(all, ['c', 'd', 'e'])
  })

  test('a live event past until closes the subscription', async () => {
    const bus = new EventBus()
    const sub = bus.subscribe({ until: bus.now() + 1_000_000_000n })
    const got = (async () => {
      const out: string[] = []
      for await (const e of sub) out.push(e.Action)
      return out
    })()
    bus.emit(ev('in'))
    await new Promise((r) => setTimeout(r, 1100))
    bus.emit(ev('late'))
    assert.deepEqual(await got, ['in'])
  })

  test('an until less than a millisecond ahead still ends the stream with no event', async () => {
    const bus = new EventBus()
    bus.emit(ev('before'))
    const sub = bus.subscribe({ since: 0n, until: bus.now() + 300_000n })
    const got = (async () => {
      const out: string[] = []
      for await (const e of sub) out.push(e.Action)
      return out
    })()
    const deadline = new Promise((r) => setTimeout(() => r('hung'), 2000))
    assert.deepEqual(await Promise.race([got, deadline]), ['before'])
  })

  test('eventJson writes timeNano exactly and keeps Docker field order', () => {
    const bus = new EventBus()
    const sub = bus.subscribe({ since: 0n })
    bus.emit(ev('die'))
    sub.close()
    const e = {
      ...ev('die'),
      scope: 'local' as const,
      time: 1795525418,
      timeNano: 1795525418789507644n,
    }
    const text = eventJson({ status: 'die', id: 'c1', from: 'busybox', ...e })
    assert.match(text, /"timeNano":1795525418789507644}$/)
    assert.match(text, /^\{"status":"die","id":"c1","from":"busybox","Type":"container"/)
    assert.equal(JSON.parse(text).time, 1795525418)
  })

  test('containerAttributes: labels, then image and name, then extra', () => {
    const a = containerAttributes(
      { name: 'web', config: { Image: 'busybox', Labels: { a: 'b', name: 'x' } } },
      { exitCode: '0' },
    )
    assert.deepEqual(a, { a: 'b', name: 'web', image: 'busybox', exitCode: '0' })
  })
})
