// cp, diff, export and commit through the stock docker CLI against berthd, with dockerd as the oracle.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  docker,
  importBusybox,
  startBerthd,
  startDockerd,
  type Berthd,
  type Dockerd,
} from './harness.ts'

let b: Berthd
let o: Dockerd
let tmp: string

const SCRIPT = [
  'mkdir -p /tmp/d',
  'echo hi > /tmp/d/f',
  'ln /tmp/d/f /tmp/d/hard',
  'rm /bin/ls',
  'touch /etc/passwd',
  'mkdir /newdir',
  'rm -rf /home',
  'mkdir /home',
  'touch /home/x',
].join(' && ')

before(async () => {
  tmp = await mkdtemp('/tmp/berth-e2e-files-')
  ;[b, o] = await Promise.all([startBerthd(), startDockerd()])
  await Promise.all([importBusybox(b), importBusybox(o)])
  for (const h of [b, o]) {
    const r = await docker(['run', '--name', 'c1', 'busybox', 'sh', '-c', SCRIPT], { host: h })
    assert.equal(r.code, 0, r.stderr)
  }
})

after(async () => {
  await Promise.all([b?.stop(), o?.stop()])
  await rm(tmp, { recursive: true, force: true })
})

describe('diff', () => {
  test('prints the same A/C/D lines as Docker', async () => {
    const ours = await docker(['diff', 'c1'], { host: b })
    const theirs = await docker(['diff', 'c1'], { host: o })
    assert.equal(ours.code, 0, ours.stderr)
    // dockerd does not promise an order on its first answer; compare the sets of lines.
    const lines = (s: string): string[] => s.trim().split('\n').sort()
    assert.deepEqual(lines(ours.stdout), lines(theirs.stdout))
    assert.match(ours.stdout, /^D \/bin\/ls$/m)
  })
})

describe('cp', () => {
  test('copies a directory out and a file in, as Docker does', async () => {
    for (const [name, h] of [
      ['berth', b],
      ['docker', o],
    ] as const) {
      const r = await docker(['cp', 'c1:/tmp/d', join(tmp, `out-${name}`)], { host: h })
      assert.equal(r.code, 0, r.stderr)
    }
    assert.equal(await readFile(join(tmp, 'out-berth/f'), 'utf8'), 'hi\n')
    const ls = (d: string): string =>
      spawnSync('ls', ['-lR', '--time-style=+', d], { encoding: 'utf8' }).stdout.replace(d, '')
    assert.equal(ls(join(tmp, 'out-berth')), ls(join(tmp, 'out-docker')))

    await writeFile(join(tmp, 'in.txt'), 'from host\n')
    const r = await docker(['cp', join(tmp, 'in.txt'), 'c1:/tmp/'], { host: b })
    assert.equal(r.code, 0, r.stderr)
    const back = await docker(['cp', 'c1:/tmp/in.txt', '-'], { host: b })
    assert.equal(back.code, 0, back.stderr)
    assert.match(back.stdoutRaw.toString('latin1'), /from host/)
    const diff = await docker(['diff', 'c1'], { host: b })
    assert.match(diff.stdout, /^A \/tmp\/in\.txt$/m)
  })

  test('a missing path fails with Docker words', async () => {
    const ours = await docker(['cp', 'c1:/nonexist', join(tmp, 'x')], { host: b })
    const theirs = await docker(['cp', 'c1:/nonexist', join(tmp, 'x')], { host: o })
    assert.equal(ours.code, 1)
    assert.equal(ours.stderr, theirs.stderr)
  })
})

describe('export', () => {
  test('streams the whole filesystem as a tar', async () => {
    const r = await docker(['export', 'c1'], { host: b })
    assert.equal(r.code, 0, r.stderr)
    const t = spawnSync('tar', ['-t'], { input: r.stdoutRaw, encoding: 'utf8' })
    assert.equal(t.status, 0, t.stderr)
    const names = t.stdout.split('\n')
    for (const n of ['bin/', 'bin/busybox', 'tmp/d/f', 'home/x']) assert.ok(names.includes(n), n)
    assert.ok(!names.includes('bin/ls'))
  })
})

describe('commit', () => {
  test('the new image runs with the changes, deletions stay deleted, history shows the layer', async () => {
    const c = await docker(['commit', '-c', 'CMD ["cat","/tmp/d/f"]', '-m', 'msg', 'c1', 'img1'], {
      host: b,
    })
    assert.equal(c.code, 0, c.stderr)
    assert.match(c.stdout, /^sha256:[0-9a-f]{64}\n$/)
    const run = await docker(['run', '--rm', 'img1'], { host: b })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.stdout, 'hi\n')
    const gone = await docker(
      ['run', '--rm', 'img1', 'sh', '-c', 'test -e /bin/ls; echo $?; ls /home'],
      {
        host: b,
      },
    )
    assert.equal(gone.stdout, '1\nx\n')
    const h = await docker(['history', '--format', '{{.Comment}}', 'img1'], { host: b })
    assert.equal(h.stdout.split('\n')[0], 'msg')
  })

  test('a running container is thawed after a commit that paused it', async () => {
    const r = await docker(
      ['run', '-d', '--name', 'busy', 'busybox', 'sh', '-c', 'echo x > /made; sleep 60'],
      {
        host: b,
      },
    )
    assert.equal(r.code, 0, r.stderr)
    const id = r.stdout.trim()
    const c = await docker(['commit', 'busy', 'img2'], { host: b })
    assert.equal(c.code, 0, c.stderr)
    const st = spawnSync('runc', ['--root', join(b.dataRoot, 'run/runc'), 'state', id], {
      encoding: 'utf8',
    })
    assert.equal(st.status, 0, st.stderr)
    assert.equal((JSON.parse(st.stdout) as { status: string }).status, 'running')
    const run = await docker(['run', '--rm', 'img2', 'cat', '/made'], { host: b })
    assert.equal(run.stdout, 'x\n')
    await docker(['rm', '-f', 'busy'], { host: b })
  })
})
