// Build secrets: `berth build --secret` carries them to RUN --mount=type=secret through berth's
// extension of POST /build; they never reach the image, the cache key or a log. The stock docker
// CLI's classic path cannot send them, and gets BuildKit's words for a required one.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  apiRequest,
  berth,
  docker,
  importBusybox,
  startBerthd,
  type Berthd,
  type RunResult,
} from './harness.ts'

let d: Berthd
let work: string
const SECRET = 'berth-secret-value-7f3a91'
// Steps compare digests, so that the Dockerfile (shown in the output) does not hold the secret.
const MD5 = createHash('md5').update(SECRET).digest('hex')

const host = (env: Record<string, string> = {}) => ({ host: d, env, timeoutMs: 120_000 })

async function context(name: string, dockerfile: string): Promise<string> {
  const c = join(work, name)
  await mkdir(c, { recursive: true })
  await writeFile(join(c, 'Dockerfile'), dockerfile)
  return c
}

async function okBerth(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const r = await berth(['build', '--progress=plain', ...args], host(env))
  assert.equal(r.code, 0, `berth build ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
  assert.ok(!r.stdout.includes(SECRET) && !r.stderr.includes(SECRET), 'the secret is not printed')
  return r
}

async function runIn(image: string, cmd: string): Promise<string> {
  const r = await docker(['run', '--rm', '--network', 'none', image, 'sh', '-c', cmd], host())
  assert.equal(r.code, 0, r.stderr)
  return r.stdout
}

/** Every byte of the image as `docker save` gives it (layers, config, history). */
async function saved(image: string): Promise<Buffer> {
  const r = await apiRequest(d, 'GET', `/images/${encodeURIComponent(image)}/get`)
  assert.equal(r.status, 200)
  return r.raw
}

before(async () => {
  work = await mkdtemp('/tmp/bt-buildsecrets-')
  await writeFile(join(work, 'secret.txt'), SECRET)
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

describe('build secrets', () => {
  test('--secret src= and env= reach RUN steps, and never the image, the cache key or a log', async () => {
    const c = await context(
      'secret',
      [
        'FROM busybox',
        // The default target, a target of its own, and an env form.
        `RUN --mount=type=secret,id=tok md5sum /run/secrets/tok | grep -q ${MD5} && echo file-ok > /r`,
        `RUN --mount=type=secret,id=tok,target=/etc/tok.txt,required=true md5sum /etc/tok.txt | grep -q ${MD5} && echo target-ok >> /r`,
        `RUN --mount=type=secret,id=fromenv,env=TOKEN printf %s "$TOKEN" | md5sum | grep -q ${MD5} && echo env-ok >> /r`,
        '',
      ].join('\n'),
    )
    await okBerth(
      [
        '--network',
        'none',
        '--secret',
        `id=tok,src=${join(work, 'secret.txt')}`,
        '--secret',
        'id=fromenv,env=MY_SECRET_VAR',
        '-t',
        'secret:1',
        c,
      ],
      { MY_SECRET_VAR: SECRET },
    )
    assert.equal(await runIn('secret:1', 'cat /r'), 'file-ok\ntarget-ok\nenv-ok\n')
    // Neither the mount points nor the contents stay.
    assert.equal(
      await runIn(
        'secret:1',
        'for p in /run/secrets/tok /etc/tok.txt; do [ -e $p ] && echo $p; done; true',
      ),
      '',
    )
    assert.ok(!(await saved('secret:1')).includes(SECRET), 'the secret is in the saved image')
    assert.ok(!(await d.logs()).includes(SECRET), "the secret is in berthd's log")

    // Another value for the secret: the same key, so every step comes from the cache.
    await writeFile(join(work, 'other.txt'), 'another value')
    const again = await okBerth(
      [
        '--network',
        'none',
        '--secret',
        `id=tok,src=${join(work, 'other.txt')}`,
        '--secret',
        'id=fromenv,env=MY_SECRET_VAR',
        '-t',
        'secret:2',
        c,
      ],
      { MY_SECRET_VAR: 'x' },
    )
    assert.equal(again.stderr.match(/#\d+ CACHED\n/g)?.length, 3, again.stderr)
  })

  test('a secret that is not given: skipped unless required; the docker CLI gets the same words', async () => {
    const optional = await context(
      'optional',
      'FROM busybox\nRUN --mount=type=secret,id=nope if [ -e /run/secrets/nope ]; then echo there; else echo absent; fi > /r\n',
    )
    await okBerth(['--network', 'none', '-t', 'optional:1', optional])
    assert.equal(await runIn('optional:1', 'cat /r'), 'absent\n')
    const b = await docker(['build', '--network', 'none', '-t', 'optional:2', optional], host())
    assert.equal(b.code, 0, b.stderr)

    const required = await context(
      'required',
      'FROM busybox\nRUN --mount=type=secret,id=nope,required=true true\n',
    )
    const r = await berth(['build', '--progress=plain', '--network', 'none', required], host())
    assert.equal(r.code, 1)
    assert.match(r.stderr, /secret nope: not found/)
    const dr = await docker(['build', '--network', 'none', required], host())
    assert.equal(dr.code, 1)
    assert.match(dr.stderr, /secret nope: not found/)
  })

  test('bad --secret values and SSH mounts are refused clearly', async () => {
    const c = await context('bad', 'FROM busybox\nRUN true\n')
    const missing = await berth(
      ['build', '--secret', `id=x,src=${join(work, 'no-such-file')}`, c],
      host(),
    )
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /failed to read secret x from .*no-such-file/)
    const badKey = await berth(['build', '--secret', 'id=x,foo=bar', c], host())
    assert.match(badKey.stderr, /unexpected key 'foo' in 'foo=bar'/)
    const noEnv = await berth(['build', '--secret', 'id=x,env=BERTH_NO_SUCH_VAR', c], host())
    assert.match(noEnv.stderr, /secret x: environment variable BERTH_NO_SUCH_VAR is not set/)

    const ssh = await context('ssh', 'FROM busybox\nRUN --mount=type=ssh true\n')
    const s = await berth(['build', '--progress=plain', ssh], host())
    assert.equal(s.code, 1)
    assert.match(s.stderr, /RUN --mount=type=ssh is not supported by berth/)
    const ds = await docker(['build', ssh], host())
    assert.equal(ds.code, 1)
    assert.match(ds.stderr, /RUN --mount=type=ssh is not supported by berth/)
  })

  test('a truncated secrets frame is a 400 and builds nothing', async () => {
    const r = await apiRequest(
      d,
      'POST',
      '/build?berthsecrets=1',
      Buffer.from([0, 0, 1, 0, 0x7b]),
      {
        'Content-Type': 'application/x-tar',
      },
    )
    assert.equal(r.status, 400)
    assert.match(r.body, /build secrets: the request body ended early/)
  })
})
