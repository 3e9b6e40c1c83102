// The node flags berthd runs with. V8 sizes its heap once, when the process starts, so they
// must be on node's command line wherever berthd is started: dist/berthd.mjs's #! line
// (scripts/build.mjs writes it from berthd-flags.json), the CLI's autostart, and the test and
// bench harnesses, all from this one list.
//
// --max-semi-space-size=1 (MiB): berthd's young generation stays at 1 MiB per semi-space instead
// of growing to 16 while a pull streams, and a scavenge comes about every MiB of short-lived
// objects, so the pull's dead stream buffers go sooner: a few MiB off berthd's peak during a pull
// (reports/registry8.md), for scavenges that cost next to nothing with berthd's small live set.
import flags from './berthd-flags.json' with { type: 'json' }

export const berthdNodeFlags: readonly string[] = flags
