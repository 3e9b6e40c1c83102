// The grammar's own errors are ParseErrors in Docker's words (the engine's module, tested in
// src/engine/reference, makes them InvalidArgument); the CLI relies on the shapes below.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ParseError } from './errors.ts'
import { familiarName, familiarString, parseNamed, tagNameOnly } from './reference.ts'

test('parseNamed gives the parts the CLI sends', () => {
  const r = parseNamed('localhost:5000/app:v1')
  assert.equal(r.name, 'localhost:5000/app')
  assert.equal(r.tag, 'v1')
  assert.equal(familiarName(parseNamed('docker.io/library/busybox')), 'busybox')
  assert.equal(familiarString(tagNameOnly(parseNamed('user/x'))), 'user/x:latest')
  assert.throws(
    () => parseNamed('Busybox'),
    (err: Error) =>
      err instanceof ParseError &&
      err.message ===
        'invalid reference format: repository name (library/Busybox) must be lowercase',
  )
  assert.throws(() => parseNamed('a//b'), {
    name: 'ParseError',
    message: 'invalid reference format',
  })
})
