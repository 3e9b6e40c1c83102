import assert from 'node:assert/strict'
import { test } from 'node:test'
import { globToRegExp } from './glob.ts'

test("globToRegExp matches as Go's path.Match", () => {
  const cases: [string, string, boolean][] = [
    ['busy*', 'busybox', true],
    ['*', 'a/b', false],
    ['*/*', 'a/b', true],
    ['b?sybox', 'busybox', true],
    ['[ab]*', 'busybox', true],
    ['[^ab]*', 'busybox', false],
    ['a\\*', 'a*', true],
    ['a.b', 'axb', false],
  ]
  for (const [pat, s, want] of cases) assert.equal(globToRegExp(pat).test(s), want, `${pat} ${s}`)
  assert.throws(() => globToRegExp('[ab'), SyntaxError)
  assert.throws(() => globToRegExp('a\\'), SyntaxError)
})
