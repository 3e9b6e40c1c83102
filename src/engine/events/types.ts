/** Who an event is about: a container's or image's ID and its attributes (name, image, labels...). */
export interface EventActor {
  ID: string
  Attributes: Record<string, string>
}

/** What a module reports; the bus stamps it with the time. */
export interface EventInput {
  /** container, image, volume, network, daemon... */
  Type: string
  Action: string
  Actor: EventActor
}

/** Docker's events.Message; `status`, `id` and `from` are the pre-1.22 fields, still sent. */
export interface EngineEvent extends EventInput {
  scope: 'local'
  /** Unix seconds. */
  time: number
  /** Unix nanoseconds; a bigint, since it does not fit a double. */
  timeNano: bigint
  status?: string
  id?: string
  from?: string
}

export interface SubscribeOptions {
  /** Replay backlog events at or after this time (unix nanoseconds); none when absent. */
  since?: bigint
  /** Stop with the last event at or before this time (unix nanoseconds). */
  until?: bigint
  match?: (e: EngineEvent) => boolean
}

/** The backlog's matching events, then live ones until closed. */
export interface EventSubscription extends AsyncIterable<EngineEvent> {
  close(): void
}

export interface EventSink {
  emit(e: EventInput): void
}

export interface EventsApi extends EventSink {
  subscribe(opts: SubscribeOptions): EventSubscription
  /** The bus's clock (unix nanoseconds), so callers compare times the way the bus stamps them. */
  now(): bigint
}

/** One event as dockerd writes it, with timeNano as an exact integer. */
export function eventJson(e: EngineEvent): string {
  const { timeNano, ...rest } = e
  return JSON.stringify({ ...rest, timeNano: 0 }).replace(/"timeNano":0}$/, () => {
    return `"timeNano":${timeNano.toString()}}`
  })
}

/** A Docker event's attributes for a container: its labels, then image and name, then extra. */
export function containerAttributes(
  c: { name: string; config: { Image?: string; Labels?: Record<string, string> | null } },
  extra: Record<string, string> = {},
): Record<string, string> {
  return { ...(c.config.Labels ?? {}), image: c.config.Image ?? '', name: c.name, ...extra }
}
