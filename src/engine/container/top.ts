// `docker top`: the host's ps, cut down to the container's processes, as dockerd does it.
import { execFile } from 'node:child_process'
import { InvalidArgument, Internal } from '../errors.ts'
import type { TopResult } from './types.ts'

/** dockerd refuses ps options that would rename the PID column (e.g. `-o user=PID`). */
export function validatePsArgs(psArgs: string): void {
  for (const m of psArgs.matchAll(/\s+(\S*)=\s*(PID\S*)/g)) {
    const k = m[1] as string
    if (k !== 'pid') throw new InvalidArgument(`specifying "${k}=${m[2]}" is not allowed`)
  }
}

/** Splits on ASCII whitespace only, as dockerd's fieldsASCII. */
function fieldsAscii(s: string): string[] {
  return s.split(/[ \t\n\v\f\r]+/).filter((f) => f !== '')
}

/**
 * Keeps the rows whose PID is the container's; thread rows (PID "-") follow their process.
 * Extra fields past the titles (a command with spaces) are joined into the last column.
 */
export function parsePsOutput(output: string, pids: number[]): TopResult {
  const lines = output.split('\n')
  const titles = fieldsAscii(lines[0] ?? '')
  const pidIndex = titles.indexOf('PID')
  if (pidIndex < 0) throw new Internal("Couldn't find PID field in ps output")
  const want = new Set(pids)
  const result: TopResult = { Processes: [], Titles: titles }
  const add = (fields: string[]): void => {
    const row = fields.slice(0, titles.length - 1)
    row.push(fields.slice(titles.length - 1).join(' '))
    result.Processes.push(row)
  }
  let lastWasOurs = false
  for (const line of lines.slice(1)) {
    if (line === '') continue
    const fields = fieldsAscii(line)
    const pidField = fields[pidIndex] ?? ''
    if (pidField === '-') {
      if (lastWasOurs) add(fields)
      continue
    }
    const p = Number.parseInt(pidField, 10)
    if (!/^\d+$/.test(pidField)) throw new Internal(`Unexpected pid '${pidField}'`)
    lastWasOurs = want.has(p)
    if (lastWasOurs) add(fields)
  }
  return result
}

function runPs(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('ps', args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Internal(`ps: ${err.message}`, { cause: err }))
        return
      }
      resolve({ ok: !err, stdout, stderr })
    })
  })
}

/** Runs `ps ARGS -q PIDS` (retried without -q, which some options refuse) and filters it. */
export async function top(pids: number[], psArgs: string): Promise<TopResult> {
  const args = (psArgs || '-ef').split(' ')
  let r = await runPs([...args, '-q', pids.join(',')])
  if (!r.ok) {
    r = await runPs(args)
    if (!r.ok) {
      const first = r.stderr.split('\n')[0] ?? ''
      throw new Internal(`ps: ${first || 'exit status 1'}`)
    }
  }
  return parsePsOutput(r.stdout, pids)
}
