import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fakeEngine, request, startTestServer } from '../testing.ts'

test('GET /events over the fake bus: replay with since/until, filters, exact timeNano', async () => {
  const engine = fakeEngine()
  const srv = await startTestServer(engine)
  try {
    const t0 = engine.events.now()
    engine.events.emit({
      Type: 'container',
      Action: 'start',
      Actor: { ID: 'c1', Attributes: { name: 'a' } },
    })
    engine.events.emit({
      Type: 'image',
      Action: 'tag',
      Actor: { ID: 'sha256:x', Attributes: { name: 'b:1' } },
    })
    const until = engine.events.now()
    const sec = (ns: bigint) =>
      `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`
    const r = await request(srv.socketPath, 'GET', `/events?since=${sec(t0)}&until=${sec(until)}`)
    assert.equal(r.status, 200)
    const lines = r.text.trim().split('\n')
    assert.equal(lines.length, 2)
    const first = JSON.parse(lines[0]!) as { Type: string; Action: string; timeNano: number }
    assert.deepEqual([first.Type, first.Action], ['container', 'start'])
    assert.match(lines[0]!, /"timeNano":\d{19}}$/)
    const f = encodeURIComponent(JSON.stringify({ type: ['image'] }))
    const images = await request(
      srv.socketPath,
      'GET',
      `/events?since=${sec(t0)}&until=${sec(until)}&filters=${f}`,
    )
    assert.deepEqual(
      images.text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { Action: string }).Action),
      ['tag'],
    )
    const bad = await request(srv.socketPath, 'GET', '/events?since=yesterday')
    assert.equal(bad.status, 400)
    assert.equal(
      bad.json<{ message: string }>().message,
      'failed to parse value as time or duration: "yesterday"',
    )
  } finally {
    await srv.close()
  }
})
