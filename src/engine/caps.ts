// Linux capabilities by name and bit, and Docker's rules for --cap-add/--cap-drop/--privileged
// (moby's oci/caps). Pure.
import { InvalidArgument } from './errors.ts'

/** Docker's default capability set (caps.DefaultCapabilities). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]

/** Every capability Linux defines, indexed by its bit number. */
export const CAPABILITY_BITS: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
]

/** The capabilities named by a /proc/<pid>/status mask such as CapBnd's "000001fffeffffff". */
export function capsFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim() || '0'}`)
  return CAPABILITY_BITS.filter((_, bit) => (mask >> BigInt(bit)) & 1n)
}

/** The /proc status mask of a set of capabilities (16 hex digits). */
export function maskOfCaps(caps: readonly string[]): string {
  let mask = 0n
  for (const c of caps) {
    const bit = CAPABILITY_BITS.indexOf(c)
    if (bit >= 0) mask |= 1n << BigInt(bit)
  }
  return mask.toString(16).padStart(16, '0')
}

/**
 * Upper-cases, adds the CAP_ prefix, keeps "ALL" (moby's NormalizeLegacyCapabilities). `known`
 * is what the host holds: a capability Linux defines but the host lacks is refused as Docker
 * refuses it.
 */
export function normalizeCaps(caps: readonly string[], known: readonly string[]): string[] {
  const out: string[] = []
  for (const raw of caps) {
    let c = raw.toUpperCase()
    if (c === 'ALL') {
      out.push(c)
      continue
    }
    if (!c.startsWith('CAP_')) c = `CAP_${c}`
    if (!CAPABILITY_BITS.includes(c)) throw new InvalidArgument(`unknown capability: "${c}"`)
    if (!known.includes(c)) {
      throw new InvalidArgument(
        `capability not supported by your kernel or not available in the current environment: "${c}"`,
      )
    }
    out.push(c)
  }
  return out
}

/**
 * The container's capabilities (moby's TweakCapabilities): all the host holds when privileged
 * (a real Docker asks for every capability and fails where the host lacks one); else the
 * defaults less the drops plus the adds, with ALL on either side.
 */
export function tweakCapabilities(
  basics: readonly string[],
  adds: readonly string[],
  drops: readonly string[],
  privileged: boolean,
  hostCaps: readonly string[],
): string[] {
  if (privileged) return [...hostCaps]
  if (adds.length === 0 && drops.length === 0) return [...basics]
  const capDrop = normalizeCaps(drops, hostCaps)
  const capAdd = normalizeCaps(adds, hostCaps)
  let caps: string[]
  if (capAdd.includes('ALL')) caps = hostCaps.filter((c) => !capDrop.includes(c))
  else if (capDrop.includes('ALL')) caps = capAdd
  else caps = [...basics.filter((c) => !capDrop.includes(c)), ...capAdd]
  return [...new Set(caps)]
}
