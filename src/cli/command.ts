// What every command module exports, and the error type that carries docker's exit status.
import type { Client } from './client.ts'
import type { FlagDef, ParsedFlags } from './flags.ts'
import { write } from './stdio.ts'

export interface Ctx {
  /** the API client, connected (and the daemon started) on first use */
  client(): Promise<Client>
  /** the command path as docker prints it, e.g. "berth run" or "berth image ls" */
  path: string
  host: string
  /** --config: where config.json (and so the registry credentials) lives; '' for the default. */
  config?: string
}

export interface CommandDef {
  /** usage after the command path, e.g. "[OPTIONS] IMAGE [COMMAND] [ARG...]" */
  usage: string
  short: string
  /** the help's description when longer than short (cobra's Long) */
  long?: string
  flags: FlagDef[]
  /** false for run/create/exec: flags stop at the image name */
  interspersed?: boolean
  /** extra names shown in "Aliases:" (full paths such as "berth container run") */
  aliases?: string[]
  /** cobra's Args validators: exact count, minimum or range */
  args?: { min?: number; max?: number }
  run(ctx: Ctx, f: ParsedFlags): Promise<number>
}

/** An error whose message is printed (if any) to stderr and whose code is the exit status. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message)
  }
}

export function out(s: string): void {
  write(1, s)
}

export function err(s: string): void {
  write(2, s)
}

/** Writes to stdout and resolves once the data is flushed (for pipes, before exiting). */
export function outAsync(s: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(s, (e) => (e ? reject(e) : resolve())),
  )
}

export function str(f: ParsedFlags, name: string): string {
  return String(f.values[name] ?? '')
}

export function bool(f: ParsedFlags, name: string): boolean {
  return f.values[name] === true
}

export function list(f: ParsedFlags, name: string): string[] {
  return (f.values[name] as string[] | undefined) ?? []
}

export function int(f: ParsedFlags, name: string): number {
  return Number(f.values[name] ?? 0)
}

export const formatFlagDesc =
  "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates"

export const filterFlag: FlagDef = {
  long: 'filter',
  short: 'f',
  kind: 'list',
  typeName: 'filter',
  desc: 'Filter output based on conditions provided',
}

/** docker's filters.Args encoded for the API: {"key":{"value":true}} */
export function encodeFilters(filters: string[]): string | undefined {
  if (filters.length === 0) return undefined
  const m: Record<string, Record<string, boolean>> = {}
  for (const f of filters) {
    const eq = f.indexOf('=')
    if (eq <= 0) throw new CliError(`bad format of filter (expected name=value)`)
    const k = f.slice(0, eq).trim().toLowerCase()
    const v = f.slice(eq + 1).trim()
    ;(m[k] ??= {})[v] = true
  }
  // as Go's encoding/json writes a map: keys sorted, at each level
  const sorted = <T>(o: Record<string, T>) =>
    Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return JSON.stringify(
    sorted(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, sorted(v)]))),
  )
}

/** Runs fn for each name, printing each error as docker does, and fails at the end if any did. */
export async function forEach(names: string[], fn: (n: string) => Promise<void>): Promise<number> {
  const errs: string[] = []
  for (const n of names) {
    try {
      await fn(n)
    } catch (e) {
      errs.push((e as Error).message)
    }
  }
  if (errs.length > 0) throw new CliError(errs.join('\n'))
  return 0
}
