// The builder end to end, in process, with real stores, overlayfs and runc: the cache (what reuses
// a step and what does not), reproducibility across data roots, parallel stages, failures and
// cancellation leaving nothing behind.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { lstat, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import tar from 'tar-stream'
import { NotFound } from '../errors.ts'
import { readMountInfo } from '../layer/mount.ts'
import { describeTree } from '../layer/testkit.ts'
import { formatPlatform, hostPlatform } from './plan.ts'
import { listImage, tarDir, testEngine, type TestEngine } from './testkit.ts'
import type { BuildEvent } from './types.ts'

async function contextDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bb-ctx-'))
  for (const [name, body] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true })
    await writeFile(join(dir, name), body)
  }
  return dir
}

/** What `fn` gives, and how many read-write layers it made (one per step that makes its layer). */
async function countingRW<T>(
  engine: TestEngine,
  fn: () => Promise<T>,
): Promise<{ n: number; out: T }> {
  const createRW = engine.layers.createRW.bind(engine.layers)
  let n = 0
  engine.layers.createRW = (...args) => {
    n++
    return createRW(...args)
  }
  try {
    const out = await fn()
    return { n, out }
  } finally {
    engine.layers.createRW = createRW
  }
}

/** Which steps (by instruction text) came from the cache, and how many processes ran. */
function summary(events: BuildEvent[]): { cached: string[]; built: string[]; runs: number } {
  const plan = events.find((e) => e.type === 'plan')
  const steps = plan?.type === 'plan' ? plan.steps : []
  const cached: string[] = []
  const built: string[] = []
  for (const e of events) {
    if (e.type !== 'done' || !steps[e.step]!.heavy) continue
    ;(e.cached ? cached : built).push(steps[e.step]!.text)
  }
  return { cached, built, runs: events.filter((e) => e.type === 'running').length }
}

async function leftovers(engine: TestEngine): Promise<string[]> {
  const out: string[] = []
  for (const id of await engine.layers.listRW()) out.push(`rw layer ${id}`)
  for (const m of await readMountInfo())
    if (m.mountPoint.startsWith(engine.dir)) out.push(`mount ${m.mountPoint}`)
  for (const d of ['tmp', 'mnt', 'steps']) {
    for (const n of await readdir(join(engine.dir, 'builder', d)).catch(() => []))
      out.push(`${d}/${n}`)
  }
  // A step's process runs under conmon: no runtime state may outlive it.
  for (const id of await engine.runtime.knownIds()) out.push(`runtime state ${id}`)
  return out
}

describe('builder', { concurrency: false }, () => {
  let engine: TestEngine
  before(async () => {
    engine = await testEngine()
  })
  after(async () => {
    await engine.close()
  })

  test('an unchanged rebuild reuses every step and starts no process', async () => {
    const dir = await contextDir({
      Dockerfile:
        'FROM busybox\nCOPY a.txt /a\nRUN cat /a > /b\nCOPY b.txt /c\nCMD ["cat", "/c"]\n',
      'a.txt': 'a',
      'b.txt': 'b',
    })
    const first = await engine.build(await tarDir(dir))
    assert.deepEqual(summary(first.events).cached, [])
    const runs = engine.taskRuns()
    const second = await engine.build(await tarDir(dir))
    assert.equal(second.result.imageId, first.result.imageId)
    const s = summary(second.events)
    assert.deepEqual(s.built, [])
    assert.equal(s.runs, 0)
    // The task runner itself started nothing.
    assert.equal(engine.taskRuns(), runs)
    await rm(dir, { recursive: true })
  })

  test('changing a file rebuilds from the first step that uses it; times alone change nothing', async () => {
    const dir = await contextDir({
      Dockerfile: 'FROM busybox\nCOPY a.txt /a\nRUN cat /a > /b\nCOPY b.txt /c\n',
      'a.txt': 'a',
      'b.txt': 'b',
    })
    const first = await engine.build(await tarDir(dir))
    await utimes(join(dir, 'a.txt'), new Date(2000, 1, 1), new Date(2000, 1, 1))
    const touched = await engine.build(await tarDir(dir))
    assert.deepEqual(summary(touched.events).built, [])
    assert.equal(touched.result.imageId, first.result.imageId)

    await writeFile(join(dir, 'b.txt'), 'B')
    const lastChanged = summary((await engine.build(await tarDir(dir))).events)
    assert.deepEqual(lastChanged.built, ['COPY b.txt /c'])
    assert.deepEqual(lastChanged.cached, ['COPY a.txt /a', 'RUN cat /a > /b'])

    await writeFile(join(dir, 'a.txt'), 'A')
    const firstChanged = summary((await engine.build(await tarDir(dir))).events)
    assert.deepEqual(firstChanged.built, ['COPY a.txt /a', 'RUN cat /a > /b', 'COPY b.txt /c'])
    await rm(dir, { recursive: true })
  })

  test('COPY from the kept context: later edits of it and --chmod/--chown never reach the image or the context', async () => {
    const dir = await contextDir({
      Dockerfile:
        'FROM busybox\nRUN echo old > /a && mkdir /src && echo keep > /src/keep\nCOPY a.txt /a\nCOPY --chmod=600 a.txt /a600\nCOPY --chown=7:8 a.txt /a78\nCOPY src /src\n',
      'a.txt': 'a',
      'src/m/b.js': 'b',
    })
    const key = 'c'.repeat(32)
    const listing = (v: string) => ({
      Dockerfile: 'f:1',
      'a.txt': `f:${v}`,
      src: 'd:1',
      'src/m': 'd:1',
      'src/m/b.js': 'f:1',
    })
    const kept = join(engine.dir, 'builder', 'contexts', key, 'files', 'a.txt')
    const sha = (body: string) => createHash('sha256').update(body).digest('hex')
    const layersOf = async (id: string) =>
      (await engine.images.resolve(id)).layers.map((l) => ({
        diffID: l.diffID,
        blob: l.blob,
        mediaType: l.mediaType,
        size: l.blobSize,
      }))
    const first = await engine.build(await tarDir(dir), {
      syncedContext: { key, listing: listing('1') },
    })
    const st = await lstat(kept)
    const files = await listImage(engine, await layersOf(first.result.imageId))

    assert.deepEqual(
      ['/a', '/a600', '/a78', '/src/keep', '/src/m/b.js'].map((p) => {
        const f = files.get(p)!
        return [p, f.mode, f.uid, f.gid, f.sha256]
      }),
      [
        ['/a', '0644', 0, 0, sha('a')],
        ['/a600', '0600', 0, 0, sha('a')],
        ['/a78', '0644', 7, 8, sha('a')],
        // /a replaced the RUN layer's file (its whiteout made way for the link); /src merged into its directory.
        ['/src/keep', '0644', 0, 0, sha('keep\n')],
        ['/src/m/b.js', '0644', 0, 0, sha('b')],
      ],
    )
    // --chmod and --chown changed the image's files, not the context's; no link outlived the build.
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid, st.nlink], [0o644, 0, 0, 1])

    // A write into the kept file itself, in place, does not reach the image built from it.
    await writeFile(kept, 'changed in place')
    assert.equal(
      (await listImage(engine, await layersOf(first.result.imageId))).get('/a')!.sha256,
      sha('a'),
    )

    // Nor does the next build's new version, which only the new image holds.
    await writeFile(join(dir, 'a.txt'), 'a2')
    const second = await engine.build(await tarDir(dir), {
      syncedContext: { key, listing: listing('2') },
    })
    assert.equal(
      (await listImage(engine, await layersOf(second.result.imageId))).get('/a')!.sha256,
      sha('a2'),
    )
    assert.equal(
      (await listImage(engine, await layersOf(first.result.imageId))).get('/a')!.sha256,
      sha('a'),
    )
    assert.deepEqual(await leftovers(engine), [])
    await rm(dir, { recursive: true })
  })

  test('a build arg busts the cache only of the steps that use it', async () => {
    const dir = await contextDir({
      Dockerfile: 'FROM busybox\nRUN echo one > /one\nARG V=1\nRUN echo $V > /v\n',
    })
    await engine.build(await tarDir(dir), { buildArgs: { V: '1' } })
    const other = summary((await engine.build(await tarDir(dir), { buildArgs: { V: '2' } })).events)
    assert.deepEqual(other.cached, ['RUN echo one > /one'])
    assert.deepEqual(other.built, ['RUN echo $V > /v'])
    await rm(dir, { recursive: true })
  })

  test('--no-cache runs every step and gives the same image', async () => {
    const dir = await contextDir({
      Dockerfile: 'FROM busybox\nCOPY f /f\nRUN echo x > /x && touch /y\n',
      f: 'f',
    })
    const first = await engine.build(await tarDir(dir))
    const again = await engine.build(await tarDir(dir), { noCache: true })
    assert.equal(summary(again.events).runs, 1)
    assert.equal(again.result.imageId, first.result.imageId)
    await rm(dir, { recursive: true })
  })

  test('--no-cache takes a COPY layer the store holds, and makes one it lost or one with hard links', async () => {
    // Read-write layers each --no-cache build makes (one per step that makes its layer).
    const made = async (context: () => Promise<Readable>) => {
      const { n, out } = await countingRW(engine, async () =>
        engine.build(await context(), { noCache: true }),
      )
      return { n, id: out.result.imageId }
    }
    const dir = await contextDir({
      Dockerfile:
        'FROM busybox AS a\nRUN echo a > /a\nFROM busybox\nCOPY src/ /src/\nCOPY --from=a /a /b\n',
      'src/one': '1',
      'src/two/three': '3',
    })
    try {
      const first = await made(() => tarDir(dir))
      const again = await made(() => tarDir(dir))
      assert.equal(again.id, first.id)
      // The RUN's snapshot only: both COPY layers were held.
      assert.equal(again.n, 1)
      const img = await engine.images.resolve(again.id)
      // A record whose layer is gone is not trusted: the layer is made again, the same.
      await engine.layers.delete(img.layers[1]!.diffID)
      const lost = await made(() => tarDir(dir))
      assert.equal(lost.id, first.id)
      assert.equal(lost.n, 2)
      assert.equal(await engine.layers.has(img.layers[1]!.diffID), true)
      // Hard links of the context are kept by the copy and not in its key: always made.
      const linked = async () => {
        const pack = tar.pack()
        pack.entry({ name: 'Dockerfile' }, 'FROM busybox\nCOPY . /ctx/\n')
        pack.entry({ name: 'a' }, 'same')
        pack.entry({ name: 'b', type: 'link', linkname: 'a' })
        pack.finalize()
        return Readable.from(pack)
      }
      const l1 = await made(linked)
      const l2 = await made(linked)
      assert.equal(l2.id, l1.id)
      assert.equal(l2.n, 1)
    } finally {
      await rm(dir, { recursive: true })
    }
  })

  test('--no-cache makes a WORKDIR two stages share once, and runs each RUN', async () => {
    // Read-write layers the build makes, with stage two's WORKDIR the same as stage one's or not.
    const made = async (workdir: string) => {
      const dir = await contextDir({
        Dockerfile: `FROM busybox AS a\nWORKDIR /app\nRUN echo a > /app/a\nFROM busybox\nWORKDIR ${workdir}\nRUN echo b > c\nCOPY --from=a /app/a ${workdir}/b\n`,
      })
      try {
        const { n, out: r } = await countingRW(engine, async () =>
          engine.build(await tarDir(dir), { noCache: true }),
        )
        assert.equal(summary(r.events).runs, 2)
        const image = await engine.images.resolve(r.result.imageId)
        const files = await listImage(
          engine,
          image.layers.map((l) => ({
            diffID: l.diffID,
            blob: l.blob,
            mediaType: l.mediaType,
            size: l.blobSize,
          })),
        )
        assert.equal(files.get(`${workdir}/b`)?.size, 2)
        assert.equal(files.get(`${workdir}`)?.type, 'dir')
        return n
      } finally {
        await rm(dir, { recursive: true })
      }
    }
    assert.equal(await made('/app'), (await made('/srv')) - 1)
  })

  test('the same build in another data root gives the same image ID', async () => {
    const dir = await contextDir({
      Dockerfile:
        'FROM busybox AS build\nRUN mkdir /out && echo built > /out/x && ln -s x /out/l\nFROM busybox\nCOPY --from=build /out /app\nCOPY f /app/f\nWORKDIR /app\nRUN rm /etc/group\n',
      f: 'f',
    })
    const other = await testEngine({ baseFrom: engine })
    try {
      const a = await engine.build(await tarDir(dir), { noCache: true })
      const b = await other.build(await tarDir(dir))
      assert.equal(b.result.imageId, a.result.imageId)
      const img = await engine.images.resolve(a.result.imageId)
      assert.equal(img.config.created, '1970-01-01T00:00:00Z')
      const epoch = await engine.build(await tarDir(dir), {
        buildArgs: { SOURCE_DATE_EPOCH: '1700000000' },
      })
      assert.equal(
        (await engine.images.resolve(epoch.result.imageId)).config.created,
        '2023-11-14T22:13:20Z',
      )
      // The steps cached under epoch 0 hold layers with other times: none is reused.
      const fresh = await other.build(await tarDir(dir), {
        noCache: true,
        buildArgs: { SOURCE_DATE_EPOCH: '1700000000' },
      })
      assert.equal(epoch.result.imageId, fresh.result.imageId)
    } finally {
      await other.close()
      await rm(dir, { recursive: true })
    }
  })

  test('adopted step directories give the image and the layers an unpack of the tars gives', async () => {
    // Whiteouts, an opaque directory, a renamed directory, a chmod, hard links (in the layer and
    // from the context), symlinks, a fifo, and a step over the adopted layers.
    const dir = await contextDir({
      Dockerfile: [
        'FROM busybox',
        'COPY . /ctx/',
        'RUN rm /etc/group && rm -r /ctx/sub && mkdir /ctx/sub && echo new > /ctx/sub/n && ' +
          'mv /ctx/dir /ctx/moved && chmod 700 /bin && ln /ctx/a /ctx/a2 && ln -s a /ctx/s && ' +
          'mkfifo /ctx/fifo',
        'RUN echo more >> /ctx/a && touch /ctx/moved/t',
        '',
      ].join('\n'),
      a: 'a',
      'sub/old': 'old',
      'dir/f': 'f',
    })
    const plain = await testEngine({ baseFrom: engine, adoption: false })
    try {
      const a = await engine.build(await tarDir(dir), { noCache: true })
      const b = await plain.build(await tarDir(dir), { noCache: true })
      assert.equal(a.result.imageId, b.result.imageId)
      const img = await engine.images.resolve(a.result.imageId)
      assert.equal(img.layers.length, 4)
      for (const l of img.layers) {
        const h = l.diffID.slice('sha256:'.length)
        const got = await describeTree(join(engine.dir, 'layers', 'sha256', h, 'diff'))
        const want = await describeTree(join(plain.dir, 'layers', 'sha256', h, 'diff'))
        assert.deepEqual(Object.fromEntries(got), Object.fromEntries(want), l.diffID)
        assert.deepEqual(await engine.layers.info(l.diffID), await plain.layers.info(l.diffID))
      }
      const ctx = img.layers[1]!.diffID.slice('sha256:'.length)
      const a1 = await lstat(join(engine.dir, 'layers', 'sha256', ctx, 'diff', 'ctx', 'a'))
      assert.equal(a1.mtimeMs, 0, 'times are the tar clamped ones')
      assert.equal(a1.nlink, 1, 'no inode shared with the kept context')
      assert.deepEqual(await leftovers(engine), [])
    } finally {
      await plain.close()
      await rm(dir, { recursive: true })
    }
  })

  test('the temp directory a sent context is written to spreads its trees over ext4 groups', async () => {
    const flags = (p: string) => execFileSync('lsattr', ['-d', p], { encoding: 'utf8' })
    const probe = await mkdtemp(join(engine.dir, 'probe-'))
    let supported = true
    try {
      execFileSync('chattr', ['+T', probe], { stdio: 'ignore' })
    } catch {
      supported = false
    } finally {
      await rm(probe, { recursive: true })
    }
    assert.equal(/^\S*T/.test(flags(join(engine.dir, 'builder', 'tmp'))), supported)
  })

  test('a later stage making a layer the store holds keeps the first one and leaves nothing', async () => {
    // Both stages copy the same files onto the same base: one layer, made once, unchanged by the
    // second stage's step (its directory is released, never prepared or adopted).
    const dir = await contextDir({
      Dockerfile: 'FROM busybox AS one\nCOPY src/ /src/\nFROM busybox\nCOPY src/ /src/\n',
      'src/a': 'a',
      'src/d/b': 'b',
    })
    try {
      const r = await engine.build(await tarDir(dir), { noCache: true, target: 'one' })
      const first = await engine.images.resolve(r.result.imageId)
      const h = first.layers.at(-1)!.diffID.slice('sha256:'.length)
      const file = join(engine.dir, 'layers', 'sha256', h, 'diff', 'src', 'd', 'b')
      const before = await lstat(file)
      const both = await engine.build(await tarDir(dir), { noCache: true })
      const img = await engine.images.resolve(both.result.imageId)
      assert.equal(img.layers.at(-1)!.diffID, first.layers.at(-1)!.diffID)
      const after = await lstat(file)
      assert.equal(after.ino, before.ino, 'the stored layer is the one made first')
      assert.equal(after.mtimeMs, 0, 'times are the tar clamped ones')
      assert.deepEqual(await leftovers(engine), [])
    } finally {
      await rm(dir, { recursive: true })
    }
  })

  test('independent stages run at the same time', async () => {
    // Each stage waits for the other's mark in a shared cache mount: only concurrent stages finish.
    const wait = (me: string, other: string) =>
      `RUN --mount=type=cache,target=/sync,id=sync-${process.pid} touch /sync/${me} && i=0; while [ ! -e /sync/${other} ]; do i=$((i+1)); [ $i -gt 300 ] && exit 9; sleep 0.1; done; rm -f /sync/${other}`
    const dir = await contextDir({
      Dockerfile: `FROM busybox AS left\n${wait('l', 'r')}\nRUN echo l > /l\nFROM busybox AS right\n${wait('r', 'l')}\nRUN echo r > /r\nFROM busybox\nCOPY --from=left /l /l\nCOPY --from=right /r /r\n`,
    })
    const r = await engine.build(await tarDir(dir), { noCache: true })
    const img = await engine.images.resolve(r.result.imageId)
    const files = await listImage(
      engine,
      img.layers.map((l) => ({
        diffID: l.diffID,
        blob: l.blob,
        mediaType: l.mediaType,
        size: l.blobSize,
      })),
    )
    assert.ok(files.has('/l') && files.has('/r'))
    await rm(dir, { recursive: true })
  })

  test('a cache mount keeps its files between builds and out of the image', async () => {
    const id = `keep-${process.pid}`
    const one = await contextDir({
      Dockerfile: `FROM busybox\nRUN --mount=type=cache,target=/c,id=${id} echo kept > /c/file\n`,
    })
    const two = await contextDir({
      Dockerfile: `FROM busybox\nRUN --mount=type=cache,target=/c,id=${id} cat /c/file > /seen\n`,
    })
    await engine.build(await tarDir(one))
    const r = await engine.build(await tarDir(two))
    const img = await engine.images.resolve(r.result.imageId)
    const files = await listImage(
      engine,
      img.layers.map((l) => ({
        diffID: l.diffID,
        blob: l.blob,
        mediaType: l.mediaType,
        size: l.blobSize,
      })),
    )
    assert.equal(files.get('/seen')?.size, 5)
    assert.equal(files.has('/c'), false)
    const seeded = await contextDir({
      Dockerfile: `FROM busybox\nRUN --mount=type=cache,target=/c,id=seed-${process.pid},from=busybox,source=/etc cat /c/group > /group\n`,
    })
    const g = await engine.build(await tarDir(seeded))
    const gimg = await engine.images.resolve(g.result.imageId)
    const gfiles = await listImage(
      engine,
      gimg.layers.map((l) => ({
        diffID: l.diffID,
        blob: l.blob,
        mediaType: l.mediaType,
        size: l.blobSize,
      })),
    )
    assert.equal(gfiles.get('/group')?.sha256, files.get('/etc/group')?.sha256)
    await rm(seeded, { recursive: true })
    await rm(one, { recursive: true })
    await rm(two, { recursive: true })
  })

  test('a failed build leaves no image, no moved tag and nothing on disk', async () => {
    const okDir = await contextDir({ Dockerfile: 'FROM busybox\nLABEL v=1\n' })
    const ok = await engine.build(await tarDir(okDir), { tags: ['kept:1'] })
    const before = (await engine.images.list()).length
    const dir = await contextDir({
      Dockerfile: 'FROM busybox\nRUN echo partial > /p\nRUN echo out; echo err >&2; exit 7\n',
    })
    const events: BuildEvent[] = []
    await assert.rejects(
      engine.builder.build(
        await tarDir(dir),
        {
          tags: ['kept:1'],
          buildArgs: {},
          labels: {},
          noCache: true,
          pull: false,
          network: 'none',
          extraHosts: [],
        },
        (e) => events.push(e),
      ),
      (err: Error & { exitCode?: number; outputTail?: string[] }) => {
        assert.equal(
          err.message,
          'process "/bin/sh -c echo out; echo err >&2; exit 7" did not complete successfully: exit code: 7',
        )
        assert.equal(err.exitCode, 7)
        assert.deepEqual(err.outputTail?.sort(), ['err', 'out'])
        return true
      },
    )
    assert.equal((await engine.images.list()).length, before)
    assert.equal((await engine.images.resolve('kept:1')).id, ok.result.imageId)
    assert.deepEqual(await leftovers(engine), [])
    await rm(dir, { recursive: true })
    await rm(okDir, { recursive: true })
  })

  test('aborting the build kills the running step and cleans up', async () => {
    const dir = await contextDir({ Dockerfile: 'FROM busybox\nRUN echo started; sleep 60\n' })
    const ac = new AbortController()
    const runs = engine.taskRuns()
    const started = Date.now()
    const p = engine.builder.build(
      await tarDir(dir),
      {
        tags: [],
        buildArgs: {},
        labels: {},
        noCache: true,
        pull: false,
        network: 'none',
        extraHosts: [],
        signal: ac.signal,
      },
      (e) => {
        // Once the step's process has written: it runs.
        if (e.type === 'output') ac.abort(new Error('client went away'))
      },
    )
    await assert.rejects(p, /client went away/)
    assert.equal(engine.taskRuns(), runs + 1)
    assert.ok(Date.now() - started < 30_000, 'the step was not killed')
    assert.deepEqual(await leftovers(engine), [])
    await rm(dir, { recursive: true })
  })

  test('ADD of a URL, --checksum, --unpack; COPY --parents; --add-host; --label', async () => {
    const payload = 'downloaded\n'
    const server = http.createServer((req, res) => {
      if (req.url === '/files/thing.txt') res.end(payload)
      else {
        res.statusCode = 404
        res.end()
      }
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    const sum = createHash('sha256').update(payload).digest('hex')
    const dir = await contextDir({
      Dockerfile: [
        'FROM busybox',
        `ADD http://127.0.0.1:${port}/files/thing.txt /dl/`,
        `ADD --checksum=sha256:${sum} http://127.0.0.1:${port}/files/thing.txt /checked`,
        'ADD --unpack=false a.tar /packed/',
        'COPY --parents src/*/x.txt /p/',
        'COPY --parents ./src/./one/x.txt /q/',
        'RUN grep myhost /etc/hosts > /hosts',
        '',
      ].join('\n'),
      'src/one/x.txt': '1',
      'src/two/x.txt': '2',
    })
    const pack = tar.pack()
    pack.entry({ name: 'inside' }, 'x')
    pack.finalize()
    const chunks: Buffer[] = []
    for await (const c of pack) chunks.push(c as Buffer)
    await writeFile(join(dir, 'a.tar'), Buffer.concat(chunks))
    try {
      const r = await engine.build(await tarDir(dir), {
        extraHosts: ['myhost:10.1.2.3'],
        labels: { 'org.example': 'yes' },
      })
      const img = await engine.images.resolve(r.result.imageId)
      assert.deepEqual(img.config.config?.Labels, { 'org.example': 'yes' })
      const files = await listImage(
        engine,
        img.layers.map((l) => ({
          diffID: l.diffID,
          blob: l.blob,
          mediaType: l.mediaType,
          size: l.blobSize,
        })),
      )
      assert.equal(files.get('/dl/thing.txt')?.sha256, sum)
      assert.equal(files.get('/dl/thing.txt')?.mode, '0600')
      assert.equal(files.get('/checked')?.sha256, sum)
      assert.equal(files.get('/packed/a.tar')?.type, 'file')
      assert.ok(files.has('/p/src/one/x.txt') && files.has('/p/src/two/x.txt'))
      assert.ok(files.has('/q/one/x.txt'))
      assert.equal(files.get('/hosts')?.size, '10.1.2.3\tmyhost\n'.length)
      const bad = await contextDir({
        Dockerfile: `FROM busybox\nADD --checksum=sha256:${'0'.repeat(64)} http://127.0.0.1:${port}/files/thing.txt /x\n`,
      })
      await assert.rejects(engine.build(await tarDir(bad)), /digest mismatch sha256:0{64}: sha256:/)
      await rm(bad, { recursive: true })
    } finally {
      server.close()
      await rm(dir, { recursive: true })
    }
  })

  test('COPY with and without --parents are two cache entries', async () => {
    const dir = await contextDir({ 'src/one/x.txt': '1' })
    const paths = async (copy: string): Promise<string[]> => {
      await writeFile(join(dir, 'Dockerfile'), `FROM busybox\n${copy}\n`)
      const r = await engine.build(await tarDir(dir))
      const img = await engine.images.resolve(r.result.imageId)
      const files = await listImage(
        engine,
        img.layers.slice(-1).map((l) => ({
          diffID: l.diffID,
          blob: l.blob,
          mediaType: l.mediaType,
          size: l.blobSize,
        })),
      )
      return [...files.keys()].filter((p) => p.startsWith('/p/')).sort()
    }
    try {
      assert.deepEqual(await paths('COPY --parents src/one/x.txt /p/'), [
        '/p/src',
        '/p/src/one',
        '/p/src/one/x.txt',
      ])
      assert.deepEqual(await paths('COPY src/one/x.txt /p/'), ['/p/x.txt'])
    } finally {
      await rm(dir, { recursive: true })
    }
  })

  test("FROM an image that is not here: Docker's words, or the puller hook fetches it", async () => {
    const dir = await contextDir({ Dockerfile: 'FROM nosuchimage:1\nRUN true\n' })
    await assert.rejects(
      engine.build(await tarDir(dir)),
      (err: Error) =>
        err instanceof NotFound &&
        err.message ===
          'No such image: nosuchimage:1: berth cannot pull images yet; load or import it first (docker load, docker import)',
    )
    await assert.rejects(
      engine.build(await tarDir(dir), { pull: true }),
      /--pull needs the registry client/,
    )
    // The hook the registry client plugs into: asked for what is missing, with the platform.
    const asked: string[] = []
    const busybox = (await engine.images.resolve('busybox'))!
    const pulling = await testEngine({
      baseFrom: engine,
      puller: {
        async pull(ref, platform, _signal, progress) {
          asked.push(`${ref} ${platform}`)
          progress('Pulling from library/nosuchimage')
          return {
            id: busybox.id,
            config: busybox.config,
            layers: busybox.layers.map((l) => ({
              diffID: l.diffID,
              blob: l.blob,
              mediaType: l.mediaType,
              size: l.blobSize,
            })),
          }
        },
      },
    })
    try {
      const r = await pulling.build(await tarDir(dir))
      assert.deepEqual(asked, [`nosuchimage:1 ${formatPlatform(hostPlatform())}`])
      assert.ok(r.events.some((e) => e.type === 'pull' && e.ref === 'nosuchimage:1'))
    } finally {
      await pulling.close()
    }
    await rm(dir, { recursive: true })
  })
})

describe("the daemon's shutdown", () => {
  test('close() cancels running builds, returns once they released everything, refuses new ones', async () => {
    const engine = await testEngine()
    const dir = await contextDir({ Dockerfile: 'FROM busybox\nRUN echo started; sleep 60\n' })
    try {
      const opts = {
        tags: [],
        buildArgs: {},
        labels: {},
        noCache: true,
        pull: false,
        network: 'none' as const,
        extraHosts: [],
      }
      let up!: () => void
      const running = new Promise<void>((resolve) => (up = resolve))
      const outcome = engine.builder
        .build(await tarDir(dir), opts, (e) => {
          if (e.type === 'output') up()
        })
        .then(
          () => undefined,
          (err: Error) => err,
        )
      await running
      assert.equal(await engine.builder.close(30_000), true)
      // Released by the time close() answers, not after: the daemon exits right then.
      assert.deepEqual(await leftovers(engine), [])
      const message = 'berthd is shutting down: the build was cancelled'
      assert.equal((await outcome)?.message, message)
      await assert.rejects(
        engine.builder.build(await tarDir(dir), opts, () => undefined),
        { message },
      )
    } finally {
      await engine.close()
      await rm(dir, { recursive: true })
    }
  })
})
