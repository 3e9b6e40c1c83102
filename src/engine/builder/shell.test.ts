import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Lexer, envFromList } from './shell.ts'

const env = envFromList([
  'HOME=/root',
  'EMPTY=',
  'FILE=archive.tar.gz',
  'P=/usr/local/bin/tool',
  'SP=a b',
])

// word -> expected result of processWord, or Error for a failure (BuildKit's rules).
const WORD_CASES: [string, string | Error][] = [
  ['plain', 'plain'],
  ["it's", new Error('single-quote')],
  ["a'b c'd", 'ab cd'],
  ['a\\ b', 'a b'],
  ['a\\\\b', 'a\\b'],
  ['end\\', 'end'],
  ['"dq \\t"', 'dq \\t'],
  ['"dq \\\\ \\" \\$"', 'dq \\ " $'],
  ["'sq \\ $HOME'", 'sq \\ $HOME'],
  ['"$HOME"', '/root'],
  ["'$HOME'", '$HOME'],
  ['\\$HOME', '$HOME'],
  ['\\\\$HOME', '\\/root'],
  ['$', '$'],
  ['$.', '$.'],
  ['x$1y', 'xy'],
  ['$HOME/x', '/root/x'],
  ['${HOME}x', '/rootx'],
  ['$NOPE-x', '-x'],
  ['${}', new Error('bad substitution')],
  ['${:}', new Error('bad substitution')],
  ['${HOME', new Error("missing '}'")],
  ['${NOPE:-d}', 'd'],
  ['${EMPTY:-d}', 'd'],
  ['${HOME:-d}', '/root'],
  ['${NOPE-d}', 'd'],
  ['${EMPTY-d}', ''],
  ['${NOPE:+a}', ''],
  ['${EMPTY:+a}', ''],
  ['${HOME:+a}', 'a'],
  ['${EMPTY+a}', 'a'],
  ['${NOPE+a}', ''],
  ['${NOPE:-${HOME:-x}}', '/root'],
  ['${NOPE:-a b}', 'a b'],
  ['${NOPE:-\\$HOME}', '$HOME'],
  ['${HOME:+${NOPE}}', ''],
  ['${aaa:-bbb}}', 'bbb}'],
  ['${HOME:?}', '/root'],
  ['${NOPE:?}', new Error('NOPE: is not allowed to be unset')],
  ['${EMPTY:?}', new Error('EMPTY: is not allowed to be empty')],
  ['${EMPTY?}', ''],
  ['${NOPE?custom}', new Error('NOPE: custom')],
  ['${HOME:x}', new Error('unsupported modifier (:x) in substitution')],
  ['${HOME:=x}', new Error('unsupported modifier (:=) in substitution')],
  ['${FILE%.*}', 'archive.tar'],
  ['${FILE%%.*}', 'archive'],
  ['${FILE#*.}', 'tar.gz'],
  ['${FILE##*.}', 'gz'],
  ['${FILE%.zip}', 'archive.tar.gz'],
  ['${FILE%.t?r.gz}', 'archive'],
  ['${P%/*}', '/usr/local/bin'],
  ['${P##*/}', 'tool'],
  ['${FILE:#x}', new Error('unsupported modifier (:#) in substitution')],
  ['${FILE/a/A}', 'Archive.tar.gz'],
  ['${FILE//a/A}', 'Archive.tAr.gz'],
  ['${FILE/zz/y}', 'archive.tar.gz'],
  // The replacement keeps its escapes, as BuildKit's does.
  ['${FILE//./\\/}', 'archive\\/tar\\/gz'],
  ['${NOPE/a/b}', ''],
  ['"${HOME}"x', '/rootx'],
  ["안'녕'", '안녕'],
  ['<<EOF', '<<EOF'],
  ['<< EOF', '<< EOF'],
]

describe('shell lexer: processWord', () => {
  const lex = new Lexer('\\')
  for (const [word, want] of WORD_CASES) {
    test(word, () => {
      if (want instanceof Error) {
        assert.throws(
          () => lex.processWord(word, env),
          (err: Error) =>
            err.message.includes(want.message) && err.message.startsWith('failed to process'),
        )
      } else {
        assert.equal(lex.processWord(word, env), want)
      }
    })
  }
})

describe('shell lexer: processWords', () => {
  const lex = new Lexer('\\')
  const cases: [string, string[]][] = [
    ['a b  c', ['a', 'b', 'c']],
    ['"a b" c', ['a b', 'c']],
    ['$SP c', ['a', 'b', 'c']],
    ['"$SP" c', ['a b', 'c']],
    ['a\\ b', ['a b']],
    ['  lead trail  ', ['lead', 'trail']],
    ['x "" y', ['x', 'y']],
    ['80/tcp $NOPE', ['80/tcp']],
  ]
  for (const [word, want] of cases) {
    test(word, () => assert.deepEqual(lex.processWords(word, env), want))
  }
})

describe('shell lexer: options', () => {
  test('the backtick as escape token leaves backslashes alone', () => {
    const lex = new Lexer('`')
    assert.equal(lex.processWord('C:\\dir\\x', env), 'C:\\dir\\x')
    assert.equal(lex.processWord('a`$HOME', env), 'a$HOME')
    assert.equal(lex.processWord('"a``b"', env), 'a`b')
  })
  test('raw quotes and escapes keep them in the result', () => {
    const lex = new Lexer('\\', { rawQuotes: true, rawEscapes: true })
    assert.equal(lex.processWord('"a b" \'c\' \\$d', env), '"a b" \'c\' \\$d')
  })
  test('skipUnsetEnv leaves unknown variables as written', () => {
    const lex = new Lexer('\\', { skipUnsetEnv: true })
    assert.equal(
      lex.processWord('$NOPE ${NOPE} ${NOPE:-x} $HOME', env),
      '$NOPE ${NOPE} ${NOPE:-x} /root',
    )
  })
  test('skipProcessQuotes expands inside quotes and keeps them', () => {
    const lex = new Lexer('\\', { skipProcessQuotes: true })
    assert.equal(lex.processWord('\'$HOME\' "$HOME"', env), '\'/root\' "/root"')
  })
  test('patterns and replacements from variables', () => {
    const lex = new Lexer('\\')
    const e = envFromList([
      'FOO=/foo*/*/*.txt',
      'NEEDLE=\\*/',
      'F2=/a/foo/b/c.txt',
      'N2=/?/',
      'R=/',
    ])
    assert.equal(
      lex.processWord('${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}', e),
      '/foo.*/*.txt - /foo..*.txt',
    )
    assert.equal(lex.processWord('${F2/$N2/$R} - ${F2//$N2/$R}', e), '/foo/b/c.txt - /foo/c.txt')
  })
  test('matched and unmatched names are reported', () => {
    const r = new Lexer('\\').process('$HOME ${NOPE:-x} $EMPTY', env)
    assert.deepEqual([...r.matched].sort(), ['EMPTY', 'HOME'])
    assert.deepEqual([...r.unmatched], ['NOPE'])
  })
})
