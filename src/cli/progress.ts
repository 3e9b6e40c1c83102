// The docker CLI's jsonmessage.DisplayJSONMessagesStream: in a terminal, one line per layer ID,
// redrawn in place (cursor up, clear line, bar, cursor down); elsewhere, one plain line per
// status, progress bars left out. An error message in the stream ends it as an error.
import type { Readable } from 'node:stream'
import { progressString, type ProgressDetail } from '../lib/progress.ts'
import { jsonLines, JSONMessageError } from './client.ts'

export interface ProgressMessage {
  status?: string
  id?: string
  progressDetail?: ProgressDetail
  progress?: string
  stream?: string
  aux?: unknown
  error?: string
  errorDetail?: { message?: string; code?: number }
}

export interface ProgressOutput {
  write(s: string): unknown
  /** A terminal: bars are drawn and redrawn in place. */
  isTTY?: boolean
  columns?: number
}

const ESC = '\x1b['

export async function displayProgress(
  res: Readable,
  out: ProgressOutput,
  onAux?: (m: ProgressMessage) => void,
): Promise<void> {
  const terminal = out.isTTY === true
  // Layer ID → its line, counted from the first progress line of this block.
  let ids = new Map<string, number>()
  for await (const m of jsonLines<ProgressMessage>(res)) {
    if (m.aux !== undefined) {
      onAux?.(m)
      continue
    }
    if (m.errorDetail?.message || m.error) {
      if (m.errorDetail?.code === 401) throw new JSONMessageError('authentication is required')
      throw new JSONMessageError(m.errorDetail?.message ?? m.error ?? '')
    }
    let diff = 0
    const hasProgress = m.progressDetail !== undefined || (m.progress ?? '') !== ''
    if (m.id && hasProgress) {
      let line = ids.get(m.id)
      if (line === undefined) {
        line = ids.size
        ids.set(m.id, line)
        if (terminal) out.write('\n')
      }
      diff = ids.size - line
      if (terminal && diff > 0) out.write(`${ESC}${diff}A`)
    } else {
      // Anything else starts a new block: earlier lines are no longer redrawn (pull -a).
      ids = new Map()
    }
    out.write(render(m, terminal, out.columns ?? 80))
    if (m.id && terminal && diff > 0) out.write(`${ESC}${diff}B`)
  }
}

/** jsonmessage.JSONMessage.Display. */
function render(m: ProgressMessage, terminal: boolean, columns: number): string {
  let endl = ''
  let s = ''
  const detail = m.progressDetail
  if (terminal && m.stream === undefined && detail !== undefined) {
    s += `${ESC}2K\r`
    endl = '\r'
  } else if (detail !== undefined && progressString(detail, columns) !== '') {
    // No bars without a terminal.
    return ''
  }
  if (m.id) s += `${m.id}: `
  if (detail !== undefined && terminal)
    s += `${m.status ?? ''} ${progressString(detail, columns)}${endl}`
  else if (m.progress) s += `${m.status ?? ''} ${m.progress}${endl}`
  else if (m.stream !== undefined) s += `${m.stream}${endl}`
  else s += `${m.status ?? ''}${endl}\n`
  return s
}
