// Docker's --format handling: Go templates, the "table" prefix with tabwriter-aligned
// columns and a header row, and "json".
import { execute } from './exec.ts'
import { dockerFuncs, headerFuncs } from './funcs.ts'
import { parseTemplate } from './parse.ts'
import { tabwrite } from '../tabwriter.ts'

export { execute, STRUCT, NO_VALUE, isTrue, formatValue, toPlain, ExecError } from './exec.ts'
export type { Func } from './exec.ts'
export { parseTemplate, TemplateError } from './parse.ts'
export { dockerFuncs, headerFuncs, sprintf } from './funcs.ts'

/** Parses and runs one template over one value with docker's functions. */
export function render(format: string, data: unknown): string {
  return execute(parseTemplate(format), data, dockerFuncs)
}

export function isTable(format: string): boolean {
  return format.startsWith('table')
}

/** docker's Context.preFormat: strip "table", trim spaces, turn literal \t and \n into tabs and newlines. */
export function preFormat(format: string): string {
  let f = format
  if (isTable(f)) f = f.slice('table'.length)
  f = f.replace(/^ +| +$/g, '')
  return f.replace(/\\t/g, '\t').replace(/\\n/g, '\n')
}

/**
 * Renders rows as docker's formatter.Context does: `format` may be "table ...", "json" or a
 * template; `header` maps field names to column titles for the table header row.
 */
export function formatRows(
  format: string,
  rows: unknown[],
  header: Record<string, string>,
): string {
  if (format === 'json') format = '{{json .}}'
  const tmpl = parseTemplate(preFormat(format))
  let body = ''
  for (const r of rows) body += execute(tmpl, r, dockerFuncs) + '\n'
  if (!isTable(format)) return body
  let head = ''
  try {
    head = execute(tmpl, header, headerFuncs)
  } catch {
    // docker ignores errors while rendering the header, keeping what was written
  }
  return tabwrite(head + '\n' + body, { minwidth: 10, padding: 3 })
}
