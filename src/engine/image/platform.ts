// Platforms as containerd's platforms package treats them: normalising ("x86_64" is amd64,
// "aarch64" arm64, arm's default variant v7), parsing `--platform` specifiers, and matching with
// the compatible fallbacks (amd64 also runs 386, arm64 runs arm/v8 and older, arm/v7 runs v6 and
// v5), best first. manifest.ts re-exports all of it; load, import, and next pull and build share it.
import { armVariant, goArch, goOS } from '../../lib/platform.ts'
import { InvalidArgument } from '../errors.ts'

/** An OCI platform object (image index entries, image configs). */
export interface Platform {
  architecture: string
  os: string
  'os.version'?: string
  'os.features'?: string[]
  variant?: string
  features?: string[]
}

// Go's syslist (go/build), as containerd keeps it.
const KNOWN_OS = new Set(
  'aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris windows zos'.split(
    ' ',
  ),
)
const KNOWN_ARCH = new Set(
  '386 amd64 amd64p32 arm armbe arm64 arm64be ppc64 ppc64le loong64 mips mipsle mips64 mips64le mips64p32 mips64p32le ppc riscv riscv64 s390 s390x sparc sparc64 wasm'.split(
    ' ',
  ),
)

/** The platform this daemon runs images for: Go's names for the host, arm's variant when on arm. */
export function hostPlatform(): Platform {
  const p: Platform = { os: goOS(), architecture: goArch() }
  const v = armVariant()
  if (v !== undefined) p.variant = v
  return p
}

function normalizeOS(os: string): string {
  if (os === '') return goOS()
  const l = os.toLowerCase()
  return l === 'macos' ? 'darwin' : l
}

/** containerd's normalizeArch: the canonical architecture and variant. */
export function normalizeArch(
  arch: string,
  variant = '',
): { architecture: string; variant: string } {
  let a = arch.toLowerCase()
  let v = variant.toLowerCase()
  switch (a) {
    case 'i386':
      a = '386'
      v = ''
      break
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      a = 'amd64'
      if (v === 'v1') v = ''
      break
    case 'aarch64':
    case 'arm64':
      a = 'arm64'
      if (v === '8' || v === 'v8' || v === 'v8.0') v = ''
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9'
      break
    case 'armhf':
      a = 'arm'
      v = 'v7'
      break
    case 'armel':
      a = 'arm'
      v = 'v6'
      break
    case 'arm':
      if (v === '' || v === '7') v = 'v7'
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`
      break
  }
  return { architecture: a, variant: v }
}

/** The canonical form of a platform (containerd's Normalize); other fields are kept. */
export function normalizePlatform(p: Platform): Platform {
  const { architecture, variant } = normalizeArch(p.architecture ?? '', p.variant ?? '')
  const out: Platform = { ...p, os: normalizeOS(p.os ?? ''), architecture }
  if (variant) out.variant = variant
  else delete out.variant
  return out
}

const COMPONENT_RE = /^[A-Za-z0-9_.-]+$/
const OS_AND_VERSION_RE = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.-]*)\))?$/

function invalid(msg: string): InvalidArgument {
  return new InvalidArgument(`${msg}: invalid argument`)
}

/**
 * Parses a platform specifier, `<os>[(<os.version>)]|<arch>|<os>/<arch>[/<variant>]`, as
 * containerd's platforms.Parse does: a lone OS takes the host's architecture, a lone
 * architecture the host's OS; unknown lone values are refused.
 */
export function parsePlatform(spec: string): Platform {
  const q = JSON.stringify
  if (spec.includes('*')) throw invalid(`${q(spec)}: wildcards not yet supported`)
  const parts = spec.split('/')
  if (parts.length > 3) throw invalid(`${q(spec)}: cannot parse platform specifier`)
  const osv = OS_AND_VERSION_RE.exec(parts[0] ?? '')
  if (!osv) {
    throw invalid(
      `${q(parts[0])} is an invalid OS component of ${q(spec)}: OSAndVersion specifier component must match ${q(OS_AND_VERSION_RE.source)}`,
    )
  }
  for (const part of parts.slice(1)) {
    if (!COMPONENT_RE.test(part)) {
      throw invalid(
        `${q(part)} is an invalid component of ${q(spec)}: platform specifier component must match ${q(COMPONENT_RE.source)}`,
      )
    }
  }
  const p: Platform = { os: normalizeOS(osv[1]!), architecture: '' }
  if (osv[2]) p['os.version'] = osv[2]
  if (parts.length === 1) {
    if (KNOWN_OS.has(p.os)) {
      p.architecture = goArch()
      const v = armVariant()
      if (v !== undefined && v !== 'v7') p.variant = v
      return p
    }
    const a = normalizeArch(parts[0]!)
    if (!KNOWN_ARCH.has(a.architecture)) {
      throw invalid(`${q(spec)}: unknown operating system or architecture`)
    }
    const out: Platform = { os: goOS(), architecture: a.architecture }
    if (a.variant && !(a.architecture === 'arm' && a.variant === 'v7')) out.variant = a.variant
    return out
  }
  const a = normalizeArch(parts[1]!, parts[2] ?? '')
  p.architecture = a.architecture
  let variant = a.variant
  if (parts.length === 2 && a.architecture === 'arm' && variant === 'v7') variant = ''
  if (parts.length === 3 && a.architecture === 'arm64' && variant === '') variant = 'v8'
  if (variant) p.variant = variant
  return p
}

/** `os/arch[/variant]`, as containerd's platforms.Format writes it. */
export function formatPlatform(p: Platform): string {
  if (!p.os) return 'unknown'
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/')
}

/** Matches platforms and orders the matches, best first (containerd's MatchComparer). */
export interface PlatformMatcher {
  match(p: Platform): boolean
  /** Negative when a is preferred over b; both are assumed to match. */
  compare(a: Platform, b: Platform): number
  /** What is wanted, for error messages. */
  readonly wanted: Platform
}

function sameNormalized(want: Platform, p: Platform): boolean {
  const n = normalizePlatform(p)
  return (
    want.os === n.os &&
    want.architecture === n.architecture &&
    (want.variant ?? '') === (n.variant ?? '')
  )
}

function ordered(wanted: Platform, vector: Platform[]): PlatformMatcher {
  const targets = vector.map(normalizePlatform)
  const rank = (p: Platform): number => {
    const i = targets.findIndex((t) => sameNormalized(t, p))
    return i < 0 ? targets.length : i
  }
  return {
    wanted,
    match: (p) => rank(p) < targets.length,
    compare: (a, b) => rank(a) - rank(b),
  }
}

/** What a platform also runs, best first (containerd's platformVector). */
function platformVector(p: Platform): Platform[] {
  const base = { os: p.os, ...(p['os.version'] ? { 'os.version': p['os.version'] } : {}) }
  const version = (v: string | undefined): number => {
    const m = /^v?(\d+)$/.exec(v ?? '')
    return m ? Number(m[1]) : NaN
  }
  switch (p.architecture) {
    case 'amd64': {
      const out: Platform[] = [p]
      for (let n = version(p.variant) - 1; n >= 1; n--) {
        out.push({ ...base, architecture: 'amd64', variant: `v${n}` })
      }
      out.push({ ...base, architecture: '386' })
      return out
    }
    case 'arm': {
      const out: Platform[] = [p]
      for (let n = version(p.variant) - 1; n >= 5; n--) {
        out.push({ ...base, architecture: 'arm', variant: `v${n}` })
      }
      return out
    }
    case 'arm64': {
      const variant = p.variant || 'v8'
      const m = /^v(8|9)(?:\.(\d))?$/.exec(variant)
      const out: Platform[] = []
      if (m) {
        const major = Number(m[1])
        const minor = Number(m[2] ?? 0)
        // arm64 v9.x also runs v8.(x+5) and down.
        const steps: [number, number][] =
          major === 9
            ? [
                [9, minor],
                [8, Math.min(minor + 5, 9)],
              ]
            : [[8, minor]]
        for (const [maj, top] of steps) {
          for (let mi = top; mi >= 0; mi--) {
            out.push({
              ...base,
              architecture: 'arm64',
              variant: mi === 0 ? `v${maj}` : `v${maj}.${mi}`,
            })
          }
        }
      }
      // Every arm64 runs 32-bit arm up to v8.
      const armTop = variant.startsWith('v8') || variant.startsWith('v9') ? 'v8' : variant
      return [...out, ...platformVector({ ...base, architecture: 'arm', variant: armTop })]
    }
    default:
      return [p]
  }
}

/** containerd's platforms.Only: the platform and what it can also run, in order of preference. */
export function platformMatcher(p: Platform): PlatformMatcher {
  const n = normalizePlatform(p)
  return ordered(n, platformVector(n))
}

/** containerd's platforms.OnlyStrict: this platform exactly (after normalising), nothing else. */
export function strictPlatformMatcher(p: Platform): PlatformMatcher {
  const n = normalizePlatform(p)
  return ordered(n, [n])
}
