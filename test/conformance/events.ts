// The EventsApi conformance suite: how events are stamped, replayed, filtered and ended, for
// every implementation (the bus, and the fake API tests use). events.test.ts runs it on each.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { EngineEvent, EventsApi, EventSubscription } from '../../src/engine/events/types.ts'

const ev = (action: string, id = 'c1') => ({
  Type: 'container',
  Action: action,
  Actor: { ID: id, Attributes: { image: 'busybox', name: 'n' } },
})

async function all(sub: EventSubscription): Promise<EngineEvent[]> {
  const out: EngineEvent[] = []
  for await (const e of sub) out.push(e)
  return out
}

async function take(sub: EventSubscription, n: number): Promise<string[]> {
  const out: string[] = []
  for await (const e of sub) {
    out.push(e.Action)
    if (out.length === n) break
  }
  return out
}

export function eventsSuite(name: string, make: () => EventsApi): void {
  describe(`EventsApi conformance: ${name}`, () => {
    test('events are stamped in order, with the scope and the fields old clients read', async () => {
      const bus = make()
      const t0 = bus.now()
      bus.emit(ev('create'))
      bus.emit(ev('start'))
      bus.emit({
        Type: 'image',
        Action: 'tag',
        Actor: { ID: 'sha256:x', Attributes: { name: 'a:b' } },
      })
      bus.emit({ Type: 'volume', Action: 'create', Actor: { ID: 'v', Attributes: {} } })
      const got = await all(bus.subscribe({ since: t0, until: bus.now() }))
      assert.deepEqual(
        got.map((e) => `${e.Type} ${e.Action}`),
        ['container create', 'container start', 'image tag', 'volume create'],
      )
      for (let i = 1; i < got.length; i++) assert.ok(got[i - 1]!.timeNano < got[i]!.timeNano)
      assert.ok(got[0]!.timeNano >= t0)
      for (const e of got) {
        assert.equal(e.scope, 'local')
        assert.equal(e.time, Number(e.timeNano / 1_000_000_000n))
      }
      assert.deepEqual([got[0]!.status, got[0]!.id, got[0]!.from], ['create', 'c1', 'busybox'])
      assert.deepEqual([got[2]!.status, got[2]!.id, got[2]!.from], ['tag', 'sha256:x', undefined])
      assert.deepEqual([got[3]!.status, got[3]!.id], [undefined, undefined])
    })

    test('an event is its own copy: changing the input afterwards changes nothing', async () => {
      const bus = make()
      const t0 = bus.now()
      const input = ev('die')
      bus.emit(input)
      input.Actor.Attributes.name = 'changed'
      const [e] = await all(bus.subscribe({ since: t0, until: bus.now() }))
      assert.equal(e!.Actor.Attributes.name, 'n')
    })

    test('without since, only live events arrive, and match filters them', async () => {
      const bus = make()
      bus.emit(ev('old'))
      const sub = bus.subscribe({ match: (e) => e.Action !== 'skip' })
      const got = take(sub, 2)
      bus.emit(ev('skip'))
      bus.emit(ev('a'))
      bus.emit(ev('b'))
      assert.deepEqual(await got, ['a', 'b'])
    })

    test('since replays what happened from then on, and live events follow without a gap', async () => {
      const bus = make()
      bus.emit(ev('one'))
      const t = bus.now()
      bus.emit(ev('two'))
      const sub = bus.subscribe({ since: t })
      const got = take(sub, 2)
      bus.emit(ev('three'))
      assert.deepEqual(await got, ['two', 'three'])
    })

    test('an until already past ends the stream after the replay', async () => {
      const bus = make()
      const t0 = bus.now()
      bus.emit(ev('a'))
      const until = bus.now()
      bus.emit(ev('b'))
      const got = await all(bus.subscribe({ since: t0, until }))
      assert.deepEqual(
        got.map((e) => e.Action),
        ['a'],
      )
    })

    test('an until ahead ends the stream when it passes, even with no event', async () => {
      const bus = make()
      const sub = bus.subscribe({ until: bus.now() + 200_000_000n })
      const got = all(sub)
      bus.emit(ev('in'))
      const deadline = new Promise((r) => setTimeout(() => r('hung'), 3000))
      const out = await Promise.race([got, deadline])
      assert.notEqual(out, 'hung')
      assert.deepEqual(
        (out as EngineEvent[]).map((e) => e.Action),
        ['in'],
      )
    })

    test('close ends a subscription at once, and later events do not reach it', async () => {
      const bus = make()
      const sub = bus.subscribe({})
      const got = all(sub)
      bus.emit(ev('a'))
      sub.close()
      bus.emit(ev('b'))
      assert.deepEqual(
        (await got).map((e) => e.Action),
        ['a'],
      )
    })
  })
}
