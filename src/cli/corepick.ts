// Which bundle the launcher (launch.ts) runs a command line with: here, not in launch.ts, so
// that tests can import it (launch.ts is CommonJS, run as dist/berth.cjs).

/** The commands the core bundle runs (its coreCommands; corepick.test.ts checks they agree). */
export const CORE_COMMANDS: readonly string[] = ['version', 'ps', 'images']

/** Global flags that take a value (dispatch.ts's globalFlags), as their own argument. */
const VALUED = new Set(['-H', '--host', '--config', '-l', '--log-level'])

/**
 * True when argv names a core command after global flags only (the everyday `berth ps`,
 * `berth -H unix:///x images`). Anything it does not know for sure (help, another flag before
 * the command, a management command) is the full CLI's.
 */
export function isCore(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (VALUED.has(a)) i++
    else if (a === '-D' || a === '--debug') continue
    else if (/^--(host|config|log-level)=/.test(a)) continue
    else return !a.startsWith('-') && CORE_COMMANDS.includes(a)
  }
  return false
}
