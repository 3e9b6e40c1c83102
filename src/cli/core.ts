// The small entry for the everyday commands (dist/berth-core.js): `version`, `ps` and `images`
// with only what they need (flag parsing, the client over node:net, the templates and the
// table writer), so starting one loads and deserializes a fraction of the full CLI. The
// launcher (launch.ts) picks this bundle when the command line names one of them after global
// flags only; everything else, help included, goes to the full entry (main.ts). Both run a
// command through dispatch.ts, so a command behaves the same from either.
import type { CommandDef } from './command.ts'
import { parseFlags } from './flags.ts'
import { exitAfterFlush, globalFlags, runCommand, runMain } from './dispatch.ts'
import { useDirectStdio } from './stdio.ts'

export { exitAfterFlush }

/** Keep in step with CORE_COMMANDS in corepick.ts (corepick.test.ts checks). */
export const coreCommands: Record<string, () => Promise<{ command: CommandDef }>> = {
  version: () => import('./commands/version.ts'),
  ps: () => import('./commands/ps.ts'),
  images: () => import('./commands/images.ts'),
}

/**
 * Runs a command line whose command is one of coreCommands; undefined, having done nothing,
 * for any other (the launcher then runs the full CLI).
 */
export async function runCore(argv: string[]): Promise<number | undefined> {
  let g
  try {
    g = parseFlags(globalFlags, argv, false)
  } catch {
    return undefined
  }
  const [name, ...rest] = g.args
  const load =
    name !== undefined && Object.hasOwn(coreCommands, name) ? coreCommands[name] : undefined
  if (load === undefined || g.help || g.values.version) return undefined
  useDirectStdio()
  const { command } = await load()
  return runMain(() => runCommand(g, `berth ${name}`, command, rest))
}
