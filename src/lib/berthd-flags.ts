// The node flags berthd runs with. V8 sizes its heap once, when the process starts, so they
// must be on node's command line wherever berthd is started: dist/berthd.mjs's #! line
// (scripts/build.mjs writes it from berthd-flags.json), the CLI's autostart, and the test and
// bench harnesses, all from this one list.
//
// --max-semi-space-size=1 (MiB): V8 lets a busy process's young generation grow to 16 MiB a
// semi-space; a pull made berthd's grow to 4-8 MiB of new space at its memory peak, for nothing
// (its short-lived objects die young, and its live set is small). Capped, new space stays at
// 2 MiB; scavenges come more often and cost next to nothing here (reports/registry8.md).
import flags from './berthd-flags.json' with { type: 'json' }

export const berthdNodeFlags: readonly string[] = flags
