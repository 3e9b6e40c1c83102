// Lists what berth's networking left behind on this machine: bridge devices named berth*, its
// nftables table (table ip berth),
// netavark's chains and rules in this network namespace (its shared skeleton chains too: no
// test may run netavark in the host's network namespace), namespace files
// still mounted under a berth data root, and aardvark-dns processes serving one. Tests run
// berth in scratch network namespaces, so after a test run the host must show none of them.
//
//   node --import tsx scripts/network-leftovers.ts            # exit 1 and a list when any
//   node --import tsx scripts/network-leftovers.ts --json     # the list as JSON, exit 0
import { networkLeftovers } from '../src/engine/network/testing.ts'

const left = await networkLeftovers(undefined, { skeleton: true })
if (process.argv.includes('--json')) {
  process.stdout.write(JSON.stringify(left) + '\n')
} else if (left.length > 0) {
  process.stderr.write(
    `berth networking left these behind:\n${left.map((l) => `  ${l}\n`).join('')}`,
  )
  process.exit(1)
}
