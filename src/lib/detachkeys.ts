// Docker's detach keys (moby/term): the key sequence that ends an attach to a TTY while the
// process keeps running. One grammar and one scanner for both faces: the engine watches a
// hijacked client's input for them, the CLI the user's keyboard. Pure.
import { ParseError } from './errors.ts'

/** ctrl-p, ctrl-q */
export const DEFAULT_DETACH_KEYS: readonly number[] = [16, 17]

const CTRL = '@abcdefghijklmnopqrstuvwxyz[\\]^_'

/**
 * Docker's term.ToBytes: comma-separated keys, each one character, `ctrl-X` or `DEL`.
 * Throws ParseError with moby/term's words on an unknown key.
 */
export function parseDetachKeys(keys: string): number[] {
  const out: number[] = []
  for (const key of keys.split(',')) {
    if (key.length === 1) {
      out.push(key.charCodeAt(0) & 0xff)
      continue
    }
    const ctrl = /^ctrl-(.)$/.exec(key)
    const i = ctrl ? CTRL.indexOf(ctrl[1] as string) : -1
    if (i >= 0) out.push(i)
    else if (key === 'DEL') out.push(127)
    else throw new ParseError(`Unknown character: '${key}'`)
  }
  return out
}

/**
 * Watches an input stream for the detach sequence. Bytes of a partial match are held back and
 * released if the sequence breaks, so the process sees every byte the user typed that was not
 * part of a detach.
 */
export class DetachScanner {
  private pos = 0

  constructor(private readonly keys: readonly number[] = DEFAULT_DETACH_KEYS) {}

  /** The bytes to forward, and whether the sequence completed (nothing after it is forwarded). */
  push(chunk: Uint8Array): { forward: Buffer; detached: boolean } {
    const keys = this.keys
    if (keys.length === 0) return { forward: Buffer.from(chunk), detached: false }
    const out: number[] = []
    for (const b of chunk) {
      if (b === keys[this.pos]) {
        this.pos++
        if (this.pos === keys.length) {
          this.pos = 0
          return { forward: Buffer.from(out), detached: true }
        }
        continue
      }
      // The held-back prefix was not a detach after all: release it, then see whether this
      // byte starts a new sequence.
      for (let i = 0; i < this.pos; i++) out.push(keys[i] as number)
      this.pos = 0
      if (b === keys[0]) {
        this.pos = 1
        if (keys.length === 1) return { forward: Buffer.from(out), detached: true }
      } else out.push(b)
    }
    return { forward: Buffer.from(out), detached: false }
  }
}
