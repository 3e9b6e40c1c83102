import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setArenaMax, setMmapThreshold } from './libc.ts'

// berthd's memory settings (src/daemon/main.ts, layer/unpack.ts) are mallopt calls that fail
// silently when glibc refuses them: it must take both.
test('glibc accepts the arena cap and the mmap threshold berthd sets', () => {
  assert.equal(setArenaMax(2), true)
  assert.equal(setMmapThreshold(128 * 1024), true)
})
