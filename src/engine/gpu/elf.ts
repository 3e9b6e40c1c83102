// Writes the smallest ELF shared object that glibc's ldconfig accepts: an ELF header, a
// PT_LOAD and a PT_DYNAMIC, and a dynamic section naming its soname. Tests use it to make fake
// NVIDIA driver libraries that a real `ldconfig -r ROOT` puts in a real linker cache, on
// machines without a compiler. Pure.

const EM_386 = 3
const EM_X86_64 = 62
const EM_AARCH64 = 183
const ET_DYN = 3
const PT_LOAD = 1
const PT_DYNAMIC = 2
const DT_NULL = 0
const DT_NEEDED = 1
const DT_STRTAB = 5
const DT_SYMTAB = 6
const DT_STRSZ = 10
const DT_SYMENT = 11
const DT_SONAME = 14

export interface FakeElfOptions {
  soname: string
  /** 'x64' (ELF64 x86-64), 'ia32' (ELF32 i386) or 'arm64'. */
  arch?: 'x64' | 'ia32' | 'arm64'
  /** Text kept in the string table, so a test can tell one fake from another. */
  marker?: string
  /** DT_NEEDED entries; libc.so.6 by default, which makes ldconfig file it as libc6. */
  needed?: string[]
}

/** The bytes of a shared object with the given soname. */
export function fakeSharedObject(o: FakeElfOptions): Buffer {
  const arch = o.arch ?? 'x64'
  const is64 = arch !== 'ia32'
  const machine = arch === 'ia32' ? EM_386 : arch === 'arm64' ? EM_AARCH64 : EM_X86_64
  const ehsize = is64 ? 64 : 52
  const phentsize = is64 ? 56 : 32
  const symsize = is64 ? 24 : 16
  const dynsize = is64 ? 16 : 8

  const needed = o.needed ?? ['libc.so.6']
  const names = [o.soname, ...needed, o.marker ?? '']
  const strtab = Buffer.from(`\0${names.join('\0')}\0`)
  const offsetOf = (i: number): number =>
    1 + names.slice(0, i).reduce((n, s) => n + Buffer.byteLength(s) + 1, 0)
  const phoff = ehsize
  const symoff = phoff + 2 * phentsize
  const stroff = symoff + symsize // one null symbol
  const dynoff = (stroff + strtab.length + 7) & ~7
  const dyn: [number, number][] = [
    ...needed.map((_, i): [number, number] => [DT_NEEDED, offsetOf(i + 1)]),
    [DT_SONAME, 1],
    [DT_STRTAB, stroff],
    [DT_SYMTAB, symoff],
    [DT_STRSZ, strtab.length],
    [DT_SYMENT, symsize],
    [DT_NULL, 0],
  ]
  const size = dynoff + dyn.length * dynsize
  const b = Buffer.alloc(size)

  // e_ident: magic, class, little-endian, version 1, System V ABI.
  b.write('\x7fELF', 0, 'latin1')
  b[4] = is64 ? 2 : 1
  b[5] = 1
  b[6] = 1
  b.writeUInt16LE(ET_DYN, 16)
  b.writeUInt16LE(machine, 18)
  b.writeUInt32LE(1, 20)
  if (is64) {
    b.writeBigUInt64LE(0n, 24) // e_entry
    b.writeBigUInt64LE(BigInt(phoff), 32)
    b.writeBigUInt64LE(0n, 40) // no section headers
    b.writeUInt32LE(0, 48)
    b.writeUInt16LE(ehsize, 52)
    b.writeUInt16LE(phentsize, 54)
    b.writeUInt16LE(2, 56)
    b.writeUInt16LE(64, 58)
  } else {
    b.writeUInt32LE(0, 24)
    b.writeUInt32LE(phoff, 28)
    b.writeUInt32LE(0, 32)
    b.writeUInt32LE(0, 36)
    b.writeUInt16LE(ehsize, 40)
    b.writeUInt16LE(phentsize, 42)
    b.writeUInt16LE(2, 44)
    b.writeUInt16LE(40, 46)
  }

  // The file is loaded at address 0, so addresses equal file offsets.
  const ph = (at: number, type: number, offset: number, filesz: number, flags: number) => {
    if (is64) {
      b.writeUInt32LE(type, at)
      b.writeUInt32LE(flags, at + 4)
      b.writeBigUInt64LE(BigInt(offset), at + 8)
      b.writeBigUInt64LE(BigInt(offset), at + 16)
      b.writeBigUInt64LE(BigInt(offset), at + 24)
      b.writeBigUInt64LE(BigInt(filesz), at + 32)
      b.writeBigUInt64LE(BigInt(filesz), at + 40)
      b.writeBigUInt64LE(type === PT_LOAD ? 0x1000n : 8n, at + 48)
    } else {
      b.writeUInt32LE(type, at)
      b.writeUInt32LE(offset, at + 4)
      b.writeUInt32LE(offset, at + 8)
      b.writeUInt32LE(offset, at + 12)
      b.writeUInt32LE(filesz, at + 16)
      b.writeUInt32LE(filesz, at + 20)
      b.writeUInt32LE(flags, at + 24)
      b.writeUInt32LE(type === PT_LOAD ? 0x1000 : 4, at + 28)
    }
  }
  ph(phoff, PT_LOAD, 0, size, 4 | 2) // R W
  ph(phoff + phentsize, PT_DYNAMIC, dynoff, dyn.length * dynsize, 4 | 2)

  strtab.copy(b, stroff)
  dyn.forEach(([tag, val], i) => {
    const at = dynoff + i * dynsize
    if (is64) {
      b.writeBigInt64LE(BigInt(tag), at)
      b.writeBigUInt64LE(BigInt(val), at + 8)
    } else {
      b.writeInt32LE(tag, at)
      b.writeUInt32LE(val, at + 4)
    }
  })
  return b
}
