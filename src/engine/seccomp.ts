// Docker's seccomp profiles turned into the OCI spec's seccomp section. The default profile is
// data (seccomp-default.json, moby's profiles/seccomp/default.json); its conditional rules are
// resolved here the way moby's setupSeccomp does: by the host's architecture and kernel and by
// the container's bounding capabilities. Pure: the caller passes those facts in.
import { InvalidArgument } from './errors.ts'
import defaultProfileData from './seccomp-default.json' with { type: 'json' }
import type { SpecSeccomp as OciSeccomp } from './runtime/types.ts'

type SeccompArg = { index: number; value: number; valueTwo?: number; op: string }
type OciSyscall = NonNullable<OciSeccomp['syscalls']>[number]

interface Filter {
  caps?: string[]
  arches?: string[]
  minKernel?: string
}

interface ProfileSyscall {
  name?: string
  names?: string[]
  action: string
  errnoRet?: number
  args?: SeccompArg[] | null
  comment?: string
  includes?: Filter
  excludes?: Filter
}

/** Docker's profile format: the OCI section plus an arch map and conditional rules. */
export interface SeccompProfile {
  defaultAction?: string
  defaultErrnoRet?: number
  architectures?: string[] | null
  archMap?: { architecture: string; subArchitectures: string[] | null }[] | null
  flags?: string[] | null
  listenerPath?: string
  listenerMetadata?: string
  syscalls?: ProfileSyscall[] | null
}

export interface SeccompContext {
  /** The container's bounding capabilities (CAP_ names). */
  capabilities: readonly string[]
  /** libseccomp's name of the host's architecture (amd64, arm64...): see nativeArch(). */
  arch: string
  /** The host kernel's release, e.g. "6.1.0-18-amd64". */
  kernel: string
}

export const DEFAULT_SECCOMP_PROFILE = defaultProfileData as SeccompProfile

// Node's process.arch → libseccomp's names (moby's goToNative, for the arches Node has).
const nodeToNative: Record<string, string> = {
  ia32: 'x86',
  x64: 'amd64',
  arm: 'arm',
  arm64: 'arm64',
  loong64: 'loongarch64',
  mips: 'mips',
  mipsel: 'mipsel',
  ppc: 'ppc',
  ppc64: 'ppc64le',
  riscv64: 'riscv64',
  s390: 's390',
  s390x: 's390x',
}

// libseccomp's names → the runtime spec's (moby's nativeToSeccomp).
const nativeToSeccomp: Record<string, string> = {
  x86: 'SCMP_ARCH_X86',
  amd64: 'SCMP_ARCH_X86_64',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  loongarch64: 'SCMP_ARCH_LOONGARCH64',
  mips64: 'SCMP_ARCH_MIPS64',
  mips64n32: 'SCMP_ARCH_MIPS64N32',
  mipsel64: 'SCMP_ARCH_MIPSEL64',
  mips3l64n32: 'SCMP_ARCH_MIPSEL64N32',
  mipsle: 'SCMP_ARCH_MIPSEL',
  ppc: 'SCMP_ARCH_PPC',
  ppc64: 'SCMP_ARCH_PPC64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  s390: 'SCMP_ARCH_S390',
  s390x: 'SCMP_ARCH_S390X',
}

/** libseccomp's name for a Node architecture (process.arch). */
export function nativeArch(nodeArch: string = process.arch): string {
  return nodeToNative[nodeArch] ?? nodeArch
}

/** Kernel "A.B" compared with a release string: true when the release is at least A.B. */
export function kernelAtLeast(release: string, min: string): boolean {
  const [a = 0, b = 0] = min.split('.').map(Number)
  const m = /^(\d+)\.(\d+)/.exec(release)
  if (!m) return false
  const k = Number(m[1])
  const maj = Number(m[2])
  return k > a || (k === a && maj >= b)
}

/**
 * Resolves a Docker profile into the OCI section (moby's setupSeccomp): the host's arch and its
 * sub-arches from archMap, and only the rules whose includes/excludes match. Undefined when the
 * profile names no default action and no rules (seccomp off).
 */
export function resolveSeccompProfile(
  profile: SeccompProfile,
  ctx: SeccompContext,
): OciSeccomp | undefined {
  const rules = profile.syscalls ?? []
  if (!profile.defaultAction && rules.length === 0) return undefined
  const archMap = profile.archMap ?? []
  if ((profile.architectures ?? []).length > 0 && archMap.length > 0) {
    throw new InvalidArgument(
      "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'",
    )
  }
  const out: OciSeccomp = { defaultAction: profile.defaultAction ?? '' }
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet
  const architectures = [...(profile.architectures ?? [])]
  const native = nativeToSeccomp[ctx.arch]
  const entry = archMap.find((a) => a.architecture === native)
  if (entry) architectures.push(entry.architecture, ...(entry.subArchitectures ?? []))
  if (architectures.length > 0) out.architectures = architectures
  if (profile.flags && profile.flags.length > 0) out.flags = [...profile.flags]

  const caps = new Set(ctx.capabilities)
  const syscalls: OciSyscall[] = []
  for (const rule of rules) {
    let names = rule.names ?? []
    if (rule.name) {
      if (names.length > 0) {
        throw new InvalidArgument(
          "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'",
        )
      }
      names = [rule.name]
    }
    const ex = rule.excludes
    if (ex) {
      if (ex.arches?.includes(ctx.arch)) continue
      if (ex.caps?.some((c) => caps.has(c))) continue
      if (ex.minKernel && kernelAtLeast(ctx.kernel, ex.minKernel)) continue
    }
    const inc = rule.includes
    if (inc) {
      if (inc.arches && inc.arches.length > 0 && !inc.arches.includes(ctx.arch)) continue
      if (inc.caps?.some((c) => !caps.has(c))) continue
      if (inc.minKernel && !kernelAtLeast(ctx.kernel, inc.minKernel)) continue
    }
    const call: OciSyscall = { names: [...names], action: rule.action }
    if (rule.errnoRet !== undefined) call.errnoRet = rule.errnoRet
    if (rule.args && rule.args.length > 0) call.args = rule.args.map((a) => ({ ...a }))
    syscalls.push(call)
  }
  if (syscalls.length > 0) out.syscalls = syscalls
  return out
}

/** Docker's default profile for a container with these capabilities on this host. */
export function defaultSeccomp(ctx: SeccompContext): OciSeccomp {
  return resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, ctx) as OciSeccomp
}

/** A profile given as JSON text (`--security-opt seccomp=PROFILE.json`, sent by the client). */
export function parseSeccompProfile(text: string): SeccompProfile {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new InvalidArgument(`Decoding seccomp profile failed: ${(err as Error).message}`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidArgument('Decoding seccomp profile failed: not a JSON object')
  }
  return parsed as SeccompProfile
}
