// The launcher's choice of bundle: the core one only for a command line it runs the same as the
// full CLI would (a core command after known global flags), the full one for anything else.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { coreCommands } from './core.ts'
import { CORE_COMMANDS, isCore } from './corepick.ts'

test('the launcher and the core entry name the same commands', () => {
  assert.deepEqual([...CORE_COMMANDS].sort(), Object.keys(coreCommands).sort())
})

test('a core command after global flags goes to the core bundle', () => {
  for (const argv of [
    ['ps'],
    ['ps', '-a', '--format', '{{.ID}}'],
    ['images', '--help'],
    ['version'],
    ['-H', 'unix:///x.sock', 'ps'],
    ['--host', 'unix:///x.sock', '--config', '/tmp/c', 'images'],
    ['--host=unix:///x.sock', '-D', '--log-level', 'debug', 'version'],
    ['-l', 'info', '--debug', 'ps'],
  ]) {
    assert.equal(isCore(argv), true, argv.join(' '))
  }
})

test('anything else goes to the full CLI', () => {
  for (const argv of [
    [],
    ['run', '--rm', 'busybox', 'ps'],
    ['--help', 'ps'],
    ['-h', 'ps'],
    ['-v'],
    ['--version', 'ps'],
    ['container', 'ls'],
    ['image', 'ls'],
    ['-H'],
    ['--host', 'ps'],
    ['-Hunix:///x.sock', 'ps'],
    ['--unknown', 'ps'],
    ['constructor'],
    ['toString'],
  ]) {
    assert.equal(isCore(argv), false, argv.join(' '))
  }
})
