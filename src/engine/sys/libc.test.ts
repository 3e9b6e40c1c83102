import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setMmapThreshold } from './libc.ts'

// The unpack path's memory setting (layer/unpack.ts) is a mallopt call that fails silently
// when glibc refuses it: glibc must take it.
test('glibc accepts the mmap threshold the unpack path sets', () => {
  assert.equal(setMmapThreshold(128 * 1024), true)
})
