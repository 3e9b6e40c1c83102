import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { LocalVolumeStore } from '../../engine/volume/local.ts'
import { fakeEngine, request, startTestServer } from '../testing.ts'

test('a volume whose meta.json cannot be read is listed with a warning, and inspect says why', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-api-vol-'))
  try {
    const first = new LocalVolumeStore(dir)
    await first.init()
    await first.create({ name: 'torn' })
    await first.create({ name: 'fine' })
    await writeFile(join(dir, 'torn', 'meta.json'), '{')
    const volumes = new LocalVolumeStore(dir)
    await volumes.init()
    const srv = await startTestServer({ ...fakeEngine(), volumes })
    try {
      const list = await request(srv.socketPath, 'GET', '/volumes')
      assert.equal(list.status, 200)
      const body = list.json<{ Volumes: { Name: string }[]; Warnings: string[] | null }>()
      assert.deepEqual(
        body.Volumes.map((v) => v.Name),
        ['fine', 'torn'],
      )
      assert.equal(body.Warnings?.length, 1)
      assert.match(body.Warnings![0]!, /^volume torn: cannot read .*torn\/meta\.json: /)
      const torn = await request(srv.socketPath, 'GET', '/volumes/torn')
      assert.match(torn.json<{ Status: { Error: string } }>().Status.Error, /cannot read/)
      await volumes.remove('torn')
      const after = await request(srv.socketPath, 'GET', '/volumes')
      assert.equal(after.json<{ Warnings: unknown }>().Warnings, null)
    } finally {
      await srv.close()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('the volume routes over the fake store: create, list, inspect, remove, prune', async () => {
  const engine = fakeEngine()
  const srv = await startTestServer(engine)
  const json = { 'Content-Type': 'application/json' }
  try {
    const c = await request(srv.socketPath, 'POST', '/volumes/create', {
      body: JSON.stringify({ Name: 'web', Labels: { app: 'web' }, DriverOpts: {} }),
      headers: json,
    })
    assert.equal(c.status, 201)
    assert.equal(c.json<{ Mountpoint: string }>().Mountpoint, '/var/lib/berth/volumes/web/_data')
    // Docker's driver options are strings: a number is refused at the boundary.
    const bad = await request(srv.socketPath, 'POST', '/volumes/create', {
      body: JSON.stringify({ Name: 'x1', DriverOpts: { type: 1 } }),
      headers: json,
    })
    assert.equal(bad.status, 400)
    assert.match(
      bad.json<{ message: string }>().message,
      /CreateOptions\.DriverOpts of type string/,
    )
    await engine.volumes.create({})
    const list = await request(srv.socketPath, 'GET', '/volumes?filters={"label":["app=web"]}')
    assert.deepEqual(
      list.json<{ Volumes: { Name: string }[] }>().Volumes.map((v) => v.Name),
      ['web'],
    )
    assert.equal((await request(srv.socketPath, 'GET', '/volumes/nope')).status, 404)
    // Before API 1.42 a prune removed named volumes too.
    const p41 = await request(srv.socketPath, 'POST', '/v1.41/volumes/prune')
    assert.equal(p41.json<{ VolumesDeleted: string[] }>().VolumesDeleted.length, 2)
    assert.equal((await request(srv.socketPath, 'DELETE', '/volumes/web')).status, 404)
  } finally {
    await srv.close()
  }
})
