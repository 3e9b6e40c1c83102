import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import {
  familiarString,
  fullString,
  parseAnyReference,
  parseDockerRef,
  parseNamed,
  parseReference,
} from './reference.ts'

const D = 'sha256:' + 'ab'.repeat(32)

describe('parseReference', () => {
  const ok: [string, string, string, string, string?, string?][] = [
    // input, domain, path, familiar, tag, digest
    ['busybox', 'docker.io', 'library/busybox', 'busybox:latest', 'latest'],
    ['busybox:1.36', 'docker.io', 'library/busybox', 'busybox:1.36', '1.36'],
    ['library/busybox', 'docker.io', 'library/busybox', 'busybox:latest', 'latest'],
    ['docker.io/library/busybox', 'docker.io', 'library/busybox', 'busybox:latest', 'latest'],
    ['index.docker.io/library/busybox', 'docker.io', 'library/busybox', 'busybox:latest', 'latest'],
    ['user/app:v1', 'docker.io', 'user/app', 'user/app:v1', 'v1'],
    ['localhost:5000/x', 'localhost:5000', 'x', 'localhost:5000/x:latest', 'latest'],
    ['localhost/x', 'localhost', 'x', 'localhost/x:latest', 'latest'],
    ['example.com/a/b:1', 'example.com', 'a/b', 'example.com/a/b:1', '1'],
    ['[::1]:5000/img', '[::1]:5000', 'img', '[::1]:5000/img:latest', 'latest'],
    ['Example.com/a', 'Example.com', 'a', 'Example.com/a:latest', 'latest'],
    [`name@${D}`, 'docker.io', 'library/name', `name@${D}`, undefined, D],
    [`name:t@${D}`, 'docker.io', 'library/name', `name:t@${D}`, 't', D],
    ['a_b.c-d__e---f', 'docker.io', 'library/a_b.c-d__e---f', 'a_b.c-d__e---f:latest', 'latest'],
    [
      'g' + 'c'.repeat(63),
      'docker.io',
      'library/g' + 'c'.repeat(63),
      'g' + 'c'.repeat(63) + ':latest',
      'latest',
    ],
  ]
  for (const [input, domain, path, familiar, tag, digest] of ok) {
    test(`parses ${input}`, () => {
      const r = parseReference(input)
      assert.equal(r.domain, domain)
      assert.equal(r.path, path)
      assert.equal(r.tag, tag)
      assert.equal(r.digest, digest)
      assert.equal(r.familiar, familiar)
      assert.equal(familiarString(r), familiar)
      assert.equal(r.name, `${domain}/${path}`)
    })
  }

  const bad: [string, string][] = [
    ['', 'invalid reference format'],
    ['Busybox', 'invalid reference format: repository name (library/Busybox) must be lowercase'],
    [
      'library/Busybox',
      'invalid reference format: repository name (library/Busybox) must be lowercase',
    ],
    [
      'a'.repeat(64),
      `invalid repository name (${'a'.repeat(64)}), cannot specify 64-byte hexadecimal strings`,
    ],
    ['busybox:', 'invalid reference format'],
    ['busybox:a b', 'invalid reference format'],
    [':tag', 'invalid reference format'],
    ['-busybox', 'invalid reference format'],
    ['busybox@sha256:abc', 'invalid reference format'],
    [`busybox@sha256:${'A'.repeat(64)}`, 'invalid checksum digest format'],
    ['a/', 'invalid reference format'],
    ['a//b', 'invalid reference format'],
    [`x:${'t'.repeat(129)}`, 'invalid reference format'],
    [`${'a'.repeat(256)}`, 'repository name must not be more than 255 characters'],
    [
      'Uppercase:tag',
      'invalid reference format: repository name (library/Uppercase) must be lowercase',
    ],
    ['example.com/Up', 'invalid reference format: repository name (Up) must be lowercase'],
  ]
  for (const [input, message] of bad) {
    test(`refuses ${JSON.stringify(input.slice(0, 40))}`, () => {
      assert.throws(
        () => parseReference(input),
        (err: Error) => err instanceof InvalidArgument && err.message === message,
      )
    })
  }

  test('parseNamed keeps a bare name bare', () => {
    const r = parseNamed('busybox')
    assert.equal(r.tag, undefined)
    assert.equal(r.familiar, 'busybox')
    assert.equal(fullString(r), 'docker.io/library/busybox')
  })

  test('parseDockerRef drops a tag next to a digest', () => {
    const r = parseDockerRef(`busybox:1@${D}`)
    assert.equal(r.tag, undefined)
    assert.equal(r.familiar, `busybox@${D}`)
  })

  test('parseAnyReference takes IDs', () => {
    assert.deepEqual(parseAnyReference('ab'.repeat(32)), { kind: 'digest', digest: D })
    assert.deepEqual(parseAnyReference(D), { kind: 'digest', digest: D })
    const n = parseAnyReference('abcdef')
    assert.equal(n.kind, 'named')
  })
})
