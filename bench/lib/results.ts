// What a benchmark run found: rows of samples per engine, the berth/peer ratios and the goals
// from issue 7, in one JSON-ready shape the Markdown, JSON and SVG writers all read.
export type Unit = 'ms' | 'MiB' | 'KiB' | 'count'

/**
 * ok: measured. unsupported: berth answered an error (a feature not built yet). failed: a
 * peer failed. unavailable: the engine is not installed or was left out. skipped: not run.
 */
export type Status = 'ok' | 'unsupported' | 'failed' | 'unavailable' | 'skipped'

export interface Row {
  group: string
  variant: string
  label: string
  unit: Unit
  status: Status
  note?: string
  samples: number[]
  /** Attempts (or, for parallel runs, containers) that failed among the measured ones. */
  failures: number
  median: number | null
  min: number | null
  max: number | null
}

export interface Group {
  id: string
  title: string
  what: string
  /** The chart's label. */
  short: string
}

export interface Ratio {
  group: string
  name: string
  num: string
  den: string
  value: number | null
  /** The goal for this ratio, when it has one (at most this). */
  goal?: number
}

export interface Goal {
  text: string
  target: string
  measured: string
  /** null: not measured in this run (the reason is in note). */
  met: boolean | null
  note?: string
}

export interface Report {
  date: string
  machine: Record<string, string>
  versions: Record<string, string>
  options: Record<string, string | number | boolean>
  notes: string[]
  groups: Group[]
  rows: Row[]
  ratios: Ratio[]
  goals: Goal[]
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

export function makeRow(
  group: string,
  variant: string,
  label: string,
  unit: Unit,
  samples: number[],
  extra: Partial<Pick<Row, 'status' | 'note' | 'failures'>> = {},
): Row {
  const status = extra.status ?? (samples.length > 0 ? 'ok' : 'failed')
  return {
    group,
    variant,
    label,
    unit,
    status,
    ...(extra.note !== undefined ? { note: extra.note } : {}),
    samples,
    failures: extra.failures ?? 0,
    median: status === 'ok' ? median(samples) : null,
    min: status === 'ok' && samples.length > 0 ? Math.min(...samples) : null,
    max: status === 'ok' && samples.length > 0 ? Math.max(...samples) : null,
  }
}

/** A row with no numbers, saying why. */
export function emptyRow(
  group: string,
  variant: string,
  label: string,
  unit: Unit,
  status: Exclude<Status, 'ok'>,
  note: string,
): Row {
  return makeRow(group, variant, label, unit, [], { status, note })
}

export class Results {
  readonly rows: Row[] = []
  readonly ratios: Ratio[] = []

  add(row: Row): Row {
    this.rows.push(row)
    return row
  }

  find(group: string, variant: string): Row | undefined {
    return this.rows.find((r) => r.group === group && r.variant === variant)
  }

  value(group: string, variant: string): number | null {
    return this.find(group, variant)?.median ?? null
  }

  /** Records num/den of two rows' medians (null when either has no number). */
  ratio(group: string, num: string, den: string, name: string, goal?: number): Ratio {
    const a = this.value(group, num)
    const b = this.value(group, den)
    const r: Ratio = {
      group,
      name,
      num,
      den,
      value: a !== null && b !== null && b > 0 ? a / b : null,
      ...(goal !== undefined ? { goal } : {}),
    }
    this.ratios.push(r)
    return r
  }
}
