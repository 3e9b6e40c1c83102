import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DockerfileError } from './errors.ts'
import { csvFields, parseDockerfile, parseMount, suggest, type Command } from './instructions.ts'

function only(text: string): Command {
  const df = parseDockerfile(`FROM busybox\n${text}\n`)
  assert.equal(df.stages[0]!.commands.length, 1)
  return df.stages[0]!.commands[0]!
}

function fails(text: string, message: string): void {
  assert.throws(
    () => parseDockerfile(text),
    (err: unknown) => {
      assert.ok(err instanceof DockerfileError, String(err))
      assert.equal(err.message, message)
      return true
    },
  )
}

describe('instructions: errors in BuildKit words', () => {
  const cases: [string, string][] = [
    [
      'FROM busybox\nRUNN x',
      'dockerfile parse error on line 2: unknown instruction: RUNN (did you mean RUN?)',
    ],
    [
      'FROM busybox\ncopyy a b',
      'dockerfile parse error on line 2: unknown instruction: copyy (did you mean copy?)',
    ],
    ['FROM busybox\nFOOBAR x', 'dockerfile parse error on line 2: unknown instruction: FOOBAR'],
    [
      'FROM busybox\nCOPY --chmown=1 a b',
      'dockerfile parse error on line 2: unknown flag: --chmown (did you mean chown?)',
    ],
    [
      'FROM busybox\nCOPY --from a b',
      'dockerfile parse error on line 2: missing a value on flag: --from',
    ],
    [
      'FROM busybox\nCOPY --link=maybe a b',
      'dockerfile parse error on line 2: expecting boolean value for flag --link, not: maybe',
    ],
    [
      'FROM busybox\nCOPY --chown=1 --chown=2 a b',
      'dockerfile parse error on line 2: duplicate flag specified: --chown',
    ],
    [
      'FROM busybox\nRUN --network=bridge x',
      'dockerfile parse error on line 2: invalid network mode "bridge"',
    ],
    [
      'FROM busybox\nRUN --mount=from=$X,target=/x x',
      "dockerfile parse error on line 2: 'from' doesn't support variable expansion, define alias stage instead",
    ],
    [
      'FROM busybox\nWORKDIR',
      'dockerfile parse error on line 2: WORKDIR requires exactly one argument',
    ],
    [
      'FROM busybox\nEXPOSE',
      'dockerfile parse error on line 2: EXPOSE requires at least one argument',
    ],
    [
      'FROM busybox\nVOLUME',
      'dockerfile parse error on line 2: VOLUME requires at least one argument',
    ],
    [
      'FROM busybox\nADD x',
      'dockerfile parse error on line 2: ADD requires at least two arguments, but only one was provided. Destination could not be determined',
    ],
    [
      'FROM busybox\nCOPY a <<EOF\nx\nEOF',
      'dockerfile parse error on line 2: COPY cannot accept a heredoc as a destination',
    ],
    [
      'FROM busybox\nHEALTHCHECK CMD',
      'dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD',
    ],
    [
      'FROM busybox\nHEALTHCHECK NONE x',
      'dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments',
    ],
    [
      'FROM busybox\nHEALTHCHECK --interval=5 CMD x',
      'dockerfile parse error on line 2: time: invalid duration "5"',
    ],
    [
      'FROM busybox\nHEALTHCHECK --retries=-1 CMD x',
      'dockerfile parse error on line 2: --retries cannot be negative (-1)',
    ],
    [
      'FROM busybox\nONBUILD FROM x',
      "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger",
    ],
    [
      'FROM busybox\nLABEL',
      'dockerfile parse error on line 2: LABEL requires at least one argument',
    ],
    ['FROM busybox\nENV =x', 'dockerfile parse error on line 2: ENV names can not be blank'],
    ['ARG A\n', 'dockerfile contains no stages to build'],
    ['', 'the Dockerfile cannot be empty'],
  ]
  for (const [text, message] of cases) test(message, () => fails(text, message))
})

describe('instructions: what each one holds', () => {
  test('RUN: shell and exec form, flags', () => {
    const r = only('RUN --network=none --mount=type=cache,target=/c echo "$A" x')
    assert.equal(r.kind, 'run')
    if (r.kind !== 'run') return
    assert.deepEqual(
      [r.cmdLine, r.prependShell, r.network, r.mounts],
      [['echo "$A" x'], true, 'none', ['type=cache,target=/c']],
    )
    const e = only('RUN ["a", "b"]')
    assert.deepEqual(e.kind === 'run' && [e.cmdLine, e.prependShell], [['a', 'b'], false])
  })
  test('COPY and ADD flags', () => {
    const c = only(
      'COPY --from=build --chown=1:2 --chmod=755 --link --exclude=*.md --exclude=x --parents a b /d/',
    )
    assert.ok(c.kind === 'copy')
    if (c.kind !== 'copy') return
    assert.deepEqual(
      [c.from, c.chown, c.chmod, c.link, c.excludes, c.parents, c.srcs, c.dest],
      ['build', '1:2', '755', true, ['*.md', 'x'], true, ['a', 'b'], '/d/'],
    )
    const a = only('ADD --checksum=sha256:x --unpack=false --keep-git-dir https://x/y /d')
    assert.ok(
      a.kind === 'add' && a.unpack === false && a.keepGitDir === true && a.checksum === 'sha256:x',
    )
    assert.throws(() => parseDockerfile('FROM x\nADD --from=y a b\n'), /unknown flag: --from/)
  })
  test('HEALTHCHECK durations in nanoseconds, zeros left out', () => {
    const h = only('HEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD ["true"]')
    assert.deepEqual(h.kind === 'healthcheck' && h.health, {
      Test: ['CMD', 'true'],
      Interval: 90e9,
      Timeout: 500e6,
      Retries: 3,
    })
  })
  test('ONBUILD keeps the trigger text as written', () => {
    const o = only('onbuild   RUN --network=none echo hi')
    assert.deepEqual(o.kind === 'onbuild' && o.expression, 'RUN --network=none echo hi')
  })
  test('stage names are lower-cased; ARGs before FROM are global', () => {
    const df = parseDockerfile('ARG V=1\nARG W\nFROM busybox AS Build\nFROM build\n')
    assert.deepEqual(
      df.metaArgs.flatMap((a) => a.args),
      [{ key: 'V', value: '1' }, { key: 'W' }],
    )
    assert.deepEqual(
      df.stages.map((s) => [s.name, s.baseName]),
      [
        ['build', 'busybox'],
        ['', 'build'],
      ],
    )
  })
})

describe('RUN --mount values', () => {
  test('defaults by type', () => {
    const expand = (w: string) => w
    assert.deepEqual(parseMount('type=cache,target=/c', expand), {
      type: 'cache',
      from: '',
      source: '',
      target: '/c',
      readOnly: false,
      sizeLimit: 0,
      cacheId: '',
      sharing: '',
      required: false,
    })
    assert.equal(parseMount('target=/x', expand).readOnly, true)
    assert.equal(parseMount('target=/x,rw', expand).readOnly, false)
    assert.equal(parseMount('type=tmpfs,target=/t,size=64m', expand).sizeLimit, 64 * 1024 * 1024)
    assert.equal(parseMount('type=secret,id=tok,required', expand).required, true)
    assert.deepEqual(
      [parseMount('type=cache,target=/c,uid=1000,mode=0700', expand)].map((m) => [m.uid, m.mode]),
      [[1000, 0o700]],
    )
  })
  test('errors', () => {
    const expand = (w: string) => w
    assert.throws(
      () => parseMount('type=bind,target=/x,uid=1', expand),
      /uid not allowed for "bind" type mounts/,
    )
    assert.throws(
      () => parseMount('type=bind,target=/x,sharing=locked', expand),
      /invalid cache sharing set for bind mount/,
    )
    assert.throws(
      () => parseMount('type=secret,from=x,target=/s', expand),
      /secret mount should not have a from/,
    )
    assert.throws(
      () => parseMount('target=/x,bogus=1', expand),
      /unexpected key 'bogus' in 'bogus=1'/,
    )
    assert.throws(() => parseMount('target=/x,ro=maybe', expand), /invalid value for ro: maybe/)
    // The type is read once variables are known: an error of the step, not of the parse.
    assert.throws(
      () => parseMount('type=nope,target=/x', expand),
      /^DockerfileError: unsupported mount type "nope"$/,
    )
    assert.throws(() => parseMount('type=cach,target=/x', expand), /\(did you mean cache\?\)/)
    assert.doesNotThrow(() => parseMount('type=nope,target=/x', undefined))
  })
  test('CSV fields with quotes', () => {
    assert.deepEqual(csvFields('a=1,"b=x,y","c=""q"""'), ['a=1', 'b=x,y', 'c="q"'])
    assert.throws(() => csvFields('a="b'), /bare "/)
  })
})

test('suggestions match the case of what was written', () => {
  assert.equal(suggest('RUNN', ['RUN', 'ENV'], false), 'RUN')
  assert.equal(suggest('runn', ['RUN', 'ENV'], false), 'run')
  assert.equal(suggest('Runn', ['RUN', 'ENV'], false), 'run')
  assert.equal(suggest('zzzzz', ['RUN'], false), '')
})
