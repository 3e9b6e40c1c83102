// The API versions berthd speaks, and Docker's rules for comparing them.

/** The newest Engine API version whose behaviour berthd implements. */
export const API_VERSION = '1.45'
/** The oldest version a client may ask for, as dockerd 25+. */
export const MIN_API_VERSION = '1.24'
/** berth's release and build stamp, reported where dockerd reports its version. */
export { BERTH_VERSION, BUILD_TIME, GIT_COMMIT } from '../lib/buildinfo.ts'

/** Compares dotted versions numerically, as moby's versions.compare does. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.')
  const pb = b.split('.')
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number.parseInt(pa[i] ?? '0', 10) || 0
    const y = Number.parseInt(pb[i] ?? '0', 10) || 0
    if (x !== y) return x > y ? 1 : -1
  }
  return 0
}

export function versionLessThan(a: string, b: string): boolean {
  return compareVersions(a, b) < 0
}

export function versionAtLeast(a: string, b: string): boolean {
  return compareVersions(a, b) >= 0
}

/** Go's GOARCH name for Node's process.arch: one map, in src/lib, for engine, API and CLI. */
export { goArch } from '../lib/platform.ts'
