// The linker cache parser against glibc's own: this host's cache and caches made by the real
// ldconfig (new and compat formats, 64- and 32-bit fake driver libraries), compared entry by
// entry with what `ldconfig -p` prints for them.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { fakeSharedObject } from './elf.ts'
import {
  FLAG_ELF_LIBC6,
  FLAG_X8664_LIB64,
  lib32Flags,
  nativeLibFlags,
  parseLdCache,
} from './ldcache.ts'

const run = promisify(execFile)

/** `ldconfig -p -C FILE` as [key, flags text, path] rows. */
async function ldconfigP(file: string): Promise<[string, string, string][]> {
  const { stdout } = await run('ldconfig', ['-p', '-C', file])
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('\t'))
    .map((l) => {
      const m = /^\t(\S+) \(([^)]*)\)(?: OS ABI: [^=]*)? => (.*)$/.exec(l)
      assert.ok(m, `unexpected ldconfig line: ${l}`)
      return [m[1] as string, m[2] as string, m[3] as string]
    })
}

function flagsText(flags: number): string {
  if (flags === (FLAG_ELF_LIBC6 | FLAG_X8664_LIB64)) return 'libc6,x86-64'
  if (flags === FLAG_ELF_LIBC6) return 'libc6'
  return `0x${flags.toString(16)}`
}

describe('parseLdCache', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-ldcache-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test("reads this host's /etc/ld.so.cache as ldconfig -p does", async () => {
    const mine = parseLdCache(await readFile('/etc/ld.so.cache'))
    const theirs = await ldconfigP('/etc/ld.so.cache')
    assert.ok(mine.length > 10)
    assert.deepEqual(
      mine.map((e) => [e.key, e.path]),
      theirs.map(([k, , p]) => [k, p]),
    )
  })

  test('reads the compat format (old entries, then the new ones)', async () => {
    const file = join(dir, 'compat.cache')
    await run('ldconfig', ['-X', '-i', '-c', 'compat', '-C', file])
    const buf = await readFile(file)
    assert.equal(buf.toString('latin1', 0, 11), 'ld.so-1.7.0')
    const mine = parseLdCache(buf)
    assert.deepEqual(
      mine.map((e) => [e.key, e.path]),
      (await ldconfigP(file)).map(([k, , p]) => [k, p]),
    )
  })

  test('fake driver libraries: 64- and 32-bit entries with their flags and links', async () => {
    const root = join(dir, 'root')
    const lib64 = join(root, 'usr/lib/x86_64-linux-gnu')
    const lib32 = join(root, 'usr/lib/i386-linux-gnu')
    await mkdir(lib64, { recursive: true })
    await mkdir(lib32, { recursive: true })
    await mkdir(join(root, 'etc'))
    await writeFile(
      join(lib64, 'libcuda.so.550.54.14'),
      fakeSharedObject({ soname: 'libcuda.so.1' }),
    )
    await writeFile(
      join(lib32, 'libcuda.so.550.54.14'),
      fakeSharedObject({ soname: 'libcuda.so.1', arch: 'ia32' }),
    )
    await writeFile(
      join(root, 'etc/ld.so.conf'),
      '/usr/lib/x86_64-linux-gnu\n/usr/lib/i386-linux-gnu\n',
    )
    await run('ldconfig', ['-r', root])
    const file = join(root, 'etc/ld.so.cache')
    const mine = parseLdCache(await readFile(file))
    const theirs = await ldconfigP(file)
    assert.deepEqual(
      mine.map((e) => [e.key, flagsText(e.flags), e.path]),
      theirs,
    )
    assert.deepEqual(
      mine.map((e) => [e.key, e.flags, e.path]).sort(),
      [
        ['libcuda.so.1', FLAG_ELF_LIBC6, '/usr/lib/i386-linux-gnu/libcuda.so.1'],
        [
          'libcuda.so.1',
          FLAG_ELF_LIBC6 | FLAG_X8664_LIB64,
          '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
        ],
      ].sort(),
    )
  })

  for (const [name, bytes, message] of [
    ['empty', Buffer.alloc(0), /bad magic/],
    ['another file', Buffer.from('#!/bin/sh\necho hi\n'), /bad magic/],
    ['a truncated header', Buffer.from('glibc-ld.so.cache1.1\x05\x00\x00\x00'), /truncated/],
    [
      'entries past the end',
      (() => {
        const b = Buffer.alloc(48)
        b.write('glibc-ld.so.cache1.1', 0, 'latin1')
        b.writeUInt32LE(3, 20)
        return b
      })(),
      /truncated/,
    ],
    ['old format only', Buffer.from('ld.so-1.7.0\x00\x00\x00\x00\x00'), /old format only/],
  ] as const) {
    test(`refuses ${name}`, () => {
      assert.throws(() => parseLdCache(bytes), message)
    })
  }

  test('flags of native and 32-bit libraries per architecture', () => {
    assert.equal(nativeLibFlags('x64'), 0x0303)
    assert.equal(nativeLibFlags('arm64'), 0x0a03)
    assert.equal(nativeLibFlags('riscv64'), undefined)
    assert.equal(lib32Flags('x64'), 0x0003)
    assert.equal(lib32Flags('arm64'), undefined)
  })
})
