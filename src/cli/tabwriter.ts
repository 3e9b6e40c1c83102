// A port of Go's text/tabwriter (no flags) as docker configures it: cells end at '\t', a column
// block is a run of consecutive lines that have that cell, and each cell is padded to the
// block's widest cell plus `padding` (at least `minwidth`). The last cell of a line is not
// part of a column and is never padded.

interface Cell {
  text: string
  width: number
}

export interface TabwriterOptions {
  minwidth: number
  padding: number
}

export function tabwrite(text: string, opts: TabwriterOptions): string {
  const endsWithNewline = text.endsWith('\n')
  const raw = (endsWithNewline ? text.slice(0, -1) : text).split('\n')
  const lines: Cell[][] = raw.map((l) =>
    l.split('\t').map((t) => ({ text: t, width: [...t].length })),
  )
  const widths: number[] = []
  let out = ''

  const writeLines = (line0: number, line1: number) => {
    for (let i = line0; i < line1; i++) {
      const line = lines[i]
      for (let j = 0; j < line.length; j++) {
        const c = line[j]
        out += c.text
        if (j < widths.length && j < line.length - 1)
          out += ' '.repeat(Math.max(widths[j] - c.width, 0))
      }
      if (i + 1 < lines.length || endsWithNewline) out += '\n'
    }
  }

  const format = (line0: number, line1: number) => {
    const column = widths.length
    for (let t = line0; t < line1; t++) {
      if (column >= lines[t].length - 1) continue
      writeLines(line0, t)
      line0 = t
      let width = opts.minwidth
      for (; t < line1; t++) {
        const line = lines[t]
        if (column >= line.length - 1) break
        const w = line[column].width + opts.padding
        if (w > width) width = w
      }
      widths.push(width)
      format(line0, t)
      widths.pop()
      line0 = t
      t-- // the loop's t++ must not skip the line that ended the block
    }
    writeLines(line0, line1)
  }
  format(0, lines.length)
  return out
}
