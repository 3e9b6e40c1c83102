// Docker's progress bar text (jsonmessage.JSONProgress.String): the daemon puts it in every
// progress message's `progress` field (for a 200-column line), and a CLI draws it for its own
// terminal's width. `[=====>      ]  1.2MB/2.6MB 3s`.
import { humanSize } from './units.ts'

export interface ProgressDetail {
  current?: number
  total?: number
  /** Unix seconds the transfer started, for the time left; none when absent. */
  start?: number
  hidecounts?: boolean
  units?: string
}

/** A whole number of seconds as Go's time.Duration prints it: 0s, 45s, 1m5s, 2h0m3s. */
export function goSeconds(total: number): string {
  const s = Math.max(0, Math.trunc(total))
  const h = Math.trunc(s / 3600)
  const m = Math.trunc((s % 3600) / 60)
  const sec = s % 60
  if (h > 0) return `${h}h${m}m${sec}s`
  if (m > 0) return `${m}m${sec}s`
  return `${sec}s`
}

/** The text for a progress detail at `width` columns (the daemon, with no terminal, uses 200). */
export function progressString(p: ProgressDetail, width = 200, now = Date.now()): string {
  const current = p.current ?? 0
  const total = p.total ?? 0
  if (current <= 0 && total <= 0) return ''
  if (total <= 0) {
    if (!p.units) return humanSize(current).padStart(8)
    return `${current} ${p.units}`
  }
  const percentage = Math.min(50, Math.trunc(Math.trunc((current / total) * 100) / 2))
  let bar = ''
  if (width > 110) {
    bar = `[${'='.repeat(percentage)}>${' '.repeat(Math.max(0, 50 - percentage))}] `
  }
  let numbers = ''
  if (p.hidecounts) {
    // the bar alone
  } else if (!p.units) {
    numbers =
      current > total
        ? humanSize(current).padStart(8)
        : `${humanSize(current).padStart(8)}/${humanSize(total)}`
  } else {
    numbers = current > total ? `${current} ${p.units}` : `${current}/${total} ${p.units}`
  }
  let left = ''
  if (current > 0 && p.start !== undefined && p.start > 0 && percentage < 50 && width > 50) {
    const elapsed = now / 1000 - p.start
    left = ` ${goSeconds(((total - current) * elapsed) / current)}`
  }
  return bar + numbers + left
}
