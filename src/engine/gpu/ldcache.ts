// glibc's linker cache (/etc/ld.so.cache), read without running ldconfig: the new format
// ("glibc-ld.so.cache1.1", glibc 2.32's default) and the old compat format with the new one
// appended ("ld.so-1.7.0"), as glibc's elf/cache.c writes them. Pure.

const OLD_MAGIC = 'ld.so-1.7.0'
const NEW_MAGIC = 'glibc-ld.so.cache1.1'
const NEW_HEADER = 48
const NEW_ENTRY = 24
const OLD_ENTRY = 12

/** dl-cache.h's flag bits. */
export const FLAG_TYPE_MASK = 0x00ff
export const FLAG_ELF_LIBC6 = 0x0003
export const FLAG_REQUIRED_MASK = 0xff00
export const FLAG_X8664_LIB64 = 0x0300
export const FLAG_POWERPC_LIB64 = 0x0500
export const FLAG_AARCH64_LIB64 = 0x0a00

export interface LdCacheEntry {
  /** The name programs ask for: a soname (libcuda.so.1) or a link name (libcuda.so). */
  key: string
  /** The path the linker loads it from (often a symlink). */
  path: string
  flags: number
}

function cString(buf: Buffer, at: number): string {
  if (at >= buf.length) throw new Error(`string offset ${at} is past the end of the cache`)
  const end = buf.indexOf(0, at)
  return buf.toString('utf8', at, end < 0 ? buf.length : end)
}

/** Parses a linker cache; throws on a file in neither format. */
export function parseLdCache(buf: Buffer): LdCacheEntry[] {
  let base = 0
  if (buf.toString('latin1', 0, OLD_MAGIC.length) === OLD_MAGIC) {
    if (buf.length < 16) throw new Error('truncated linker cache')
    const nOld = buf.readUInt32LE(12)
    // The new format follows the old entries, aligned as struct cache_file_new (8 bytes).
    base = (16 + nOld * OLD_ENTRY + 7) & ~7
    if (buf.toString('latin1', base, base + NEW_MAGIC.length) !== NEW_MAGIC) {
      throw new Error('linker cache in the old format only (libc5 era): not supported')
    }
  } else if (buf.toString('latin1', 0, NEW_MAGIC.length) !== NEW_MAGIC) {
    throw new Error('not a linker cache (bad magic)')
  }
  if (buf.length < base + NEW_HEADER) throw new Error('truncated linker cache')
  const n = buf.readUInt32LE(base + 20)
  if (buf.length < base + NEW_HEADER + n * NEW_ENTRY) throw new Error('truncated linker cache')
  const out: LdCacheEntry[] = []
  for (let i = 0; i < n; i++) {
    const at = base + NEW_HEADER + i * NEW_ENTRY
    // String offsets count from the start of the new-format header.
    out.push({
      flags: buf.readInt32LE(at),
      key: cString(buf, base + buf.readUInt32LE(at + 4)),
      path: cString(buf, base + buf.readUInt32LE(at + 8)),
    })
  }
  return out
}

/** The flags of 64-bit libraries for this machine's architecture (ldconfig -p's "libc6,x86-64"). */
export function nativeLibFlags(arch: string = process.arch): number | undefined {
  const required: Record<string, number> = {
    x64: FLAG_X8664_LIB64,
    arm64: FLAG_AARCH64_LIB64,
    ppc64: FLAG_POWERPC_LIB64,
  }
  const r = required[arch]
  return r === undefined ? undefined : r | FLAG_ELF_LIBC6
}

/** 32-bit libraries beside 64-bit ones (compat32): only x86 has them. */
export function lib32Flags(arch: string = process.arch): number | undefined {
  return arch === 'x64' ? FLAG_ELF_LIBC6 : undefined
}
