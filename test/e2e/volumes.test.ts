// Volumes and mounts through the stock docker CLI against berthd, with Debian's dockerd as
// the oracle for the words a user sees.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import {
  busyboxTar,
  docker,
  importBusybox,
  removeTree,
  startBerthd,
  startDockerd,
  type Berthd,
  type Dockerd,
} from './harness.ts'

let d: Berthd
let oracle: Dockerd
let work: string
let seedTar: string

/** busybox plus /data (1000:1000, 0750) holding seed (1000:1000, 0600) and a symlink. */
async function makeSeedTar(out: string): Promise<void> {
  const extract = tar.extract()
  const pack = tar.pack()
  const done = pipeline(pack, createWriteStream(out))
  extract.on('entry', (header, stream, next) => {
    stream.pipe(pack.entry(header, next))
  })
  await pipeline(createReadStream(await busyboxTar()), extract)
  const mtime = new Date('2024-01-01T00:00:00Z')
  const add = (h: Partial<tar.Header> & { name: string }, body = '') =>
    new Promise<void>((res, rej) =>
      pack.entry({ ...h, mtime } as tar.Header, body, (e) => (e ? rej(e) : res())),
    )
  await add({ name: 'data', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 })
  await add({ name: 'data/seed', mode: 0o600, uid: 1000, gid: 1000 }, 'seeded\n')
  await add({ name: 'data/link', type: 'symlink', linkname: 'seed', mode: 0o777 })
  pack.finalize()
  await done
}

before(async () => {
  ;[d, oracle] = await Promise.all([startBerthd(), startDockerd()])
  work = await mkdtemp('/tmp/bt-vol-')
  seedTar = join(work, 'seed.tar')
  await makeSeedTar(seedTar)
  await Promise.all([importBusybox(d), importBusybox(oracle)])
  for (const h of [d, oracle]) {
    const r = await docker(['import', '-c', 'VOLUME /data', seedTar, 'seed'], { host: h })
    assert.equal(r.code, 0, r.stderr)
  }
})

after(async () => {
  await Promise.all([d?.stop(), oracle?.stop()])
  if (work) await removeTree(work)
})

const host = (): { host: Berthd } => ({ host: d })

/** Runs the same command against berthd and dockerd; returns both results. */
async function both(args: string[]) {
  const [b, o] = await Promise.all([docker(args, host()), docker(args, { host: oracle })])
  return { b, o }
}

describe('bind mounts', () => {
  test('several -v binds at once; ro refuses writes; a missing host dir is created', async () => {
    const a = join(work, 'a')
    const b = join(work, 'b')
    await mkdir(a)
    await mkdir(b)
    await writeFile(join(a, 'in'), 'from host\n')
    const created = join(work, 'made', 'deep')
    const r = await docker(
      [
        'run',
        '--rm',
        '-v',
        `${a}:/a:ro`,
        '-v',
        `${b}:/b`,
        '-v',
        `${created}:/c`,
        'busybox',
        'sh',
        '-c',
        'cat /a/in; echo out > /b/out; touch /a/nope 2>&1; ls -d /c',
      ],
      host(),
    )
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^from host\n/)
    assert.match(r.stdout, /Read-only file system/)
    assert.match(r.stdout, /\/c\n$/)
    assert.equal(await readFile(join(b, 'out'), 'utf8'), 'out\n')
    assert.ok((await stat(created)).isDirectory())
  })

  test('bad specs fail in Docker words', async () => {
    for (const args of [
      ['run', '--rm', '-v', 'rel/dir:/x', 'busybox', 'true'],
      ['run', '--rm', '-v', `${work}:x`, 'busybox', 'true'],
      ['run', '--rm', '-v', `${work}:/x:bogus`, 'busybox', 'true'],
      ['run', '--rm', '-v', `${work}:/x`, '-v', `${work}/a:/x`, 'busybox', 'true'],
      ['run', '--rm', '--mount', `type=bind,src=${work}/nothere,dst=/x`, 'busybox', 'true'],
    ]) {
      const { b, o } = await both(args)
      assert.equal(b.code, 125, b.stderr)
      assert.equal(b.stderr, o.stderr)
    }
  })
})

describe('named and anonymous volumes', () => {
  test('-v name:/data keeps data across --rm containers', async () => {
    const w = await docker(
      ['run', '--rm', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f'],
      host(),
    )
    assert.equal(w.code, 0, w.stderr)
    const r = await docker(['run', '--rm', '-v', 'keep:/data', 'busybox', 'cat', '/data/f'], host())
    assert.equal(r.stdout, 'kept\n')
    const mp = await docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'keep'], host())
    assert.equal(mp.stdout.trim(), join(d.dataRoot, 'volumes', 'keep', '_data'))
    assert.equal(await readFile(join(mp.stdout.trim(), 'f'), 'utf8'), 'kept\n')
  })

  test('an empty volume is filled from the image, owners and modes kept', async () => {
    const r = await docker(
      [
        'run',
        '--rm',
        '-v',
        'seeded:/data',
        'seed',
        'sh',
        '-c',
        'stat -c "%u:%g %a %n" /data /data/seed; readlink /data/link',
      ],
      host(),
    )
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, '1000:1000 750 /data\n1000:1000 600 /data/seed\nseed\n')
    const st = await stat(join(d.dataRoot, 'volumes', 'seeded', '_data', 'seed'))
    assert.equal(st.uid, 1000)
    assert.equal(st.mode & 0o777, 0o600)
    // nocopy leaves a fresh volume empty.
    const n = await docker(
      ['run', '--rm', '-v', 'bare:/data:nocopy', 'seed', 'ls', '-A', '/data'],
      host(),
    )
    assert.equal(n.stdout, '')
  })

  test('the image VOLUME gets an anonymous volume; rm -v removes it, never a named one', async () => {
    const c = await docker(
      ['run', '--name', 'anon', '-v', 'named1:/n', 'seed', 'cat', '/data/seed'],
      host(),
    )
    assert.equal(c.stdout, 'seeded\n')
    const ins = await docker(['inspect', '-f', '{{json .Mounts}}', 'anon'], host())
    const mounts = JSON.parse(ins.stdout) as Record<string, unknown>[]
    const anon = mounts.find((m) => m.Destination === '/data') as Record<string, unknown>
    assert.match(String(anon.Name), /^[0-9a-f]{64}$/)
    assert.deepEqual(Object.keys(anon), [
      'Type',
      'Name',
      'Source',
      'Destination',
      'Driver',
      'Mode',
      'RW',
      'Propagation',
    ])
    assert.equal(anon.Mode, '')
    assert.equal(mounts.find((m) => m.Destination === '/n')?.Mode, 'z')
    const ps = await docker(
      ['ps', '-a', '--filter', 'name=anon', '--format', '{{.Mounts}}'],
      host(),
    )
    assert.match(ps.stdout, /named1/)

    const inUse = await docker(['volume', 'rm', String(anon.Name)], host())
    assert.equal(inUse.code, 1)
    const id = (await docker(['inspect', '-f', '{{.Id}}', 'anon'], host())).stdout.trim()
    assert.equal(
      inUse.stderr.trim(),
      `Error response from daemon: remove ${String(anon.Name)}: volume is in use - [${id}]`,
    )
    assert.equal((await docker(['rm', '-v', 'anon'], host())).code, 0)
    const gone = await docker(['volume', 'inspect', String(anon.Name)], host())
    assert.equal(gone.code, 1)
    assert.match(gone.stderr, /no such volume/)
    assert.equal((await docker(['volume', 'inspect', 'named1'], host())).code, 0)
  })

  test('volume create, ls with filters and formats, inspect, rm, prune', async () => {
    assert.equal(
      (await docker(['volume', 'create', '--label', 'team=a', 'lab1'], host())).stdout,
      'lab1\n',
    )
    const ls = await docker(['volume', 'ls', '--filter', 'label=team=a'], host())
    assert.equal(ls.stdout, 'DRIVER    VOLUME NAME\nlocal     lab1\n')
    const q = await docker(['volume', 'ls', '-q', '--filter', 'name=lab'], host())
    assert.equal(q.stdout, 'lab1\n')
    const f = await docker(
      [
        'volume',
        'ls',
        '--filter',
        'name=lab1',
        '--format',
        '{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}} {{.Label "team"}}',
      ],
      host(),
    )
    assert.equal(f.stdout, 'lab1 local local team=a a\n')
    const ins = await docker(['volume', 'inspect', 'lab1'], host())
    const [v] = JSON.parse(ins.stdout) as Record<string, unknown>[]
    assert.deepEqual(Object.keys(v ?? {}).sort(), [
      'CreatedAt',
      'Driver',
      'Labels',
      'Mountpoint',
      'Name',
      'Options',
      'Scope',
    ])

    for (const args of [
      ['volume', 'create', 'a'],
      ['volume', 'create', 'bad name'],
      ['volume', 'inspect', 'nope'],
      ['volume', 'rm', 'nope'],
      ['volume', 'create', '-d', 'foo', 'xx'],
    ]) {
      const { b, o } = await both(args)
      assert.equal(b.code, o.code, args.join(' '))
      assert.equal(b.stderr, o.stderr, args.join(' '))
    }
    assert.equal((await docker(['volume', 'rm', '-f', 'nope'], host())).code, 0)

    // prune: anonymous unused volumes only; --all takes unused named ones too.
    assert.equal((await docker(['create', '--name', 'pruneme', 'seed', 'true'], host())).code, 0)
    assert.equal((await docker(['rm', 'pruneme'], host())).code, 0)
    const before = (await docker(['volume', 'ls', '-q', '--filter', 'dangling=true'], host()))
      .stdout
    const anonDangling = before.split('\n').filter((n) => /^[0-9a-f]{64}$/.test(n))
    assert.ok(anonDangling.length >= 1)
    const p = await docker(['volume', 'prune', '-f'], host())
    assert.equal(p.code, 0, p.stderr)
    assert.match(p.stdout, /^Deleted Volumes:\n/)
    for (const n of anonDangling) assert.ok(p.stdout.includes(n))
    assert.ok(!p.stdout.includes('lab1'))
    const pa = await docker(['volume', 'prune', '-af'], host())
    assert.match(pa.stdout, /\blab1\b/)
    assert.match(pa.stdout, /Total reclaimed space: /)
    assert.equal((await docker(['volume', 'rm', 'keep'], host())).code, 1, 'keep was pruned')
  })
})

describe('--mount and --volumes-from', () => {
  test('bind, volume and tmpfs mounts with their options', async () => {
    const src = join(work, 'msrc')
    await mkdir(src)
    await writeFile(join(src, 'f'), 'bound\n')
    const r = await docker(
      [
        'run',
        '--rm',
        '--mount',
        `type=bind,src=${src},dst=/m,readonly,bind-propagation=rslave`,
        '--mount',
        'type=volume,src=mvol,dst=/n,volume-nocopy,volume-label=k=v',
        '--mount',
        'type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770',
        'seed',
        'sh',
        '-c',
        'cat /m/f; touch /m/x 2>/dev/null || echo ro; ls -A /n; mount | grep " /t "; stat -c %a /t',
      ],
      host(),
    )
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stdout,
      /^bound\nro\ntmpfs on \/t type tmpfs \([^)]*size=1024k,mode=1770\)\n1770\n$/,
    )
    const lab = await docker(['volume', 'inspect', '-f', '{{json .Labels}}', 'mvol'], host())
    assert.equal(lab.stdout.trim(), '{"k":"v"}')
  })

  test('--volumes-from shares a container volumes, read-only with :ro', async () => {
    assert.equal(
      (
        await docker(
          ['run', '--name', 'holder', '-v', 'shared:/s', 'busybox', 'sh', '-c', 'echo s > /s/f'],
          host(),
        )
      ).code,
      0,
    )
    const r = await docker(
      [
        'run',
        '--rm',
        '--volumes-from',
        'holder:ro',
        'busybox',
        'sh',
        '-c',
        'cat /s/f; touch /s/g 2>/dev/null || echo ro',
      ],
      host(),
    )
    assert.equal(r.stdout, 's\nro\n')
    const miss = await both(['run', '--rm', '--volumes-from', 'ghost', 'busybox', 'true'])
    assert.equal(miss.b.code, 125)
    assert.equal(miss.b.stderr, miss.o.stderr)
  })
})

describe('after a daemon restart', () => {
  test('a volume used by a container is still refused removal', async () => {
    assert.equal(
      (await docker(['create', '--name', 'user', '-v', 'held:/h', 'busybox', 'true'], host())).code,
      0,
    )
    await d.restart()
    const r = await docker(['volume', 'rm', 'held'], host())
    assert.equal(r.code, 1)
    assert.match(r.stderr, /remove held: volume is in use - \[[0-9a-f]{64}\]/)
    assert.equal((await docker(['rm', 'user'], host())).code, 0)
    assert.equal((await docker(['volume', 'rm', 'held'], host())).code, 0)
  })
})
