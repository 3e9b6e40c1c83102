import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidArgument } from './errors.ts'
import { CAPABILITY_BITS, DEFAULT_CAPABILITIES } from './caps.ts'
import {
  DEFAULT_SECCOMP_PROFILE,
  defaultSeccomp,
  kernelAtLeast,
  nativeArch,
  parseSeccompProfile,
  resolveSeccompProfile,
} from './seccomp.ts'

const amd64 = { capabilities: DEFAULT_CAPABILITIES, arch: 'amd64', kernel: '6.1.0-18-amd64' }

function allowed(p: ReturnType<typeof defaultSeccomp>, name: string): boolean {
  return (p.syscalls ?? []).some(
    (s) => s.action === 'SCMP_ACT_ALLOW' && s.names.includes(name) && !s.args,
  )
}

describe('seccomp', () => {
  test("the default profile is Docker's: errno 1 by default, amd64 with its sub-arches", () => {
    const p = defaultSeccomp(amd64)
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO')
    assert.equal(p.defaultErrnoRet, 1)
    assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'])
    for (const s of ['read', 'write', 'execve', 'arch_prctl', 'ptrace', 'chroot']) {
      assert.ok(allowed(p, s), s)
    }
  })

  test('without CAP_SYS_ADMIN: no mount or unshare, clone only without namespace flags', () => {
    const p = defaultSeccomp(amd64)
    for (const s of ['mount', 'umount2', 'unshare', 'setns', 'init_module', 'reboot', 'bpf']) {
      assert.ok(!allowed(p, s), s)
    }
    const clone = (p.syscalls ?? []).find((s) => s.names.includes('clone') && s.args)
    assert.deepEqual(clone?.args, [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }])
    const clone3 = (p.syscalls ?? []).find((s) => s.names[0] === 'clone3')
    assert.deepEqual(clone3, { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 })
  })

  test('capabilities open their syscalls (includes) and drop the clone filter (excludes)', () => {
    const p = defaultSeccomp({
      ...amd64,
      capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_MODULE'],
    })
    for (const s of ['mount', 'unshare', 'clone', 'clone3', 'init_module']) {
      assert.ok(allowed(p, s), s)
    }
    assert.ok(!(p.syscalls ?? []).some((s) => s.names.includes('clone') && s.args))
    assert.ok(!(p.syscalls ?? []).some((s) => s.action === 'SCMP_ACT_ERRNO'))
  })

  test('the arch decides the arch-only rules and the architectures list', () => {
    const p = defaultSeccomp({ ...amd64, arch: 'arm64' })
    assert.deepEqual(p.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'])
    assert.ok(allowed(p, 'set_tls'))
    assert.ok(!allowed(p, 'arch_prctl'))
    const s390 = defaultSeccomp({ ...amd64, arch: 's390x' })
    const clone = (s390.syscalls ?? []).filter((s) => s.names.includes('clone') && s.args)
    assert.deepEqual(
      clone.map((c) => c.args?.[0]?.index),
      [1],
    )
  })

  test('minKernel gates a rule by the host kernel', () => {
    assert.ok(kernelAtLeast('4.8.0', '4.8'))
    assert.ok(kernelAtLeast('6.18.0-rc1', '4.8'))
    assert.ok(!kernelAtLeast('4.7.10', '4.8'))
    assert.ok(!kernelAtLeast('3.99', '4.8'))
    const old = defaultSeccomp({ ...amd64, kernel: '4.4.0' })
    assert.ok(!allowed(old, 'ptrace'))
  })

  test('a custom profile is resolved the same way; name and names are exclusive', () => {
    const p = resolveSeccompProfile(
      parseSeccompProfile(
        JSON.stringify({
          defaultAction: 'SCMP_ACT_ALLOW',
          architectures: ['SCMP_ARCH_X86_64'],
          syscalls: [
            { name: 'mkdir', action: 'SCMP_ACT_ERRNO' },
            { names: ['chmod'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_ADMIN'] } },
          ],
        }),
      ),
      amd64,
    )
    assert.deepEqual(p, {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
    })
    assert.equal(resolveSeccompProfile({}, amd64), undefined)
    assert.throws(
      () =>
        resolveSeccompProfile(
          { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'a', names: ['b'], action: 'x' }] },
          amd64,
        ),
      InvalidArgument,
    )
    assert.throws(() => parseSeccompProfile('{nope'), /Decoding seccomp profile failed/)
  })

  test('every capability the profile names is one Linux defines', () => {
    for (const rule of DEFAULT_SECCOMP_PROFILE.syscalls ?? []) {
      for (const c of [...(rule.includes?.caps ?? []), ...(rule.excludes?.caps ?? [])]) {
        assert.ok(CAPABILITY_BITS.includes(c), c)
      }
    }
    assert.equal(nativeArch('x64'), 'amd64')
    assert.equal(nativeArch('arm64'), 'arm64')
  })
})
