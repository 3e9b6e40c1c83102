// The events fake for API tests: the bus itself (it does no I/O), also keeping every event
// emitted, so a test can ask what a route or module reported. test/conformance holds it to
// the same behaviour as EventBus.
import { EventBus } from './bus.ts'
import type { EventInput } from './types.ts'

export class FakeEvents extends EventBus {
  /** Every event emitted, as given (before the bus stamps it). */
  readonly emitted: EventInput[] = []

  override emit(input: EventInput): void {
    this.emitted.push(structuredClone(input))
    super.emit(input)
  }

  /** Test helper: the emitted events as "Type Action ID". */
  actions(): string[] {
    return this.emitted.map((e) => `${e.Type} ${e.Action} ${e.Actor.ID}`)
  }
}
