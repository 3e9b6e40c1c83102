// Synced build contexts: what the daemon asks for, what a partial tar leaves, and the refusals.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, test } from 'node:test'
import tar from 'tar-stream'
import { Conflict } from '../errors.ts'
import { ContextStore } from './context-store.ts'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function store(): Promise<ContextStore> {
  const d = await mkdtemp(join(tmpdir(), 'ctxstore-'))
  dirs.push(d)
  return new ContextStore(d)
}

function tarOf(files: Record<string, string>): Readable {
  const pack = tar.pack()
  for (const [name, body] of Object.entries(files))
    if (name.endsWith('/')) pack.entry({ name, type: 'directory', mode: 0o755 })
    else pack.entry({ name, mode: 0o644 }, body)
  pack.finalize()
  return Readable.from(pack)
}

const KEY = 'a'.repeat(32)

test('the first build needs everything; an unchanged one nothing; a changed stat that file only', async () => {
  const s = await store()
  const listing = { src: 'd:1', 'src/a.js': 'f:1', 'src/b.js': 'f:1', Dockerfile: 'f:1' }
  assert.deepEqual((await s.needs(KEY, listing)).sort(), Object.keys(listing).sort())
  const first = await s.open(
    KEY,
    listing,
    tarOf({ 'src/': '', 'src/a.js': 'a', 'src/b.js': 'b', Dockerfile: 'FROM x' }),
  )
  const digest = first.ctx.digest('src')
  first.release()
  assert.deepEqual(await s.needs(KEY, listing), [])

  // b.js changed and c.js came; a.js is not sent again; the Dockerfile went.
  const next = { src: 'd:1', 'src/a.js': 'f:1', 'src/b.js': 'f:2', 'src/c.js': 'f:1' }
  assert.deepEqual((await s.needs(KEY, next)).sort(), ['src/b.js', 'src/c.js'])
  const second = await s.open(KEY, next, tarOf({ 'src/b.js': 'B', 'src/c.js': 'c' }))
  assert.equal(await readFile(join(second.ctx.root, 'src/a.js'), 'utf8'), 'a')
  assert.equal(await readFile(join(second.ctx.root, 'src/b.js'), 'utf8'), 'B')
  assert.equal(second.ctx.entry('Dockerfile'), undefined)
  // The content hash is the daemon's own: another content, another digest.
  assert.notEqual(second.ctx.digest('src'), digest)
  second.release()

  // The same content under another stat hashes the same: keys never hold times.
  const again = await s.open(
    KEY,
    { src: 'd:1', 'src/a.js': 'f:9', 'src/b.js': 'f:9', 'src/c.js': 'f:9' },
    tarOf({ 'src/a.js': 'a', 'src/b.js': 'B', 'src/c.js': 'c' }),
  )
  assert.equal(again.ctx.digest('src'), second.ctx.digest('src'))
  again.release()
})

test('a path not sent whose stat the daemon does not have is a 409; the next build sends all', async () => {
  const s = await store()
  await assert.rejects(
    s.open(KEY, { 'a.txt': 'f:1' }, tarOf({})),
    (e: unknown) => e instanceof Conflict && /a\.txt changed/.test((e as Error).message),
  )
  assert.deepEqual(await s.needs(KEY, { 'a.txt': 'f:1' }), ['a.txt'])
  const ok = await s.open(KEY, { 'a.txt': 'f:1' }, tarOf({ 'a.txt': 'x' }))
  ok.release()
})

test('builds of one context wait for each other; keys are checked', async () => {
  const s = await store()
  const first = await s.open(KEY, { a: 'f:1' }, tarOf({ a: '1' }))
  let second = false
  const waiting = s.open(KEY, { a: 'f:1' }, tarOf({})).then((o) => {
    second = true
    return o
  })
  await new Promise((r) => setImmediate(r))
  assert.equal(second, false)
  first.release()
  ;(await waiting).release()
  await assert.rejects(s.needs('../x', {}), /invalid build context key/)
})

test('list counts each kept context (size, uses, held or not); remove leaves a held one alone', async () => {
  const s = await store()
  const first = await s.open(
    KEY,
    { a: 'f:1', d: 'd:1', 'd/b': 'f:1' },
    tarOf({ a: '12', 'd/': '', 'd/b': '345' }),
  )
  const [held] = await s.list()
  assert.deepEqual([held!.key, held!.inUse], [KEY, true])
  assert.equal(await s.remove(KEY), false)
  first.release()
  ;(await s.open(KEY, { a: 'f:1', d: 'd:1', 'd/b': 'f:1' }, tarOf({}))).release()
  const [free] = await s.list()
  assert.deepEqual([free!.size, free!.usageCount, free!.inUse], [5, 2, false])
  assert.ok(Date.parse(free!.lastUsedAt) >= Date.parse(free!.createdAt))
  assert.equal(await s.remove(KEY), true)
  assert.deepEqual(await s.list(), [])
  assert.deepEqual(await s.needs(KEY, { a: 'f:1' }), ['a'])
})
