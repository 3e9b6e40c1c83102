// Builds through berthd's API with the stock docker CLI (which uses the classic POST /build here)
// and with berth's own CLI, then runs containers from what was built.
import assert from 'node:assert/strict'
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import tar from 'tar-stream'
import {
  apiRequest,
  berth,
  docker,
  importBusybox,
  mountsUnder,
  startBerthd,
  type Berthd,
} from './harness.ts'

let d: Berthd
let dir: string

/** Pids whose command line contains `needle` (NUL-separated arguments). */
async function processesRunning(needle: string): Promise<number[]> {
  const out: number[] = []
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue
    const cmd = await readFile(`/proc/${p}/cmdline`, 'latin1').catch(() => '')
    if (cmd.includes(needle)) out.push(Number(p))
  }
  return out
}

async function context(name: string, files: Record<string, string>): Promise<string> {
  const c = join(dir, name)
  for (const [p, body] of Object.entries(files)) {
    await mkdir(join(c, p, '..'), { recursive: true })
    await writeFile(join(c, p), body)
  }
  return c
}

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
  dir = await mkdtemp(join(tmpdir(), 'bt-build-'))
})

after(async () => {
  await d?.stop()
  await rm(dir, { recursive: true, force: true })
})

const host = () => ({ host: d, timeoutMs: 120_000 })

describe('docker build against berthd', () => {
  test('-t, --build-arg, .dockerignore; the image runs', async () => {
    const c = await context('basic', {
      Dockerfile:
        'FROM busybox\nARG GREETING=hello\nENV GREETING=$GREETING\nWORKDIR /app\nCOPY . .\nRUN echo "built with $GREETING" > built.txt\nCMD ["sh", "-c", "cat built.txt; ls -A /app | sort | tr \\"\\\\n\\" \\" \\""]\n',
      '.dockerignore': 'secret.txt\n*.log\n',
      'app.txt': 'app',
      'secret.txt': 'secret',
      'debug.log': 'log',
    })
    const b = await docker(
      ['build', '-t', 'basic:1', '-t', 'basic:latest', '--build-arg', 'GREETING=hi', c],
      host(),
    )
    assert.equal(b.code, 0, b.stderr)
    assert.match(b.stdout, /Step 1\/7 : FROM busybox\n ---> [0-9a-f]{12}\n/)
    assert.match(
      b.stdout,
      /Step 6\/7 : RUN echo "built with \$GREETING" > built.txt\n ---> Running in [0-9a-f]{12}\n ---> [0-9a-f]{12}\n/,
    )
    assert.match(
      b.stdout,
      /Successfully built [0-9a-f]{12}\nSuccessfully tagged basic:1\nSuccessfully tagged basic:latest\n/,
    )
    const r = await docker(['run', '--rm', 'basic:1'], host())
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'built with hi\n.dockerignore Dockerfile app.txt built.txt ')

    const again = await docker(['build', '-t', 'basic:1', '--build-arg', 'GREETING=hi', c], host())
    assert.equal(again.code, 0, again.stderr)
    assert.match(
      again.stdout,
      /Step 6\/7 : RUN echo "built with \$GREETING" > built.txt\n ---> Using cache\n/,
    )
    assert.doesNotMatch(again.stdout, /Running in/)
  })

  test('-q prints only the image ID; --iidfile writes it', async () => {
    const c = await context('quiet', { Dockerfile: 'FROM busybox\nLABEL quiet=yes\n' })
    const iid = join(dir, 'iid')
    const b = await docker(['build', '-q', '--iidfile', iid, c], host())
    assert.equal(b.code, 0, b.stderr)
    assert.match(b.stdout, /^sha256:[0-9a-f]{64}\n$/)
    // As docker's CLI does with -q: the file holds what was printed, newline included.
    assert.equal(await readFile(iid, 'utf8'), b.stdout)
    const inspect = await docker(
      ['image', 'inspect', '-f', '{{.Config.Labels.quiet}}', b.stdout.trim()],
      host(),
    )
    assert.equal(inspect.stdout, 'yes\n')
  })

  test('--target and -f with a Dockerfile outside the context', async () => {
    const c = await context('target', { 'data.txt': 'data' })
    const df = join(dir, 'target.Dockerfile')
    await writeFile(
      df,
      'FROM busybox AS build\nCOPY data.txt /data\nRUN echo build > /stage\nFROM busybox AS final\nRUN echo final > /stage\n',
    )
    const b = await docker(['build', '-t', 'target:1', '--target', 'build', '-f', df, c], host())
    assert.equal(b.code, 0, b.stderr)
    assert.doesNotMatch(b.stdout, /echo final/)
    const r = await docker(['run', '--rm', 'target:1', 'cat', '/stage', '/data'], host())
    assert.equal(r.stdout, 'build\ndata')
  })

  test('a failed RUN fails the build with its words and leaves nothing behind', async () => {
    const c = await context('fail', {
      Dockerfile: 'FROM busybox\nRUN echo partial > /p\nRUN echo why; exit 3\n',
    })
    const before = await docker(['images', '-aq'], host())
    const b = await docker(['build', '-t', 'fail:1', c], host())
    // The CLI exits with the failed step's code.
    assert.equal(b.code, 3)
    assert.match(b.stdout, / ---> Running in [0-9a-f]{12}\nwhy\n/)
    assert.match(
      b.stderr,
      /process "\/bin\/sh -c echo why; exit 3" did not complete successfully: exit code: 3/,
    )
    assert.equal((await docker(['images', '-aq'], host())).stdout, before.stdout)
    assert.equal((await docker(['ps', '-aq'], host())).stdout, '')
    assert.deepEqual(await mountsUnder(d.dataRoot), [])
  })

  test('a Dockerfile error is a 400 with the line', async () => {
    const c = await context('parse', { Dockerfile: 'FROM busybox\n\nRUNN echo\n' })
    const b = await docker(['build', c], host())
    assert.equal(b.code, 1)
    assert.match(
      b.stderr,
      /Error response from daemon: dockerfile parse error on line 3: unknown instruction: RUNN \(did you mean RUN\?\)/,
    )
  })

  test('builder prune removes the build cache', async () => {
    const c = await context('prune', { Dockerfile: 'FROM busybox\nRUN echo cache-me > /c\n' })
    assert.equal((await docker(['build', c], host())).code, 0)
    const p = await docker(['builder', 'prune', '-a', '-f'], host())
    assert.equal(p.code, 0, p.stderr)
    assert.match(p.stdout, /Total reclaimed space:/)
    const b = await docker(['build', c], host())
    assert.doesNotMatch(b.stdout, /Using cache/)
  })
})

describe('docker build: the cache as a user sees it', () => {
  // The tutorial's shape: FROM, WORKDIR, COPY, RUN, ENV, CMD, and a second stage.
  const tutorial = {
    Dockerfile: [
      'FROM busybox AS deps',
      'WORKDIR /app',
      'COPY package.json .',
      'RUN wc -c package.json > deps.txt',
      'FROM busybox',
      'ENV MODE=production',
      'WORKDIR /app',
      'COPY --from=deps /app/deps.txt .',
      'COPY src/ src/',
      'RUN cat src/*.js > bundle.js',
      'CMD ["sh", "-c", "echo $MODE; cat deps.txt bundle.js"]',
      '',
    ].join('\n'),
    'package.json': '{"name":"app"}',
    'src/index.js': 'one\n',
  }

  test('multi-stage: a changed file rebuilds exactly the steps after it; --no-cache all', async () => {
    const c = await context('tutorial', tutorial)
    const first = await docker(['build', '-t', 'tut:1', c], host())
    assert.equal(first.code, 0, first.stderr)
    const r = await docker(['run', '--rm', 'tut:1'], host())
    assert.equal(r.stdout, 'production\n14 package.json\none\n')

    await writeFile(join(c, 'src/index.js'), 'two\n')
    const second = await docker(['build', '-t', 'tut:1', c], host())
    assert.equal(second.code, 0, second.stderr)
    // The deps stage and the steps before COPY src/ come from the cache; the rest runs.
    assert.match(second.stdout, /RUN wc -c package.json > deps.txt\n ---> Using cache\n/)
    assert.match(second.stdout, /COPY --from=deps \/app\/deps.txt .\n ---> Using cache\n/)
    assert.doesNotMatch(second.stdout, /COPY src\/ src\/\n ---> Using cache/)
    assert.match(second.stdout, /RUN cat src\/\*.js > bundle.js\n ---> Running in /)
    const r2 = await docker(['run', '--rm', 'tut:1'], host())
    assert.equal(r2.stdout, 'production\n14 package.json\ntwo\n')

    const none = await docker(['build', '--no-cache', '-t', 'tut:1', c], host())
    assert.equal(none.code, 0, none.stderr)
    assert.doesNotMatch(none.stdout, /Using cache/)
    assert.equal((none.stdout.match(/ ---> Running in /g) ?? []).length, 2)
  })

  test('the same context twice gives the same image ID (reproducible, like BuildKit)', async () => {
    const c = await context('repro', tutorial)
    const ids: string[] = []
    for (let i = 0; i < 2; i++) {
      const b = await docker(['build', '-q', '--no-cache', c], host())
      assert.equal(b.code, 0, b.stderr)
      ids.push(b.stdout.trim())
    }
    assert.match(ids[0]!, /^sha256:[0-9a-f]{64}$/)
    assert.equal(ids[1], ids[0])
  })

  test('a changed --build-arg reruns the steps that use it, and only those', async () => {
    const c = await context('args', {
      Dockerfile: 'FROM busybox\nRUN echo before > /b\nARG V=1\nRUN echo $V > /v\n',
    })
    assert.equal((await docker(['build', '--build-arg', 'V=1', c], host())).code, 0)
    const b = await docker(['build', '--build-arg', 'V=2', c], host())
    assert.equal(b.code, 0, b.stderr)
    assert.match(b.stdout, /RUN echo before > \/b\n ---> Using cache\n/)
    assert.match(b.stdout, /RUN echo \$V > \/v\n ---> Running in /)
  })

  test('FROM an image that is not here is pulled, and a registry that cannot be reached fails the build', async () => {
    const c = await context('missing', { Dockerfile: 'FROM 127.0.0.1:9/nosuchimage\nRUN true\n' })
    const b = await docker(['build', c], host())
    assert.equal(b.code, 1)
    assert.match(b.stderr, /127\.0\.0\.1:9/)
  })

  test('berth build says CACHED for steps the cache gives', async () => {
    const c = await context('berthcache', {
      Dockerfile: 'FROM busybox\nCOPY a.txt /\nRUN cat /a.txt > /b.txt\n',
      'a.txt': 'a\n',
    })
    assert.equal((await berth(['build', '--progress=plain', c], host())).code, 0)
    const b = await berth(['build', '--progress=plain', c], host())
    assert.equal(b.code, 0, b.stderr)
    assert.match(b.stderr, /#\d+ \[3\/3\] RUN cat \/a.txt > \/b.txt\n#\d+ CACHED\n/)
  })

  test('system df shows the build cache; image rm and prune keep it; builder prune empties it', async () => {
    const c = await context('roots', {
      Dockerfile: 'FROM busybox\nRUN head -c 100000 /dev/zero > /zeros\n',
    })
    assert.equal((await docker(['build', '-t', 'roots:1', c], host())).code, 0)
    const df = await docker(['system', 'df', '--format', '{{.Type}} {{.TotalCount}}'], host())
    assert.equal(df.code, 0, df.stderr)
    assert.match(df.stdout, /^Build Cache [1-9]\d*$/m)
    // berth's own table is docker's.
    const table = await docker(['system', 'df'], host())
    assert.match(table.stdout, /^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE\nImages /)
    assert.equal((await berth(['system', 'df'], host())).stdout, table.stdout)
    const v = await docker(['system', 'df', '-v', '--format', '{{json .BuildCache}}'], host())
    assert.match(v.stdout, /head -c 100000/)

    // The image goes; the cache keeps the layer, so the next build reuses it and runs.
    assert.equal((await docker(['rmi', 'roots:1'], host())).code, 0)
    // Every image goes, the base too; the base comes back with the same layers.
    assert.equal((await docker(['image', 'prune', '-a', '-f'], host())).code, 0)
    assert.equal((await docker(['images', '-aq'], host())).stdout, '')
    await importBusybox(d)
    const again = await docker(['build', '-t', 'roots:1', c], host())
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /Using cache/)
    const r = await docker(['run', '--rm', 'roots:1', 'wc', '-c', '/zeros'], host())
    assert.equal(r.stdout.trim(), '100000 /zeros')

    assert.equal((await docker(['builder', 'prune', '-a', '-f'], host())).code, 0)
    const after = await docker(
      ['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Size}}'],
      host(),
    )
    assert.match(after.stdout, /^Build Cache 0 0B$/m)
    // The image still has its layers.
    const r2 = await docker(['run', '--rm', 'roots:1', 'wc', '-c', '/zeros'], host())
    assert.equal(r2.stdout.trim(), '100000 /zeros')
  })
})

describe('berth system df -v and builder prune --keep-storage', () => {
  /** Ages move on between two commands: compare them as words only. */
  const ages = (s: string) =>
    s
      .replace(/(Less than a second|About a minute|\d+ seconds?|\d+ minutes?) ago/g, 'AGE ago')
      .replace(/ +/g, ' ')

  test('berth system df -v prints what docker system df -v prints, build cache rows included', async () => {
    const c = await context('dfv', {
      Dockerfile:
        'FROM busybox\nRUN head -c 300000 /dev/zero > /a\nRUN head -c 200000 /dev/zero > /b\n',
    })
    assert.equal((await docker(['build', '-t', 'dfv:1', c], host())).code, 0)
    const want = await docker(['system', 'df', '-v'], host())
    assert.equal(want.code, 0, want.stderr)
    const rows = /Build cache usage: .*\n\n(.*\n)((?:.+\n)+)/.exec(want.stdout)
    assert.ok(rows, want.stdout)
    assert.match(rows[1]!, /^CACHE ID +CACHE TYPE +SIZE +CREATED +LAST USED +USAGE +SHARED\n$/)
    assert.match(rows[2]!, /^[0-9a-f]{12} +regular +\d/m)
    const got = await berth(['system', 'df', '-v'], host())
    assert.equal(got.code, 0, got.stderr)
    assert.equal(ages(got.stdout), ages(want.stdout))
  })

  test('berth builder prune --keep-storage keeps the newest records that fit', async () => {
    const c = await context('keep', {
      Dockerfile:
        'FROM busybox\nRUN head -c 400000 /dev/urandom > /a\nRUN head -c 400000 /dev/urandom > /b\n',
    })
    // With the image gone, the records are the layers' only holders, so pruning frees them.
    assert.equal((await docker(['build', '-t', 'keep:1', c], host())).code, 0)
    assert.equal((await docker(['rmi', 'keep:1'], host())).code, 0)
    const cache = async () => {
      const r = await apiRequest(d, 'GET', '/system/df')
      return (JSON.parse(r.body) as { BuildCache: { Size: number; Shared: boolean }[] }).BuildCache
    }
    const before = (await cache()).filter((r) => !r.Shared)
    assert.ok(before.length >= 2, JSON.stringify(await cache()))
    const bad = await berth(['builder', 'prune', '-f', '--keep-storage', '12x'], host())
    assert.equal(bad.code, 125)
    assert.match(bad.stderr, /invalid argument "12x" for "--keep-storage" flag/)
    const r = await berth(['builder', 'prune', '-a', '-f', '--keep-storage', '500k'], host())
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Deleted build cache objects:\n/)
    assert.match(r.stdout, /\nTotal reclaimed space: [1-9][\d.]*[kM]B\n$/)
    const left = await cache()
    assert.ok(left.length > 0, 'the newest record fits and stays')
    assert.ok(left.reduce((n, x) => n + x.Size, 0) <= 500 * 1024, JSON.stringify(left))
  })
})

describe('POST /build', () => {
  function contextTar(files: Record<string, string>): Promise<Buffer> {
    const pack = tar.pack()
    for (const [name, body] of Object.entries(files)) pack.entry({ name }, body)
    pack.finalize()
    return (async () => {
      const chunks: Buffer[] = []
      for await (const c of pack) chunks.push(c as Buffer)
      return Buffer.concat(chunks)
    })()
  }

  test('the classic stream, and an in-band error with the exit code', async () => {
    const body = await contextTar({
      Dockerfile: 'FROM busybox\nRUN echo out; echo err >&2; exit 5\n',
    })
    const r = await apiRequest(d, 'POST', '/v1.41/build?t=api:1', body, {
      'Content-Type': 'application/x-tar',
    })
    assert.equal(r.status, 200)
    const lines = r.body
      .trim()
      .split(/\r?\n/)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    assert.deepEqual(lines[0], { stream: 'Step 1/2 : FROM busybox' })
    assert.deepEqual(lines[1], { stream: '\n' })
    assert.ok(lines.some((l) => l.stream === 'out\n'))
    assert.ok(lines.some((l) => l.stream === '\u001b[91merr\n\u001b[0m'))
    const message =
      'process "/bin/sh -c echo out; echo err >&2; exit 5" did not complete successfully: exit code: 5'
    assert.deepEqual(lines[lines.length - 1], { errorDetail: { code: 5, message }, error: message })
  })

  test('a client that goes away cancels the build and leaves nothing running', async () => {
    const body = await contextTar({
      Dockerfile: 'FROM busybox\nRUN echo process-is-up; sleep 4321\n',
    })
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: d.socket,
          method: 'POST',
          path: '/v1.41/build',
          headers: { 'Content-Type': 'application/x-tar' },
        },
        (res) => {
          res.on('data', (c: Buffer) => {
            if (c.toString().includes('"stream":"process-is-up\\n"')) {
              req.destroy()
              resolve()
            }
          })
          res.on('error', () => undefined)
        },
      )
      req.on('error', () => undefined)
      req.end(body)
      setTimeout(() => reject(new Error('the build never started its step')), 60_000).unref()
    })
    // The step's process is killed and its files go; wait for berthd to finish cleaning up.
    const tasks = join(d.dataRoot, 'builder', 'steps')
    for (let i = 0; i < 100 && (await readdir(tasks)).length > 0; i++)
      await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(await readdir(tasks), [])
    assert.deepEqual(await mountsUnder(join(d.dataRoot, 'builder')), [])
    assert.deepEqual(await processesRunning('sleep\u00004321'), [])
  })
})

describe('berth build', () => {
  test('a synced context follows edits, new and removed files and .dockerignore; system df counts it, builder prune drops it', async () => {
    const c = await context('synced', {
      Dockerfile:
        'FROM busybox\nCOPY . /ctx\nCMD ["sh", "-c", "cd /ctx && find . -type f | sort | xargs cat"]\n',
      'a.txt': 'a1\n',
      'd/b.txt': 'b1\n',
      'gone.txt': 'gone\n',
    })
    const build = async () => {
      const b = await berth(['build', '-q', '--network', 'none', '-t', 'synced:1', c], host())
      assert.equal(b.code, 0, b.stderr)
      const r = await docker(['run', '--rm', '--network', 'none', 'synced:1'], host())
      return r.stdout
    }
    const dockerfile = await readFile(join(c, 'Dockerfile'), 'utf8')
    assert.equal(await build(), `${dockerfile}a1\nb1\ngone\n`)
    // An edit of the same size, a new file, a removed one, and one now ignored.
    await writeFile(join(c, 'a.txt'), 'a2\n')
    await writeFile(join(c, 'd/new.txt'), 'new\n')
    await rm(join(c, 'gone.txt'))
    await writeFile(join(c, '.dockerignore'), 'd/b.txt\n')
    const out = await build()
    assert.ok(out.includes('a2\n') && out.includes('new\n'), out)
    assert.ok(!out.includes('a1') && !out.includes('gone') && !out.includes('b1'), out)
    // The docker CLI sends the whole tar and gets the same image.
    const viaDocker = await docker(['build', '-q', '--network', 'none', c], host())
    const viaBerth = await berth(['build', '-q', '--network', 'none', c], host())
    assert.equal(viaDocker.stdout.trim(), viaBerth.stdout.trim())

    const kept = join(d.dataRoot, 'builder', 'contexts')
    assert.equal((await readdir(kept)).length, 1)
    // system df counts the kept context as BuildKit counts a build's local source.
    const df = await apiRequest(d, 'GET', '/system/df?type=build-cache')
    type Row = { Type: string; Description: string; Size: number; InUse: boolean }
    const local = (JSON.parse(df.body) as { BuildCache: Row[] }).BuildCache.filter(
      (r) => r.Type === 'source.local',
    )
    assert.equal(local.length, 1, df.body)
    assert.equal(local[0]!.Description, 'local source for context')
    assert.equal(local[0]!.InUse, false)
    // Its files: the Dockerfile, a.txt, d/new.txt and .dockerignore (d/b.txt is left out).
    const files = [dockerfile, 'a2\n', 'new\n', 'd/b.txt\n']
    assert.equal(
      local[0]!.Size,
      files.reduce((n, f) => n + Buffer.byteLength(f), 0),
    )
    const v = await docker(['system', 'df', '-v'], host())
    assert.match(v.stdout, /source\.local/)
    // builder prune, even without -a, removes it: no image shares a context.
    const pruned = await docker(['builder', 'prune', '-f'], host())
    assert.equal(pruned.code, 0, pruned.stderr)
    assert.deepEqual(await readdir(kept), [])
  })

  test('an unchanged rebuild is one request; a changed file (even of the same size with its mtime put back), mode, Dockerfile or .dockerignore syncs and reruns the steps after it', async () => {
    const c = await context('unchanged', {
      Dockerfile:
        'FROM busybox\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nCMD ["sh", "-c", "cat /a.txt /b.txt; stat -c %a /b.txt"]\n',
      'a.txt': 'aaaa\n',
      'b.txt': 'bbbb\n',
    })
    // How many times berth asked the daemon what it needs (a sync) since the start.
    const syncs = async () =>
      (await readFile(d.logPath, 'utf8')).split('/berth/v1/build/context"').length - 1
    const build = async () => {
      const before = await syncs()
      const b = await berth(['build', '--progress=plain', '-t', 'unchanged:1', c], host())
      assert.equal(b.code, 0, b.stderr)
      const r = await docker(['run', '--rm', '--network', 'none', 'unchanged:1'], host())
      return { synced: (await syncs()) > before, log: b.stderr, out: r.stdout }
    }
    const cached = (log: string, step: string) =>
      new RegExp(`#\\d+ \\[\\d/4\\] ${step}\n#\\d+ CACHED\n`).test(log)
    const first = await build()
    assert.equal(first.out, 'aaaa\nbbbb\n644\n')
    assert.equal(first.synced, true)
    const same = await build()
    assert.equal(same.synced, false, 'an unchanged context is not synced again')
    assert.ok(
      cached(same.log, 'COPY a.txt /a.txt') && cached(same.log, 'COPY b.txt /b.txt'),
      same.log,
    )

    // Other content of the same size, its mtime put back: the inode's change time differs, so
    // it is sent and COPY b.txt reruns (BuildKit, in docker 20.10, also takes the new content).
    const bt = join(c, 'b.txt')
    const st = await stat(bt)
    await writeFile(bt, 'BBBB\n')
    await utimes(bt, st.atime, st.mtime)
    const edited = await build()
    assert.equal(edited.synced, true)
    assert.equal(edited.out, 'aaaa\nBBBB\n644\n')
    assert.ok(cached(edited.log, 'COPY a.txt /a.txt'), edited.log)
    assert.ok(!cached(edited.log, 'COPY b.txt /b.txt'), edited.log)

    // A mode alone.
    await chmod(bt, 0o600)
    const moded = await build()
    assert.equal(moded.synced, true)
    assert.equal(moded.out, 'aaaa\nBBBB\n600\n')

    // .dockerignore leaving b.txt out: COPY b.txt fails as it must.
    await writeFile(join(c, '.dockerignore'), 'b.txt\n')
    const ignored = await berth(['build', '-q', '-t', 'unchanged:1', c], host())
    assert.notEqual(ignored.code, 0)
    assert.match(ignored.stderr, /b\.txt/)
    await rm(join(c, '.dockerignore'))

    // The Dockerfile: the steps from the changed one on.
    await writeFile(
      join(c, 'Dockerfile'),
      'FROM busybox\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nCMD ["cat", "/b.txt"]\n',
    )
    const df = await build()
    assert.equal(df.synced, true)
    assert.equal(df.out, 'BBBB\n')
    assert.ok(cached(df.log, 'COPY b.txt /b.txt'), df.log)
    assert.equal((await build()).synced, false)
  })

  test('plain progress, and the image runs', async () => {
    const c = await context('berth', {
      Dockerfile: 'FROM busybox\nCOPY hello.txt /\nRUN cat /hello.txt\nCMD ["cat", "/hello.txt"]\n',
      'hello.txt': 'hello from berth build\n',
    })
    const b = await berth(['build', '--progress=plain', '-t', 'berthbuilt:1', c], host())
    assert.equal(b.code, 0, b.stderr)
    assert.match(
      b.stderr,
      /#3 \[3\/4\] RUN cat \/hello.txt\n#3 +[0-9.]+ hello from berth build\n#3 DONE [0-9.]+s\n/,
    )
    assert.match(b.stderr, /naming to berthbuilt:1 done/)
    const r = await docker(['run', '--rm', 'berthbuilt:1'], host())
    assert.equal(r.stdout, 'hello from berth build\n')
  })

  test('a Dockerfile on stdin and a failing step', async () => {
    const c = await context('berthfail', { 'x.txt': 'x' })
    const b = await berth(['build', '--progress=plain', '-f', '-', c], {
      ...host(),
      input: 'FROM busybox\nRUN echo last words; exit 2\n',
    })
    assert.equal(b.code, 1)
    assert.match(b.stderr, /------\n > \[2\/2\] RUN echo last words; exit 2:\nlast words\n------\n/)
    assert.match(
      b.stderr,
      /ERROR: failed to solve: process "\/bin\/sh -c echo last words; exit 2" did not complete successfully: exit code: 2/,
    )
  })
})

describe('the build cache across a daemon restart', () => {
  test('a build after berthd restarts uses the cache, even with the image gone', async () => {
    const c = await context('restart', {
      Dockerfile: 'FROM busybox\nCOPY f.txt /\nRUN cat /f.txt > /g.txt\n',
      'f.txt': 'kept\n',
    })
    assert.equal((await docker(['build', '-t', 'restart:1', c], host())).code, 0)
    assert.equal((await docker(['rmi', 'restart:1'], host())).code, 0)
    // Start-up collects what no image holds: the cache's layers must not be among it.
    await d.restart()
    const b = await docker(['build', '-t', 'restart:1', c], host())
    assert.equal(b.code, 0, b.stderr)
    assert.match(b.stdout, /RUN cat \/f.txt > \/g.txt\n ---> Using cache\n/)
    const r = await docker(['run', '--rm', 'restart:1', 'cat', '/g.txt'], host())
    assert.equal(r.stdout, 'kept\n')
  })
})
