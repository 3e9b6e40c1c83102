// Signals in the engine: Docker's signal grammar (src/lib/signal.ts), whose errors are 400s.
import { parseSignal as parse } from '../../lib/signal.ts'
import { parsed } from '../grammar.ts'

/** "KILL", "SIGKILL", "kill" or "9" → 9; InvalidArgument `Invalid signal: X` otherwise. */
export function parseSignal(raw: string): number {
  return parsed(() => parse(raw))
}
