// Synced build contexts: what the daemon asks for, what a partial tar leaves, and the refusals.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, test } from 'node:test'
import tar from 'tar-stream'
import { listingDigest } from '../../lib/build-digest.ts'
import { Conflict, InvalidArgument } from '../errors.ts'
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

test('an unchanged context is opened by its listing digest alone; any other digest is a 409', async () => {
  const s = await store()
  const listing = { Dockerfile: 'f:1', src: 'd:1', 'src/a.js': 'f:1' }
  // Nothing kept yet: refused, and the client syncs.
  await assert.rejects(
    s.openUnchanged(KEY, listingDigest(listing)),
    (e: unknown) => e instanceof Conflict,
  )
  const first = await s.open(
    KEY,
    listing,
    tarOf({ Dockerfile: 'FROM x', 'src/': '', 'src/a.js': 'a' }),
  )
  const digest = first.ctx.digest('src')
  first.release()
  const [before] = await s.list()

  // The same listing, its keys in another order: the same digest; the kept files as they were.
  const same = await s.openUnchanged(
    KEY,
    listingDigest({ 'src/a.js': 'f:1', src: 'd:1', Dockerfile: 'f:1' }),
  )
  assert.equal(same.ctx.digest('src'), digest)
  assert.equal(await readFile(join(same.ctx.root, 'src/a.js'), 'utf8'), 'a')
  same.release()
  const [after] = await s.list()
  assert.equal(after!.usageCount, before!.usageCount + 1)
  assert.ok(Date.parse(after!.lastUsedAt) >= Date.parse(before!.lastUsedAt))

  // One stat key changed (content, mode, owner, size, times or inode), a path more or less: refused.
  for (const other of [
    { ...listing, 'src/a.js': 'f:2' },
    { ...listing, 'src/b.js': 'f:1' },
    { Dockerfile: 'f:1', src: 'd:1' },
  ]) {
    await assert.rejects(
      s.openUnchanged(KEY, listingDigest(other)),
      (e: unknown) => e instanceof Conflict,
    )
  }
  // After a sync to another listing, the old digest is refused and the new one taken.
  const next = { ...listing, 'src/a.js': 'f:2' }
  ;(await s.open(KEY, next, tarOf({ 'src/a.js': 'A' }))).release()
  await assert.rejects(
    s.openUnchanged(KEY, listingDigest(listing)),
    (e: unknown) => e instanceof Conflict,
  )
  const again = await s.openUnchanged(KEY, listingDigest(next))
  assert.equal(await readFile(join(again.ctx.root, 'src/a.js'), 'utf8'), 'A')
  again.release()

  // A state written before digests were kept (an older berthd) is never taken as unchanged.
  const dir = await mkdtemp(join(tmpdir(), 'ctxstore-'))
  dirs.push(dir)
  const old = new ContextStore(dir)
  ;(
    await old.open(KEY, listing, tarOf({ Dockerfile: 'FROM x', 'src/': '', 'src/a.js': 'a' }))
  ).release()
  const statePath = join(dir, KEY, 'state.json')
  const state = JSON.parse(await readFile(statePath, 'utf8')) as Record<string, unknown>
  delete state.digest
  await writeFile(statePath, JSON.stringify(state))
  const fresh = new ContextStore(dir)
  await assert.rejects(
    fresh.openUnchanged(KEY, listingDigest(listing)),
    (e: unknown) => e instanceof Conflict,
  )
})

test('a sync keeps the digest the client sent: the next unchanged build is known by it', async () => {
  const s = await store()
  const listing = { Dockerfile: 'f:1', src: 'd:1', 'src/a.js': 'f:1' }
  const sent = 'ab'.repeat(32)
  ;(
    await s.open(
      KEY,
      listing,
      tarOf({ Dockerfile: 'FROM x', 'src/': '', 'src/a.js': 'a' }),
      undefined,
      sent,
    )
  ).release()
  const same = await s.openUnchanged(KEY, sent)
  assert.equal(await readFile(join(same.ctx.root, 'src/a.js'), 'utf8'), 'a')
  same.release()
  // The listing's own digest is not what the client said it would send: refused.
  await assert.rejects(
    s.openUnchanged(KEY, listingDigest(listing)),
    (e: unknown) => e instanceof Conflict,
  )
  // A sync without one (an older client) keeps the listing's digest again.
  ;(await s.open(KEY, listing, tarOf({}))).release()
  await assert.rejects(s.openUnchanged(KEY, sent), (e: unknown) => e instanceof Conflict)
  ;(await s.openUnchanged(KEY, listingDigest(listing))).release()
  // Not a sha256 in hex: refused before anything is touched.
  await assert.rejects(
    s.open(KEY, listing, tarOf({}), undefined, 'nothex'),
    (e: unknown) => e instanceof InvalidArgument,
  )
  ;(await s.openUnchanged(KEY, listingDigest(listing))).release()
})
