import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseDockerfile } from './instructions.ts'
import { checkOrder, planBuild, reachable, type PlanOptions } from './plan.ts'

const amd64: PlanOptions = { buildArgs: {}, platform: { os: 'linux', architecture: 'amd64' } }

function plan(text: string, opts: Partial<PlanOptions> = {}) {
  return planBuild(parseDockerfile(text), { ...amd64, ...opts })
}

describe('build plan', () => {
  test('global args: predefined, ARG before FROM, --build-arg, defaults expanded in order', () => {
    const p = plan('ARG A=a\nARG B=${A}-b\nARG C\nFROM busybox:${A}\n', {
      buildArgs: { A: 'x', C: null },
    })
    assert.equal(p.globalArgs.get('B'), 'x-b')
    assert.equal(p.globalArgs.get('C'), undefined)
    assert.equal(p.globalArgs.get('TARGETPLATFORM'), 'linux/amd64')
    assert.equal(p.globalArgs.get('TARGETSTAGE'), 'default')
    assert.deepEqual(p.stages[0]!.base, { kind: 'image', ref: 'busybox:x' })
  })

  test('bases: an image, scratch, an earlier stage by its exact name', () => {
    const p = plan('FROM busybox AS one\nFROM scratch\nFROM one\nFROM ONE\n')
    assert.deepEqual(
      p.stages.map((s) => s.base),
      [
        { kind: 'image', ref: 'busybox' },
        { kind: 'scratch' },
        { kind: 'stage', index: 0 },
        { kind: 'image', ref: 'ONE' },
      ],
    )
    assert.deepEqual(
      p.stages.map((s) => s.displayName),
      ['one', 'stage-1', 'stage-2', 'stage-3'],
    )
  })

  test('only the stages the target reaches, through bases, COPY --from and mounts', () => {
    const p = plan(
      'FROM busybox AS a\nFROM busybox AS b\nFROM busybox AS c\nFROM a AS d\nCOPY --from=1 /x /x\nRUN --mount=from=c,target=/m true\nFROM busybox AS unused\n',
      { target: 'd' },
    )
    assert.deepEqual(reachable(p), [0, 1, 2, 3])
  })

  test('the target must name a stage; suggestions for near names', () => {
    assert.throws(() => plan('FROM busybox AS build\n', { target: 'buidl' }), {
      message: 'target stage "buidl" could not be found (did you mean build?)',
    })
  })

  test('a stage index out of range, a cycle, a later stage', () => {
    assert.throws(() => plan('FROM busybox\nCOPY --from=3 /a /b\n'), {
      message: 'invalid stage index 3',
    })
    assert.throws(() => plan('FROM busybox AS a\nCOPY --from=b /x /x\nFROM a AS b\n'), {
      message: 'circular dependency detected on stage: a',
    })
    const p = plan(
      'FROM busybox AS a\nRUN --mount=from=b,target=/m true\nFROM busybox AS b\nFROM a\n',
    )
    assert.throws(() => checkOrder(p, reachable(p)), {
      message:
        'cannot mount from stage "b" to "/m", stage needs to be defined before current command',
    })
  })

  test('platforms: only this one, from a variable too', () => {
    const p = plan('FROM --platform=$BUILDPLATFORM busybox\n')
    assert.equal(p.stages.length, 1)
    assert.throws(
      () => plan('FROM --platform=linux/arm64 busybox\n'),
      /berth builds for linux\/amd64 only/,
    )
    assert.throws(() => plan('ARG P\nFROM --platform=$P busybox\n'), {
      message: 'empty platform value from expression $P',
    })
  })

  test('a blank base and a bad substitution name their line', () => {
    assert.throws(
      () => plan('ARG B\n\nFROM $B\n'),
      (err: Error & { startLine?: number }) =>
        err.message === 'base name ($B) should not be blank' && err.startLine === 3,
    )
    assert.throws(() => plan('FROM ${B\n'), /failed to process "\$\{B": syntax error: missing '}'/)
  })
})
