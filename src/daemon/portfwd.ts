// berth-portfwd: the forwarder berthd without root starts inside its rootless network namespace
// for one container's published ports (src/engine/network/portfwd.ts). argv: the container's
// id (so its pid can be told from another's) and the targets as JSON, one per inherited
// listening socket from fd 3 on.
import { runForwarder, type ForwarderTarget } from '../engine/network/portfwd.ts'

const targets = JSON.parse(process.argv[3] ?? '[]') as ForwarderTarget[]
runForwarder(targets)
