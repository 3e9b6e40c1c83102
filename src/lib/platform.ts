// Go's names for the machine Node runs on (GOOS and GOARCH), which Docker's API, image configs
// and manifest lists use. The one map from Node's names: the engine (image platforms), the API
// (/version, /info) and the CLI (berth version) all take them from here.

/** Node's process.arch → Go's GOARCH. */
const GOARCH: Readonly<Record<string, string>> = {
  arm: 'arm',
  arm64: 'arm64',
  ia32: '386',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
  ppc: 'ppc',
  // Node's ppc64 is the little-endian build on Linux, the only one it ships.
  ppc64: 'ppc64le',
  riscv64: 'riscv64',
  s390: 's390',
  s390x: 's390x',
  x64: 'amd64',
}

/** Node's process.platform → Go's GOOS. */
const GOOS: Readonly<Record<string, string>> = {
  aix: 'aix',
  android: 'android',
  darwin: 'darwin',
  freebsd: 'freebsd',
  linux: 'linux',
  netbsd: 'netbsd',
  openbsd: 'openbsd',
  sunos: 'solaris',
  win32: 'windows',
}

/** Go's GOARCH for a Node architecture name (process.arch by default). */
export function goArch(nodeArch: string = process.arch): string {
  return GOARCH[nodeArch] ?? nodeArch
}

/** Go's GOOS for a Node platform name (process.platform by default). */
export function goOS(nodePlatform: string = process.platform): string {
  return GOOS[nodePlatform] ?? nodePlatform
}

/**
 * The ARM variant Node was built for ("v6", "v7"), which is what it can run; undefined on other
 * architectures. Docker reads it from /proc/cpuinfo; the build's own level is the safer answer
 * for what this process can execute, and agrees on every common board.
 */
export function armVariant(nodeArch: string = process.arch): string | undefined {
  if (nodeArch !== 'arm') return undefined
  const v = (process.config.variables as Record<string, unknown>)['arm_version']
  return typeof v === 'string' && /^\d+$/.test(v) ? `v${v}` : 'v7'
}
