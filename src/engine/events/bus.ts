// The engine's event bus: modules emit, `GET /events` subscribers receive. A bounded backlog
// lets `--since` replay recent history, as dockerd's in-memory event log does.
import type {
  EngineEvent,
  EventInput,
  EventsApi,
  EventSubscription,
  SubscribeOptions,
} from './types.ts'

/** dockerd keeps the last 256 events; a little more history costs nothing. */
export const DEFAULT_BACKLOG = 1024

export class EventBus implements EventsApi {
  private readonly backlog: EngineEvent[] = []
  private readonly subscribers = new Set<(e: EngineEvent) => void>()
  // Wall clock with nanosecond resolution: the epoch offset once, then the monotonic clock.
  private readonly offset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint()
  private last = 0n

  constructor(private readonly limit = DEFAULT_BACKLOG) {}

  now(): bigint {
    return process.hrtime.bigint() + this.offset
  }

  emit(input: EventInput): void {
    // Strictly increasing, so since/until replay is exact even for events in the same ns.
    let t = this.now()
    if (t <= this.last) t = this.last + 1n
    this.last = t
    const e: EngineEvent = {
      ...legacyFields(input),
      Type: input.Type,
      Action: input.Action,
      Actor: { ID: input.Actor.ID, Attributes: { ...input.Actor.Attributes } },
      scope: 'local',
      time: Number(t / 1_000_000_000n),
      timeNano: t,
    }
    this.backlog.push(e)
    if (this.backlog.length > this.limit) this.backlog.shift()
    for (const s of this.subscribers) s(e)
  }

  subscribe(opts: SubscribeOptions): EventSubscription {
    const { since, until, match } = opts
    const wanted = (e: EngineEvent): boolean =>
      (until === undefined || e.timeNano <= until) && (match === undefined || match(e))
    const queue: EngineEvent[] =
      since === undefined ? [] : this.backlog.filter((e) => e.timeNano >= since && wanted(e))
    let closed = false
    let wake: (() => void) | undefined
    const notify = (): void => {
      const w = wake
      wake = undefined
      w?.()
    }
    const listener = (e: EngineEvent): void => {
      if (until !== undefined && e.timeNano > until) {
        close()
        return
      }
      if (wanted(e)) {
        queue.push(e)
        notify()
      }
    }
    let timer: NodeJS.Timeout | undefined
    const close = (): void => {
      if (closed) return
      closed = true
      clearTimeout(timer)
      this.subscribers.delete(listener)
      notify()
    }
    // With an `until` already past, only the backlog can match; one ahead ends the stream when
    // it comes, even if no event does (rounded up: a remainder under 1 ms still counts).
    const remaining = until === undefined ? undefined : until - this.now()
    if (remaining !== undefined && remaining <= 0n) closed = true
    else {
      this.subscribers.add(listener)
      if (remaining !== undefined) {
        timer = setTimeout(close, Number((remaining + 999_999n) / 1_000_000n))
      }
    }
    async function* iterate(): AsyncGenerator<EngineEvent> {
      try {
        for (;;) {
          const e = queue.shift()
          if (e) {
            yield e
            continue
          }
          if (closed) return
          await new Promise<void>((r) => (wake = r))
        }
      } finally {
        close()
      }
    }
    return { [Symbol.asyncIterator]: iterate, close }
  }
}

/** The deprecated fields old clients read: status and id, plus from (the image) for containers. */
function legacyFields(e: EventInput): Partial<EngineEvent> {
  if (e.Type === 'container') {
    return { status: e.Action, id: e.Actor.ID, from: e.Actor.Attributes.image ?? '' }
  }
  if (e.Type === 'image') return { status: e.Action, id: e.Actor.ID }
  return {}
}
