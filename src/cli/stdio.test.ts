// Direct stdout/stderr (stdio.ts) as a piped reader sees them: everything, in order, also once
// something else has taken process.stdout; and the exit waits for what a stream still holds.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'

const stdio = new URL('./stdio.ts', import.meta.url).href

function run(body: string): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', `import * as s from '${stdio}'\n${body}`],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  )
  return { stdout: r.stdout, stderr: r.stderr, status: r.status }
}

test('direct writes, then a stream taking over: all of it, in order, and the exit code', () => {
  const r = run(`
    s.useDirectStdio()
    s.write(1, 'one\\n')
    s.write(2, 'warn\\n')
    process.stdout.write('two\\n')
    s.write(1, 'three\\n')
    s.exitAfterFlush(3)
  `)
  assert.equal(r.stdout, 'one\ntwo\nthree\n')
  assert.equal(r.stderr, 'warn\n')
  assert.equal(r.status, 3)
})

test('more than a pipe holds, through a stream at the end, is not cut short by the exit', () => {
  const r = run(`
    s.useDirectStdio()
    const line = 'x'.repeat(99) + '\\n'
    for (let i = 0; i < 5000; i++) s.write(1, line)
    process.stdout.write(line.repeat(5000))
    s.exitAfterFlush(0)
  `)
  assert.equal(r.status, 0)
  assert.equal(r.stdout.length, 100 * 10000)
})
