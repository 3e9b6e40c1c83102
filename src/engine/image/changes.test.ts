import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import { applyChanges, parseGoDuration } from './changes.ts'
import type { ImageRunConfig } from './types.ts'

// Expected values checked against dockerd 20.10's `docker import --change`.
describe('applyChanges', () => {
  const ok: [string[], ImageRunConfig][] = [
    [[], {}],
    [['CMD'], { Cmd: ['/bin/sh', '-c'] }],
    [['ENTRYPOINT'], { Entrypoint: null, Cmd: null }],
    [['CMD echo hi', 'ENTRYPOINT ["a"]'], { Cmd: ['/bin/sh', '-c', 'echo hi'], Entrypoint: ['a'] }],
    [['ENTRYPOINT ["a"]', 'CMD x'], { Entrypoint: ['a'], Cmd: ['/bin/sh', '-c', 'x'] }],
    [['cmd ["a", "b"]'], { Cmd: ['a', 'b'] }],
    [['CMD [not json'], { Cmd: ['/bin/sh', '-c', '[not json'] }],
    [['ENTRYPOINT top -b'], { Entrypoint: ['/bin/sh', '-c', 'top -b'], Cmd: null }],
    [['ENV a=b c="d e"', 'ENV f g  h'], { Env: ['a=b', 'c=d e', 'f=g  h'] }],
    [['ENV a=1', 'ENV a=2 b=$a'], { Env: ['a=2', 'b=1'] }],
    [['ENV a=b', 'USER $a'], { Env: ['a=b'], User: 'b' }],
    [['ENV p=/x', 'WORKDIR ${p}/y'], { Env: ['p=/x'], WorkingDir: '/x/y' }],
    [['WORKDIR x', 'WORKDIR y'], { WorkingDir: '/x/y' }],
    [['WORKDIR /a/../b/'], { WorkingDir: '/a/../b/' }],
    [['USER a b'], { User: 'a b' }],
    [['LABEL k=v', 'LABEL a b c'], { Labels: { k: 'v', a: 'b c' } }],
    [['VOLUME /a /b', 'VOLUME ["/c"]'], { Volumes: { '/a': {}, '/b': {}, '/c': {} } }],
    [['EXPOSE 80 81-82/UDP'], { ExposedPorts: { '80/tcp': {}, '81/udp': {}, '82/udp': {} } }],
    [['ONBUILD RUN echo hi'], { OnBuild: ['RUN echo hi'] }],
    [['HEALTHCHECK NONE'], { Healthcheck: { Test: ['NONE'] } }],
    [
      ['HEALTHCHECK --interval=5s --retries=2 CMD curl x'],
      { Healthcheck: { Test: ['CMD-SHELL', 'curl x'], Interval: 5e9, Retries: 2 } },
    ],
    [['HEALTHCHECK CMD ["true"]'], { Healthcheck: { Test: ['CMD', 'true'] } }],
    [['# a comment', 'ENV a=b \\', '  c=d'], { Env: ['a=b', 'c=d'] }],
  ]
  for (const [changes, want] of ok) {
    test(`applies ${JSON.stringify(changes)}`, () => {
      assert.deepEqual(applyChanges({}, changes), want)
    })
  }

  const bad: [string[], string][] = [
    [['FROM busybox'], 'from is not a valid change command'],
    [['STOPSIGNAL SIGKILL'], 'stopsignal is not a valid change command'],
    [['RUN true'], 'run is not a valid change command'],
    [['FOO bar'], 'foo is not a valid change command'],
    [['ENV'], 'ENV requires at least one argument'],
    [['ENV a'], 'ENV must have two arguments'],
    [['ENV a=b c d'], 'Syntax error - can\'t find = in "c". Must be of the form: name=value'],
    [['ENV =x'], 'ENV names can not be blank'],
    [['WORKDIR'], 'WORKDIR requires exactly one argument'],
    [['VOLUME'], 'VOLUME requires at least one argument'],
    [['EXPOSE foo'], 'Invalid containerPort: foo'],
    [['ONBUILD FROM x'], "FROM isn't allowed as an ONBUILD trigger"],
    [['ONBUILD ONBUILD RUN x'], "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
    [['HEALTHCHECK FOO'], 'Unknown type "FOO" in HEALTHCHECK (try CMD)'],
  ]
  for (const [changes, message] of bad) {
    test(`refuses ${JSON.stringify(changes)}`, () => {
      assert.throws(
        () => applyChanges({}, changes),
        (err: Error) => err instanceof InvalidArgument && err.message === message,
      )
    })
  }

  test('does not modify its input', () => {
    const base: ImageRunConfig = { Env: ['a=1'] }
    applyChanges(base, ['ENV a=2'])
    assert.deepEqual(base, { Env: ['a=1'] })
  })

  test('parses Go durations', () => {
    assert.equal(parseGoDuration('1m30s'), 90e9)
    assert.equal(parseGoDuration('250ms'), 250e6)
    assert.equal(parseGoDuration('1.5h'), 5400e9)
    assert.throws(() => parseGoDuration('5'), InvalidArgument)
  })
})
