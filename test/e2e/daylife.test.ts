// Bugs a Docker user met in a day of data-science work (the Docker tutorial's steps) with the
// stock docker CLI, each checked against what Debian's dockerd answered for the same commands.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import {
  docker,
  dockerOk,
  importBusybox,
  mountsUnder,
  startBerthd,
  type Berthd,
} from './harness.ts'

let b: Berthd
let tmp: string

before(async () => {
  tmp = await mkdtemp('/tmp/berth-e2e-day-')
  b = await startBerthd()
  await importBusybox(b)
})

after(async () => {
  await b?.stop()
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

function ok(args: string[]): Promise<string> {
  return dockerOk(args, { host: b })
}

test('cp reaches the volumes and binds mounted into a container, running or stopped', async () => {
  const file = join(tmp, 'data.csv')
  await writeFile(file, 'a,b\n')
  const ro = join(tmp, 'ro')
  await mkdir(ro)
  await writeFile(join(ro, 'in.txt'), 'ro\n')
  await ok([
    'run',
    '-d',
    '--name',
    'ds',
    '-v',
    'work:/work',
    '-v',
    `${ro}:/in:ro`,
    'busybox',
    'sleep',
    '1000',
  ])
  await ok(['cp', file, 'ds:/work/'])
  // The container sees the file in its volume, not hidden under it in the rootfs.
  assert.equal(await ok(['exec', 'ds', 'cat', '/work/data.csv']), 'a,b\n')
  const out = join(tmp, 'out')
  await mkdir(out)
  await ok(['cp', 'ds:/in/in.txt', join(out, 'in.txt')])
  // What came out is the bind's file, not something from the rootfs under it.
  assert.equal(await readFile(join(out, 'in.txt'), 'utf8'), 'ro\n')
  const r = await docker(['cp', file, 'ds:/in/'], { host: b })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /Error response from daemon: mounted volume is marked read-only/)

  await ok(['stop', '-t', '0', 'ds'])
  await ok(['cp', join(ro, 'in.txt'), 'ds:/work/second.txt'])
  await ok(['cp', 'ds:/work/data.csv', join(out, 'data.csv')])
  // From the volume of a stopped container: the file copied in while it ran.
  assert.equal(await readFile(join(out, 'data.csv'), 'utf8'), 'a,b\n')
  await ok(['start', 'ds'])
  assert.equal(await ok(['exec', 'ds', 'cat', '/work/second.txt']), 'ro\n')
  // Nothing landed in the rootfs under the volume (commit would have kept it).
  assert.deepEqual(await ok(['diff', 'ds']).then((s) => s.includes('data.csv')), false)
  await ok(['rm', '-f', 'ds'])
  // Only the mounts of still-running containers remain: none.
  assert.deepEqual(await mountsUnder(b.dataRoot), [])
})

test('ps shows the image ID once the name a container was made from is gone', async () => {
  await ok(['tag', 'busybox', 'gone:1'])
  const id = (await ok(['images', '-q', 'gone:1'])).trim()
  await ok(['create', '--name', 'orphan', 'gone:1', 'true'])
  const fmt = ['ps', '-a', '--filter', 'name=orphan', '--format', '{{.Image}}']
  assert.equal((await ok(fmt)).trim(), 'gone:1')
  await ok(['rmi', 'gone:1'])
  // Docker shows the short ID; the old name would point at nothing (or at another image).
  assert.equal((await ok(fmt)).trim(), id)
  await ok(['rm', 'orphan'])
})
