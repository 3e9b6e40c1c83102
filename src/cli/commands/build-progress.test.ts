import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BuildProgress } from './build-progress.ts'

// Escape sequences (cursor moves, colours) take no columns.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g')

const steps = [
  { index: 0, stage: 0, stageName: 'stage-0', text: 'FROM busybox', heavy: false },
  { index: 1, stage: 0, stageName: 'stage-0', text: 'ENV A=1', heavy: false },
  { index: 2, stage: 0, stageName: 'stage-0', text: 'COPY . /app', heavy: true },
  { index: 3, stage: 0, stageName: 'stage-0', text: 'RUN make', heavy: true },
]

function play(mode: 'plain' | 'tty'): { text: string; progress: BuildProgress } {
  let text = ''
  const p = new BuildProgress(mode, (s) => (text += s), 60)
  p.handle({ type: 'plan', steps })
  for (const i of [0, 1]) {
    p.handle({ type: 'start', step: i })
    p.handle({ type: 'done', step: i, cached: false, durationMs: 0 })
  }
  p.handle({ type: 'start', step: 2 })
  p.handle({ type: 'done', step: 2, cached: true, durationMs: 3 })
  p.handle({ type: 'start', step: 3 })
  p.handle({ type: 'running', step: 3, id: 'f'.repeat(64) })
  p.handle({ type: 'output', step: 3, stream: 'stdout', data: 'compiling\npartial' })
  p.handle({
    type: 'error',
    step: 3,
    message: 'process "/bin/sh -c make" did not complete successfully: exit code: 2',
  })
  p.end()
  return { text, progress: p }
}

test('plain: BuildKit lines for the steps that do work, CACHED, output, and the failed step', () => {
  const { text } = play('plain')
  assert.match(
    text,
    /^#1 \[1\/4\] FROM busybox\n#1 DONE 0\.0s\n\n#2 \[3\/4\] COPY \. \/app\n#2 CACHED\n\n#3 \[4\/4\] RUN make\n/,
  )
  assert.doesNotMatch(text, /ENV A=1/)
  assert.match(text, /#3 +[0-9.]+ compiling\n#3 +[0-9.]+ partial\n#3 ERROR: process/)
  assert.match(text, /------\n > \[4\/4\] RUN make:\ncompiling\npartial\n------\n$/)
})

test('tty: one redrawn block with states and times', () => {
  const { text } = play('tty')
  assert.match(text, /\[\+\] Building [0-9.]+s \(3\/4\)\n/)
  assert.match(text, / => CACHED \[3\/4\] COPY \. \/app +[0-9.]+s\n/)
  assert.match(text, / => ERROR \[4\/4\] RUN make +[0-9.]+s\n/)
  for (const line of text.split('\n')) assert.ok(line.replace(ANSI, '').length <= 60, line)
})
