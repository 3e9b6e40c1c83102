import type { CommandDef } from '../command.ts'
import { CliError, encodeFilters, filterFlag, list, outAsync, str } from '../command.ts'
import { render, STRUCT } from '../template/index.ts'
import { getTimestamp } from '../../lib/timestamp.ts'

/** Docker's events.Message as it arrives. */
export interface EventMessage {
  status?: string
  id?: string
  from?: string
  Type: string
  Action: string
  Actor: { ID: string; Attributes?: Record<string, string> }
  scope?: string
  time: number
  timeNano: number
}

/** RFC3339NanoFixed in local time, from the event's nanoseconds (kept exact from the text). */
export function eventTime(nanos: string | undefined, seconds: number): string {
  const ns = nanos !== undefined && nanos !== '0' ? BigInt(nanos) : BigInt(seconds) * 1_000_000_000n
  const ms = Number(ns / 1_000_000n)
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0')
  const d = new Date(ms)
  const off = -d.getTimezoneOffset()
  const local = new Date(ms + off * 60_000).toISOString().slice(0, 19)
  if (off === 0) return `${local}.${frac}Z`
  const sign = off > 0 ? '+' : '-'
  const a = Math.abs(off)
  return `${local}.${frac}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`
}

/** The docker CLI's default line: time, type, action, actor, then the attributes sorted. */
export function eventLine(e: EventMessage, timeNano: string | undefined): string {
  let s = `${eventTime(timeNano, e.time)} ${e.Type} ${e.Action} ${e.Actor.ID}`
  const attrs = Object.entries(e.Actor.Attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))
  if (attrs.length > 0) s += ` (${attrs.map(([k, v]) => `${k}=${v}`).join(', ')})`
  return s + '\n'
}

function eventContext(e: EventMessage): object {
  return {
    [STRUCT]: 'events.Message',
    Status: e.status ?? '',
    ID: e.id ?? '',
    From: e.from ?? '',
    Type: e.Type,
    Action: e.Action,
    Actor: { [STRUCT]: 'events.Actor', ID: e.Actor.ID, Attributes: e.Actor.Attributes ?? {} },
    Scope: e.scope ?? '',
    Time: e.time,
    TimeNano: e.timeNano,
  }
}

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Get real time events from the server',
  aliases: ['berth system events', 'berth events'],
  args: { max: 0 },
  flags: [
    filterFlag,
    {
      long: 'format',
      kind: 'string',
      desc: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
    },
    { long: 'since', kind: 'string', desc: 'Show all events created since timestamp' },
    { long: 'until', kind: 'string', desc: 'Stream events until this timestamp' },
  ],
  async run(ctx, f) {
    const now = Date.now()
    let since: string | undefined
    let until: string | undefined
    try {
      if (str(f, 'since')) since = getTimestamp(str(f, 'since'), now)
      if (str(f, 'until')) until = getTimestamp(str(f, 'until'), now)
    } catch (e) {
      throw new CliError((e as Error).message)
    }
    const format = str(f, 'format')
    const client = await ctx.client()
    const ac = new AbortController()
    process.once('SIGINT', () => ac.abort())
    // A reader that goes away (`| head`) ends the stream quietly, as SIGPIPE ends docker's.
    process.stdout.on('error', () => ac.abort())
    const res = await client.request('GET', '/events', {
      query: { since, until, filters: encodeFilters(list(f, 'filter')) },
      signal: ac.signal,
    })
    let buf = ''
    try {
      for await (const c of res) {
        buf += (c as Buffer).toString('utf8')
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim()
          buf = buf.slice(nl + 1)
          if (!line) continue
          const e = JSON.parse(line) as EventMessage
          // timeNano does not fit a double: take its digits from the text.
          const nanos = /"timeNano":(\d+)/.exec(line)?.[1]
          if (format === 'json') await outAsync(line + '\n')
          else if (format) await outAsync(render(format, eventContext(e)) + '\n')
          else await outAsync(eventLine(e, nanos))
        }
      }
    } catch (e) {
      const epipe = (e as NodeJS.ErrnoException).code === 'EPIPE'
      if (!ac.signal.aborted && !epipe) throw e
    }
    res.destroy()
    return 0
  },
}
