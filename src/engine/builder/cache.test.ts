import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { BuildCache, cacheKey } from './cache.ts'

test('records and cache mounts outlive the process; torn writes are swept', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bb-cache-'))
  try {
    const a = new BuildCache(dir)
    await a.init()
    await a.load()
    const key = cacheKey({ op: 'run', args: ['true'] })
    const layer = {
      diffID: `sha256:${'1'.repeat(64)}`,
      blob: `sha256:${'1'.repeat(64)}`,
      mediaType: 'x',
      size: 3,
    } as const
    await a.put(key, layer, 'RUN true')
    a.touch(key)
    // A hit is written when the build flushes, not before.
    const c = new BuildCache(dir)
    await c.load()
    assert.equal(c.get(key)?.usageCount, 1)
    await a.flush()
    const mdir = await a.mount('/root/.cache', { uid: 1, gid: 2, mode: 0o700 })
    assert.equal((await stat(mdir)).mode & 0o777, 0o700)
    await writeFile(join(dir, 'records', '.tmp-torn'), '{')

    const b = new BuildCache(dir)
    await b.init()
    await b.load()
    assert.deepEqual(b.get(key)?.layer, layer)
    assert.equal(b.get(key)?.usageCount, 2)
    assert.deepEqual(
      b.listMounts().map((m) => [m.id, m.dir]),
      [['/root/.cache', mdir]],
    )
    assert.deepEqual((await readdir(join(dir, 'records'))).sort(), [`${key}.json`])
    await b.dropMount('/root/.cache')
    await assert.rejects(stat(mdir))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
