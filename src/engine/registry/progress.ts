// Small helpers for Docker's progress messages during pull and push.
import { hex, type Digest } from '../digest.ts'

/** How often a transfer's bar moves, at most. */
export const PROGRESS_INTERVAL_MS = 100

/** The short ID Docker shows for a blob (pull) or a layer's diffID (push): 12 hex digits. */
export function shortDigest(d: Digest): string {
  return hex(d).slice(0, 12)
}

/** Calls fn at most every PROGRESS_INTERVAL_MS, and always for a call marked final. */
export function throttled(fn: (n: number) => void): (n: number, final?: boolean) => void {
  let last = 0
  return (n, final = false) => {
    const now = Date.now()
    if (final || now - last >= PROGRESS_INTERVAL_MS) {
      last = now
      fn(n)
    }
  }
}
