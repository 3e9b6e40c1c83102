// Fault injection for crash tests: berthd kills itself (SIGKILL, as a crash or `kill -9` would)
// at a named point inside a flow, so tests can check that state on disk survives it.
//
// Off unless a test turns it on:
//   BERTH_FAULT=<point>[,<point>...]  armed from startup (re-armed on every restart)
//   BERTH_FAULT_FILE=<path>           armed while the file names the point; the file is
//                                     removed before the kill, so the restarted daemon runs
import { readFileSync, unlinkSync } from 'node:fs'

const fixed = new Set(
  (process.env.BERTH_FAULT ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
)
const file = process.env.BERTH_FAULT_FILE || undefined
const enabled = fixed.size > 0 || file !== undefined

/** The points crash tests may name; faultPoint() refuses any other, so a typo fails loudly. */
export const FAULT_POINTS = [
  'create.after-rw',
  'create.before-record',
  'create.after-record',
  'start.after-mount',
  'start.after-create',
  'start.after-start',
  'rm.after-runtime',
  'rm.after-record',
  'import.after-layer',
  'import.before-record',
  'load.after-layers',
  'load.mid-record',
  'commit.paused',
  'commit.before-record',
  'trash.before-move',
  'trash.after-move',
  'restore.before-move',
  'restore.after-move',
  'pull.after-layer',
  'pull.before-record',
] as const

export type FaultPoint = (typeof FAULT_POINTS)[number]

/** Dies here when a test armed this point; costs one comparison otherwise. */
export function faultPoint(name: FaultPoint): void {
  if (!enabled) return
  let armed = fixed.has(name)
  if (!armed && file !== undefined) {
    // Test-only path: a synchronous read is fine, and keeps the check in line with the flow.
    let text = ''
    try {
      text = readFileSync(file, 'utf8').trim()
    } catch {
      // not armed
    }
    if (text === name) {
      armed = true
      try {
        unlinkSync(file)
      } catch {
        // already gone
      }
    }
  }
  if (armed) process.kill(process.pid, 'SIGKILL')
}
