import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DockerfileError } from './errors.ts'
import { parse, parseWords } from './parser.ts'

/** Each node as `keyword [flags] args` with its lines, for compact expectations. */
function dump(text: string): string[] {
  return parse(text).nodes.map((n) => {
    const flags = n.flags.length > 0 ? ` ${JSON.stringify(n.flags)}` : ''
    const json = n.json ? ' json' : ''
    const docs = n.heredocs.map((h) => ` <<${h.name}=${JSON.stringify(h.content)}`).join('')
    return `${n.startLine}-${n.endLine} ${n.keyword}${flags}${json} ${JSON.stringify(n.args)}${docs}`
  })
}

function parseFails(text: string, message: string, line?: number): void {
  assert.throws(
    () => parse(text),
    (err: unknown) => {
      assert.ok(err instanceof DockerfileError, String(err))
      assert.equal(err.message, message)
      if (line !== undefined) assert.equal(err.startLine, line)
      return true
    },
  )
}

describe('parser: lines', () => {
  test('continuations join lines; comments and empty lines inside are skipped', () => {
    const text = 'FROM a\nRUN one \\\n# comment\n  two \\\n\n  three\nENV A=1\n'
    assert.deepEqual(dump(text), [
      '1-1 FROM ["a"]',
      '2-6 RUN ["one   two   three"]',
      '7-7 ENV ["A","1","="]',
    ])
    assert.deepEqual(parse(text).warnings, [
      'Empty continuation line found in: RUN one   two   three',
    ])
  })
  test('a continuation at the end of the file ends the instruction', () => {
    assert.deepEqual(dump('FROM a\nLABEL x=y \\'), ['1-1 FROM ["a"]', '2-2 LABEL ["x","y","="]'])
  })
  test('an escaped escape before the newline is no continuation', () => {
    assert.deepEqual(dump('FROM a\nRUN echo \\\\\nENV A=1'), [
      '1-1 FROM ["a"]',
      '2-2 RUN ["echo \\\\\\\\"]',
      '3-3 ENV ["A","1","="]',
    ])
  })
  test('CRLF endings, a byte order mark and leading whitespace', () => {
    assert.deepEqual(dump('\uFEFFFROM a\r\n   RUN x \\\r\n  y\r\n'), [
      '1-1 FROM ["a"]',
      '2-3 RUN ["x   y"]',
    ])
  })
  test('keywords keep their case', () => {
    assert.deepEqual(dump('from a\nrUn x'), ['1-1 from ["a"]', '2-2 rUn ["x"]'])
  })
  test('a file with no instructions', () => {
    parseFails('# only\n# comments\n', 'file with no instructions')
    parseFails('\n\n', 'file with no instructions')
  })
})

describe('parser: directives', () => {
  test('escape=` makes the backtick the continuation and escape', () => {
    const r = parse('# escape=`\nFROM a\nRUN dir c:\\ `\n  x\n')
    assert.equal(r.escapeToken, '`')
    assert.deepEqual(
      r.nodes.map((n) => n.args),
      [['a'], ['dir c:\\   x']],
    )
  })
  test('directives are case-insensitive and allow spaces', () => {
    assert.equal(parse('#  ESCAPE = `\nFROM a').escapeToken, '`')
    assert.equal(
      parse('# syntax=docker/dockerfile:1\nFROM a').directives.syntax,
      'docker/dockerfile:1',
    )
  })
  test('a directive after a comment or an instruction is a comment', () => {
    assert.equal(parse('# hello\n# escape=`\nFROM a').escapeToken, '\\')
    assert.equal(parse('FROM a\n# escape=`\n').escapeToken, '\\')
    assert.equal(parse('# unknown=x\n# escape=`\nFROM a').escapeToken, '\\')
  })
  test('a directive twice, or a bad escape, is an error', () => {
    parseFails('# escape=\\\n# escape=`\nFROM a', 'only one escape parser directive can be used')
    parseFails('# escape=x\nFROM a', "invalid escape token 'x' does not match ` or \\")
  })
})

describe('parser: arguments by keyword', () => {
  test('JSON and shell forms', () => {
    assert.deepEqual(
      dump('CMD ["a", "b c"]\nCMD [ "x" ]\nCMD ["a", \'b\']\nCMD [unterminated\nCMD []'),
      [
        '1-1 CMD json ["a","b c"]',
        '2-2 CMD json ["x"]',
        '3-3 CMD ["[\\"a\\", \'b\']"]',
        '4-4 CMD ["[unterminated"]',
        '5-5 CMD json []',
      ],
    )
  })
  test('a JSON array with a number is an error', () => {
    parseFails(
      'FROM a\nCMD ["a", 1]',
      'when using JSON array syntax, arrays must be comprised of strings only',
      2,
    )
  })
  test('COPY, ADD and VOLUME split on whitespace unless JSON', () => {
    assert.deepEqual(dump('COPY a  b\tc\nVOLUME ["/x", "/y z"]\nADD --chown=1 a b'), [
      '1-1 COPY ["a","b","c"]',
      '2-2 VOLUME json ["/x","/y z"]',
      '3-3 ADD ["--chown=1"] ["a","b"]',
    ])
  })
  test('ENV and LABEL: name=value pairs and the legacy form', () => {
    assert.deepEqual(dump('ENV A=1 B="x y" C=\'z\'\nENV LEGACY a  b\nLABEL k v'), [
      '1-1 ENV ["A","1","=","B","\\"x y\\"","=","C","\'z\'","="]',
      '2-2 ENV ["LEGACY","a  b",""]',
      '3-3 LABEL ["k","v",""]',
    ])
    parseFails('ENV ONLY', 'ENV must have two arguments', 1)
    parseFails('ENV A=1 B', 'Syntax error - can\'t find = in "B". Must be of the form: name=value')
  })
  test('flags: quotes, escapes and --', () => {
    assert.deepEqual(dump('COPY --from="a b" --chmod=7\\55 -- --notaflag b'), [
      '1-1 COPY ["--from=a b","--chmod=755"] ["--notaflag","b"]',
    ])
  })
  test('HEALTHCHECK keeps its type first; ONBUILD holds its trigger', () => {
    assert.deepEqual(dump('HEALTHCHECK --retries=3 CMD ["a"]\nONBUILD RUN --network=none x y'), [
      '1-1 HEALTHCHECK ["--retries=3"] json ["CMD","a"]',
      '2-2 ONBUILD ["RUN","x y"]',
    ])
    const sub = parse('ONBUILD RUN --network=none x').nodes[0]!.sub!
    assert.deepEqual([sub.keyword, sub.flags, sub.args], ['RUN', ['--network=none'], ['x']])
  })
  test('parseWords keeps quotes and escapes for the expansion', () => {
    assert.deepEqual(parseWords('a "b c" d\\ e \'f\\\' g', '\\'), [
      'a',
      '"b c"',
      'd\\ e',
      "'f\\'",
      'g',
    ])
  })
})

describe('parser: heredocs', () => {
  test('RUN and COPY read heredocs after the instruction', () => {
    const text = 'FROM a\nRUN <<EOF\necho $A\nEOF\nCOPY <<-"X" /f\n\tindented\n\tX\nRUN echo done'
    assert.deepEqual(dump(text), [
      '1-1 FROM ["a"]',
      '2-4 RUN ["<<EOF"] <<EOF="echo $A\\n"',
      '5-7 COPY ["<<-\\"X\\"","/f"] <<X="\\tindented\\n"',
      '8-8 RUN ["echo done"]',
    ])
    const docs = parse(text).nodes[2]!.heredocs
    assert.deepEqual(
      docs.map((h) => [h.name, h.chomp, h.expand]),
      [['X', true, false]],
    )
  })
  test('two heredocs on one line are read in order', () => {
    assert.deepEqual(dump('RUN cat <<A >a && cat 3<<B >b\n1\nA\n2\nB'), [
      '1-5 RUN ["cat <<A >a && cat 3<<B >b"] <<A="1\\n" <<B="2\\n"',
    ])
  })
  test('a quoted << and the JSON form are no heredocs; other keywords ignore them', () => {
    assert.deepEqual(dump('RUN echo "<<EOF"\nRUN ["<<EOF"]\nLABEL a=<<EOF'), [
      '1-1 RUN ["echo \\"<<EOF\\""]',
      '2-2 RUN json ["<<EOF"]',
      '3-3 LABEL ["a","<<EOF","="]',
    ])
  })
  test('an unterminated heredoc', () => {
    parseFails('FROM a\nRUN <<EOF\necho\n', 'unterminated heredoc', 2)
  })
})
