// Writers for a run's results: a Markdown table (also pasted into bench/README.md), JSON, and
// a hand-made SVG bar chart of the berth/peer ratios with the goals drawn on them.
import type { Goal, Ratio, Report, Row, Unit } from './results.ts'

export function fmt(v: number | null, unit: Unit): string {
  if (v === null) return '–'
  switch (unit) {
    case 'ms':
      return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 100 ? 1 : 0)} ms`
    case 'MiB':
      return `${v.toFixed(2)} MiB`
    case 'KiB':
      return `${v.toFixed(0)} KiB`
    case 'count':
      return v.toFixed(0)
  }
}

const STATUS_WORDS: Record<Row['status'], string> = {
  ok: '',
  unsupported: '**not supported yet**',
  failed: '**failed**',
  unavailable: 'not available',
  skipped: 'skipped',
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

export function ratioText(r: Ratio): string {
  return r.value === null ? '–' : `${r.value.toFixed(2)}×`
}

function goalCell(g: Goal): string {
  if (g.met === null) return 'not measured'
  return g.met ? '✅ met' : '❌ missed'
}

/** The whole report as Markdown; `h` is the heading level of its title. */
export function markdown(rep: Report, opts: { h?: number; chart?: string } = {}): string {
  const h = (n: number) => '#'.repeat((opts.h ?? 1) + n)
  const out: string[] = []
  const m = rep.machine
  out.push(`${h(0)} berth benchmarks`, '')
  out.push(`- **Date:** ${rep.date}`)
  out.push(`- **Machine:** ${m.nproc} × ${m.cpu}, ${m.memory} memory, kernel ${m.kernel}, ${m.os}`)
  out.push(
    `- **Versions:** ${Object.entries(rep.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(' · ')}`,
  )
  out.push(
    `- **Options:** ${Object.entries(rep.options)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ')}`,
  )
  out.push('')
  for (const n of rep.notes) out.push(`> ${n}`, '>')
  if (rep.notes.length > 0) out.pop()
  out.push('', `${h(1)} Goals (issue 7)`, '')
  out.push('| goal | target | measured | |', '|---|---|---|---|')
  for (const g of rep.goals) {
    const measured = g.note !== undefined ? `${g.measured} (${g.note})` : g.measured
    out.push(`| ${cell(g.text)} | ${cell(g.target)} | ${cell(measured)} | ${goalCell(g)} |`)
  }
  out.push('', `${h(1)} Ratios (berth ÷ peer, of the medians; lower is better for berth)`, '')
  out.push(`![berth/peer ratios](${opts.chart ?? 'ratios.svg'})`, '')
  out.push('| measurement | ratio | value | goal |', '|---|---|---|---|')
  for (const r of rep.ratios) {
    const title = rep.groups.find((g) => g.id === r.group)?.title ?? r.group
    const goal =
      r.goal === undefined
        ? ''
        : `≤ ${r.goal.toFixed(2)}× ${r.value === null ? '' : r.value <= r.goal ? '✅' : '❌'}`
    out.push(`| ${cell(title)} | ${r.name} | ${ratioText(r)} | ${goal} |`)
  }
  out.push('', `${h(1)} Results`, '')
  for (const g of rep.groups) {
    const rows = rep.rows.filter((r) => r.group === g.id)
    if (rows.length === 0) continue
    out.push(`${h(2)} ${g.title}`, '', `${g.what}.`, '')
    out.push(
      '| engine | median | min | max | n | failures | note |',
      '|---|---|---|---|---|---|---|',
    )
    for (const r of rows) {
      const med = r.status === 'ok' ? fmt(r.median, r.unit) : STATUS_WORDS[r.status]
      out.push(
        `| ${cell(r.label)} (\`${r.variant}\`) | ${med} | ${fmt(r.min, r.unit)} | ${fmt(r.max, r.unit)} | ${r.samples.length} | ${r.failures} | ${cell(r.note ?? '')} |`,
      )
    }
    out.push('')
  }
  return out.join('\n')
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** A horizontal bar per measured ratio; a dashed line at 1× and a red tick at each goal. */
export function svg(rep: Report): string {
  const bars = rep.ratios.filter((r) => r.value !== null)
  const labelW = 260
  const plotW = 400
  const rowH = 22
  const top = 48
  const width = labelW + plotW + 90
  const height = top + Math.max(1, bars.length) * rowH + 40
  const cap = 5
  const hi = Math.min(
    cap,
    Math.max(1.2, ...bars.map((b) => b.value ?? 0), ...bars.map((b) => b.goal ?? 0)) * 1.05,
  )
  const x = (v: number) => labelW + (Math.min(v, hi) / hi) * plotW
  const parts: string[] = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">berth ÷ peer (median ratio; lower is better)</text>`,
    `<text x="10" y="36" fill="#555">${esc(rep.date)} · ${esc(rep.machine.nproc ?? '')} × ${esc(rep.machine.cpu ?? '')} · black tick: goal (green bar met, red missed)</text>`,
  )
  bars.forEach((b, i) => {
    const y = top + i * rowH
    const v = b.value ?? 0
    const title = rep.groups.find((g) => g.id === b.group)?.short ?? b.group
    const color = b.goal === undefined ? '#4a7ab5' : v <= b.goal ? '#2e7d32' : '#c62828'
    parts.push(
      `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(`${title}: ${b.name}`)}</text>`,
      `<rect x="${labelW}" y="${y + 4}" width="${(x(v) - labelW).toFixed(1)}" height="${rowH - 8}" fill="${color}"/>`,
      `<text x="${(x(v) + 4).toFixed(1)}" y="${y + 15}">${v.toFixed(2)}×${v > hi ? ' (clipped)' : ''}</text>`,
    )
    if (b.goal !== undefined) {
      const gx = x(b.goal).toFixed(1)
      parts.push(
        `<line x1="${gx}" x2="${gx}" y1="${y + 1}" y2="${y + rowH - 1}" stroke="#111" stroke-width="3"/>`,
      )
    }
  })
  const bottom = top + Math.max(1, bars.length) * rowH
  const one = x(1).toFixed(1)
  parts.push(
    `<line x1="${one}" x2="${one}" y1="${top}" y2="${bottom}" stroke="#888" stroke-dasharray="4 3"/>`,
    `<line x1="${labelW}" x2="${labelW + plotW}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`,
  )
  for (const t of [0, 0.5, 1, 2, 3, 4, 5].filter((t) => t <= hi)) {
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${bottom + 16}" text-anchor="middle" fill="#555">${t}×</text>`,
    )
  }
  if (bars.length === 0) {
    parts.push(`<text x="${labelW}" y="${top + 15}" fill="#555">no ratios measured</text>`)
  }
  parts.push('</svg>', '')
  return parts.join('\n')
}
