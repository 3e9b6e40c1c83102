// Signal names and numbers as Docker's signal.ParseSignal reads them (kill --signal,
// --stop-signal, STOPSIGNAL): "KILL", "SIGKILL", "kill", "9", "RTMIN+2".
import { constants } from 'node:os'
import { ParseError } from './errors.ts'

const BY_NAME: Record<string, number> = (() => {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(constants.signals)) out[k.slice(3)] = v
  // Aliases Go's table has and Node's lacks.
  out.CLD = out.CHLD ?? 17
  out.POLL = out.IO ?? 29
  out.IOT = out.ABRT ?? 6
  return out
})()

/** The signal's number; ParseError `Invalid signal: X` when it names none. */
export function parseSignal(raw: string): number {
  if (/^-?\d+$/.test(raw)) {
    const n = Number.parseInt(raw, 10)
    if (n === 0 || n < 0 || n > 64) throw new ParseError(`Invalid signal: ${raw}`)
    return n
  }
  const name = raw.toUpperCase().replace(/^SIG/, '')
  const rt = /^RTMIN(?:\+(\d+))?$/.exec(name) ?? /^RTMAX(?:-(\d+))?$/.exec(name)
  if (rt) {
    const off = Number(rt[1] ?? 0)
    const n = name.startsWith('RTMIN') ? 34 + off : 64 - off
    if (n >= 34 && n <= 64) return n
  }
  const n = BY_NAME[name]
  if (n === undefined) throw new ParseError(`Invalid signal: ${raw}`)
  return n
}
