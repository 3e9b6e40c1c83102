import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { PatternMatcher, readIgnoreFile } from './dockerignore.ts'

describe('dockerignore', () => {
  test('reading the file: comments, spaces, cleaning, leading slashes', () => {
    assert.deepEqual(
      readIgnoreFile(
        '\uFEFF# comment\n  # not a comment\n\n/abs\n./dot\nx/../y\n  sp  \n! keep/\ndir/\r\n',
      ),
      ['# not a comment', 'abs', 'dot', 'y', 'sp', '!keep', 'dir'],
    )
  })

  // [patterns, path, left out?]
  const cases: [string[], string, boolean][] = [
    [['*.log'], 'a.log', true],
    [['*.log'], 'sub/a.log', false],
    [['*/*.log'], 'sub/a.log', true],
    [['**/*.log'], 'sub/deep/a.log', true],
    [['**/*.log'], 'a.log', true],
    [['**/cache'], 'cache', true],
    [['**/cache'], 'x/cache/y', true],
    [['a/**/z'], 'a/z', true],
    [['a/**/z'], 'a/b/c/z', true],
    [['a/**/z'], 'a/b/zz', false],
    [['a/**'], 'a/b/c', true],
    [['a/**'], 'ab', false],
    [['dir'], 'dir/sub/file', true],
    [['dir', '!dir/keep'], 'dir/keep', false],
    [['dir', '!dir/keep'], 'dir/keep/inner', false],
    [['dir', '!dir/keep'], 'dir/drop', true],
    [['*.md', '!README.md'], 'README.md', false],
    [['*.md', '!README.md', 'README*'], 'README.md', true],
    [['file?.txt'], 'file1.txt', true],
    [['file?.txt'], 'file12.txt', false],
    [['[ab].c'], 'a.c', true],
    [['[ab].c'], 'c.c', false],
    [['a.b'], 'axb', false],
    [['\\*'], '*', true],
    [['\\*'], 'x', false],
    [['.git'], '.git/config', true],
  ]
  for (const [patterns, path, out] of cases) {
    test(`${JSON.stringify(patterns)} ${path}`, () => {
      assert.equal(new PatternMatcher(patterns).matches(path), out)
    })
  }

  test('a left-out directory is walked only when an exception may bring something back', () => {
    assert.equal(new PatternMatcher(['dir']).canSkipDir('dir'), true)
    assert.equal(new PatternMatcher(['dir', '!dir/keep']).canSkipDir('dir'), false)
    assert.equal(new PatternMatcher(['dir', '!other']).canSkipDir('dir'), true)
  })

  test('bad patterns', () => {
    assert.throws(() => new PatternMatcher(['!']), /illegal exclusion pattern/)
    assert.throws(() => new PatternMatcher(['a[b']), /syntax error in pattern/)
  })
})
