// berth against a real dockerd, compared with the stock docker CLI on the same daemon.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { berth, busyboxTar, docker, startDockerd } from './testutil.ts'
import type { Dockerd, RunResult } from './testutil.ts'

let d: Dockerd
const b = (args: string[], input?: string | Buffer): Promise<RunResult> =>
  berth(d.host, args, input)

// CREATED/STATUS columns move with the clock; compare everything else exactly
// (and the column widths that follow from them)
const timeless = (s: string) =>
  s
    .replace(
      /(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes|hours)) ago/g,
      'T ago',
    )
    .replace(/ {2,}/g, '  ')

describe('berth against the dockerd oracle', () => {
  before(async () => {
    d = await startDockerd()
    const tar = await busyboxTar(d.dir)
    const r = await docker(d, ['import', tar, 'bb:latest'])
    assert.equal(r.code, 0, r.stderr)
  })
  after(async () => {
    await d?.stop()
  })

  test('version shape', async () => {
    const r = await b(['version'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stdout,
      /^Client:\n Version: +0\.1\.0\n API version: +1\.41 \(downgraded from 1\.45\)\n/,
    )
    const dv = await docker(d, ['version'])
    const server = (s: string) => s.slice(s.indexOf('Server:'))
    assert.equal(server(r.stdout), server(dv.stdout))
  })

  test('import prints the image ID like docker', async () => {
    const tar = join(d.dir, 'busybox.tar')
    const br = await b(['import', '-m', 'hello', '-c', 'ENV X=1', tar, 'bimp:v1'])
    const dr = await docker(d, ['import', '-m', 'hello', '-c', 'ENV X=1', tar, 'dimp:v1'])
    assert.equal(br.code, 0, br.stderr)
    assert.match(br.stdout, /^sha256:[0-9a-f]{64}\n$/)
    assert.equal(br.stdout.length, dr.stdout.length)
    const env = await b(['inspect', '-f', '{{json .Config.Env}} {{.Comment}}', 'bimp:v1'])
    assert.equal(env.stdout, '["X=1"] hello\n')
  })

  test('images, -q, --format, --filter', async () => {
    for (const args of [
      ['images'],
      ['images', '-q'],
      ['images', '--no-trunc'],
      ['images', '--digests'],
      ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'],
      ['images', '--format', 'table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}'],
      ['images', '--filter', 'reference=bb'],
      ['images', 'bimp'],
      ['image', 'ls', '-a'],
    ]) {
      const [br, dr] = await Promise.all([b(args), docker(d, args)])
      assert.equal(br.code, dr.code, args.join(' '))
      // dockerd lists images created in the same second in no fixed order
      const sorted = (s: string) => timeless(s).split('\n').sort().join('\n')
      assert.equal(sorted(br.stdout), sorted(dr.stdout), args.join(' '))
    }
  })

  test('tag and rmi', async () => {
    assert.equal((await b(['tag', 'bb', 'bb:t1'])).code, 0)
    assert.equal((await docker(d, ['tag', 'bb', 'bb:t2'])).code, 0)
    const [br, dr] = await Promise.all([b(['rmi', 'bb:t1']), docker(d, ['rmi', 'bb:t2'])])
    assert.equal(br.stdout, 'Untagged: bb:t1\n')
    assert.equal(dr.stdout, 'Untagged: bb:t2\n')
    const bad = await b(['tag', 'bb', 'Foo'])
    const dbad = await docker(d, ['tag', 'bb', 'Foo'])
    assert.equal(bad.code, dbad.code)
    assert.equal(bad.stderr, dbad.stderr)
    const [bm, dm] = await Promise.all([b(['rmi', 'nosuch']), docker(d, ['rmi', 'nosuch'])])
    assert.equal(bm.code, dm.code)
    assert.equal(bm.stderr, dm.stderr)
  })

  test('save | load round trip', async () => {
    const out = join(d.dir, 'save.tar')
    const s = await b(['save', '-o', out, 'bb:latest'])
    assert.equal(s.code, 0, s.stderr)
    const data = await readFile(out)
    assert.ok(data.length > 1_000_000)
    await docker(d, ['rmi', 'bb:latest'])
    const l = await b(['load'], data)
    assert.equal(l.code, 0, l.stderr)
    assert.equal(l.stdout, 'Loaded image: bb:latest\n')
    const l2 = await b(['load', '-i', out])
    assert.equal(l2.stdout, 'Loaded image: bb:latest\n')
  })

  test('run --rm echo hi', async () => {
    const [br, dr] = await Promise.all([
      b(['run', '--rm', '--network', 'none', 'bb', 'echo', 'hi']),
      docker(d, ['run', '--rm', '--network', 'none', 'bb', 'echo', 'hi']),
    ])
    assert.deepEqual(br, dr)
  })

  test('run -e, --env-file, -w, -u, stdout and stderr apart', async () => {
    const args = [
      'run',
      '--rm',
      '--network',
      'none',
      '-e',
      'A=1',
      '--env=B=2',
      '-e',
      'HOMEX',
      '-w',
      '/bin',
      '-u',
      '1:2',
    ]
    const cmd = ['bb', 'sh', '-c', 'echo $A$B$HOMEX; pwd; id -u; echo oops >&2']
    const env = { ...process.env, HOMEX: 'h' }
    const br = await berth(d.host, [...args, ...cmd], undefined, env)
    const dr = await docker(d, [...args, ...cmd])
    assert.equal(br.stdout, '12h\n/bin\n1\n')
    assert.equal(br.stderr, 'oops\n')
    assert.equal(dr.stdout, '12\n/bin\n1\n')
    assert.equal(br.code, 0)
  })

  test('run -i with piped stdin', async () => {
    const br = await b(['run', '-i', '--rm', '--network', 'none', 'bb', 'cat'], 'piped\n')
    assert.deepEqual(br, { code: 0, stdout: 'piped\n', stderr: '' })
  })

  test('run exit code 3, missing executable 127, unknown flag 125', async () => {
    const x3 = await b(['run', '--network', 'none', '--name', 'x3', 'bb', 'sh', '-c', 'exit 3'])
    assert.deepEqual(x3, { code: 3, stdout: '', stderr: '' })
    for (const args of [
      ['run', '--network', 'none', 'bb', 'sh', '-c', 'exit 3'],
      ['run', '--network', 'none', 'bb', 'nosuch'],
      ['run', '--x', 'bb'],
      ['ps', '-z'],
      ['rm'],
    ]) {
      const [br, dr] = await Promise.all([b(args), docker(d, args)])
      assert.equal(br.code, dr.code, args.join(' '))
      assert.equal(br.stderr.replaceAll('berth', 'docker'), dr.stderr, args.join(' '))
    }
  })

  test('run -d prints the full ID; logs; ps -a; inspect -f; wait; rm', async () => {
    const r = await b([
      'run',
      '-d',
      '--network',
      'none',
      '--name',
      'bg',
      '-l',
      'k=v',
      'bb',
      'sh',
      '-c',
      'echo out; echo err >&2',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^[0-9a-f]{64}\n$/)
    const w = await b(['wait', 'bg'])
    assert.equal(w.stdout, '0\n')
    const [bl, dl] = await Promise.all([b(['logs', 'bg']), docker(d, ['logs', 'bg'])])
    assert.deepEqual(bl, dl)
    assert.equal(bl.stdout, 'out\n')
    assert.equal(bl.stderr, 'err\n')
    const [bt, dt] = await Promise.all([
      b(['logs', '--tail', '1', '-t', 'bg']),
      docker(d, ['logs', '--tail', '1', '-t', 'bg']),
    ])
    assert.deepEqual(bt, dt)
    for (const args of [
      ['ps', '-a'],
      ['ps', '-a', '--no-trunc'],
      ['ps', '-aq'],
      ['ps', '-a', '-s'],
      ['ps', '-l'],
      ['ps', '-n', '2'],
      ['ps', '-a', '--filter', 'status=exited'],
      ['ps', '-a', '--format', '{{.Names}} {{.Label "k"}} {{.State}}'],
      ['ps', '-a', '--format', 'table {{.Names}}\\t{{.Command}}'],
    ]) {
      const [bp, dp] = await Promise.all([b(args), docker(d, args)])
      assert.equal(bp.code, dp.code, args.join(' '))
      assert.equal(timeless(bp.stdout), timeless(dp.stdout), args.join(' '))
    }
    for (const args of [
      [
        'inspect',
        '-f',
        '{{.State.ExitCode}} {{.Name}} {{json .Config.Labels}} {{.Config.Cmd}}',
        'bg',
      ],
      ['inspect', '--format', '{{range .Config.Env}}{{.}},{{end}}', 'bg'],
      ['inspect', '-f', '{{.Id}}', 'bb'],
      ['inspect', '--type', 'image', '-f', '{{.Os}}', 'bb'],
      ['inspect', 'nosuch'],
      ['image', 'inspect', '-f', '{{.Architecture}}', 'bb'],
    ]) {
      const [bi, di] = await Promise.all([b(args), docker(d, args)])
      assert.equal(bi.code, di.code, args.join(' '))
      assert.equal(bi.stdout, di.stdout, args.join(' '))
    }
    const full = await b(['inspect', 'bg'])
    const dfull = await docker(d, ['inspect', 'bg'])
    assert.equal(full.stdout, dfull.stdout)
    const [br, dr] = await Promise.all([b(['rm', 'bg', 'x3']), docker(d, ['rm', 'nosuch'])])
    assert.equal(br.stdout, 'bg\nx3\n')
    assert.equal(dr.code, 1)
    const bn = await b(['rm', 'nosuch'])
    assert.deepEqual(bn, dr)
  })

  test('history', async () => {
    for (const args of [
      ['history', 'bb'],
      ['history', '-q', 'bb'],
      ['history', '--no-trunc', 'bb'],
      ['history', '-H=false', 'bb'],
    ]) {
      const [bh, dh] = await Promise.all([b(args), docker(d, args)])
      assert.equal(bh.code, dh.code)
      assert.equal(timeless(bh.stdout), timeless(dh.stdout), args.join(' '))
    }
  })

  test('image prune asks first', async () => {
    const [bp, dp] = await Promise.all([
      b(['image', 'prune'], 'n\n'),
      docker(d, ['image', 'prune'], 'n\n'),
    ])
    assert.deepEqual(bp, dp)
    const [bf, df] = await Promise.all([
      b(['image', 'prune', '-f']),
      docker(d, ['image', 'prune', '-f']),
    ])
    assert.equal(bf.code, df.code)
  })
})
