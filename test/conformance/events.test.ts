// The event bus and the fake API tests use, held to one suite.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { EventBus } from '../../src/engine/events/bus.ts'
import { FakeEvents } from '../../src/engine/events/fake.ts'
import { eventsSuite } from './events.ts'

eventsSuite('EventBus', () => new EventBus())
eventsSuite('FakeEvents', () => new FakeEvents())

test('FakeEvents keeps what was emitted, for tests to ask', () => {
  const f = new FakeEvents()
  f.emit({ Type: 'image', Action: 'tag', Actor: { ID: 'sha256:x', Attributes: { name: 'a:b' } } })
  assert.deepEqual(f.actions(), ['image tag sha256:x'])
})
