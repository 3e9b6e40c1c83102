// CI smoke test of the benchmark harness: runs its quickest form (run --rm only, berthd and
// bare runc, one measured round) and checks that it wrote a well-formed table, JSON and chart
// with numbers in them. It never judges speed: the goals are the full run's business.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { repoRoot } from '../test/e2e/harness.ts'
import { fmt } from './lib/report.ts'
import { median, type Report } from './lib/results.ts'

function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'bench/run.ts'), ...args],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill('SIGINT'), 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, stdout, stderr })
    })
  })
}

test('median and number formats', () => {
  assert.equal(median([]), null)
  assert.equal(median([3, 1, 2]), 2)
  assert.equal(median([4, 1, 3, 2]), 2.5)
  assert.equal(fmt(84.25, 'ms'), '84.3 ms')
  assert.equal(fmt(1234, 'ms'), '1.23 s')
  assert.equal(fmt(null, 'ms'), '–')
  assert.equal(fmt(1.5, 'MiB'), '1.50 MiB')
})

test('the harness measures run --rm on berthd and bare runc and writes its reports', async () => {
  const out = await mkdtemp('/tmp/bench-smoke-')
  try {
    const args = ['--quick', '--runs', '1', '--only', 'run-rm', '--no-build']
    const r = await runBench([...args, '--engines', 'berth-cli,berth,runc', '--out', out])
    assert.equal(r.code, 0, `bench/run.ts failed:\n${r.stderr}`)

    const rep = JSON.parse(await readFile(join(out, 'latest.json'), 'utf8')) as Report
    assert.match(rep.date, /^\d{4}-\d\d-\d\dT/)
    for (const k of ['nproc', 'cpu', 'memory', 'kernel']) assert.ok(rep.machine[k], k)
    assert.ok(rep.versions.runc, 'runc version')
    const rows = rep.rows.filter((x) => x.group === 'run-rm')
    for (const v of ['berth-cli', 'berth', 'runc']) {
      const row = rows.find((x) => x.variant === v)
      assert.ok(row !== undefined, `a run-rm row for ${v}`)
      assert.equal(row.status, 'ok', `${v}: ${row.note ?? ''}`)
      assert.equal(row.unit, 'ms')
      assert.equal(row.samples.length, 1)
      for (const n of [row.median, row.min, row.max]) {
        assert.ok(typeof n === 'number' && Number.isFinite(n) && n > 0, `${v}: ${String(n)}`)
      }
    }
    // Engines left out still get a row that says so, never a number.
    for (const v of ['docker', 'podman']) {
      const row = rows.find((x) => x.variant === v)
      assert.equal(row?.status, 'unavailable')
      assert.equal(row?.median, null)
    }
    const vsRunc = rep.ratios.find((x) => x.group === 'run-rm' && x.name === 'berth/runc')
    assert.ok(typeof vsRunc?.value === 'number' && vsRunc.value > 0)
    assert.equal(vsRunc.goal, 2)
    assert.equal(typeof rep.goals.find((g) => g.text.includes('bare `runc run`'))?.met, 'boolean')

    const md = await readFile(join(out, 'latest.md'), 'utf8')
    assert.equal(md, r.stdout)
    assert.match(md, /^# berth benchmarks$/m)
    assert.match(md, /^\| engine \| median \| min \| max \| n \| failures \| note \|$/m)
    for (const v of ['berth-cli', 'berth', 'runc']) {
      const line = md.split('\n').find((l) => l.includes(`(\`${v}\`)`))
      assert.match(line ?? '', /^\| .+ \| [\d.]+ m?s \| [\d.]+ m?s \| [\d.]+ m?s \| 1 \| 0 \| /)
    }
    assert.match(md, /\| docker CLI → dockerd \(`docker`\) \| not available \|/)

    const chart = await readFile(join(out, 'ratios.svg'), 'utf8')
    assert.match(chart, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
    assert.match(chart, /<\/svg>\n$/)
    assert.match(chart, /berth\/runc/)
  } finally {
    await rm(out, { recursive: true, force: true })
  }
})
