import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import {
  access,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import {
  apiRequest,
  busyboxTar,
  docker,
  importBusybox,
  mountsUnder,
  removeTree,
  repoRoot,
  hostNetworkDevices,
  startBerthd,
  startDockerd,
} from './harness.ts'

interface Entry {
  type: string
  mode: number
  uid: number
  gid: number
  mtime: number
  linkname: string | null | undefined
  body: Buffer
}

async function readTar(path: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>()
  const extract = tar.extract()
  extract.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: unknown) => {
      chunks.push(c as Buffer)
    })
    stream.on('end', () => {
      entries.set(h.name, {
        type: h.type ?? 'file',
        mode: h.mode ?? 0,
        uid: h.uid ?? -1,
        gid: h.gid ?? -1,
        mtime: h.mtime?.getTime() ?? 0,
        linkname: h.linkname,
        body: Buffer.concat(chunks),
      })
      next()
    })
  })
  await pipeline(createReadStream(path), extract)
  return entries
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex')
}

const maker = join(repoRoot, 'scripts/make-busybox-rootfs.sh')

describe('busybox rootfs', () => {
  test('the tar holds busybox, its applets, users and the standard dirs', async () => {
    const entries = await readTar(await busyboxTar())
    const busybox = entries.get('bin/busybox')
    assert.equal(busybox?.type, 'file')
    assert.equal(busybox.mode, 0o755)
    assert.ok(busybox.body.length > 500_000, 'busybox is the static binary')
    for (const applet of ['sh', 'echo', 'cat', 'ls', 'true', 'sleep', 'id', 'top', '[']) {
      const e = entries.get(`bin/${applet}`)
      assert.equal(e?.type, 'symlink', applet)
      assert.equal(e.linkname, 'busybox')
    }
    const passwd = entries.get('etc/passwd')?.body.toString() ?? ''
    assert.match(passwd, /^root:x:0:0:/m)
    assert.match(passwd, /^nobody:x:65534:65534:/m)
    assert.match(entries.get('etc/group')?.body.toString() ?? '', /^root:x:0:/m)
    assert.equal(entries.get('tmp/')?.mode, 0o1777)
    for (const d of ['root/', 'proc/', 'sys/', 'dev/', 'etc/', 'bin/']) {
      assert.equal(entries.get(d)?.type, 'directory', d)
    }
    for (const [name, e] of entries) {
      assert.ok(!name.startsWith('./') && !name.startsWith('/'), name)
      assert.equal(e.uid, 0, name)
      assert.equal(e.gid, 0, name)
      assert.equal(e.mtime, Date.parse('2024-01-01T00:00:00Z'), name)
    }
  })

  test('is deterministic, and also makes a directory that runs', async () => {
    const d = await mkdtemp('/tmp/bt-test-')
    try {
      const r = spawnSync(maker, [join(d, 'again.tar')], { encoding: 'utf8' })
      assert.equal(r.status, 0, r.stderr)
      assert.equal(await sha256(join(d, 'again.tar')), await sha256(await busyboxTar()))

      const dir = join(d, 'rootfs')
      const m = spawnSync(maker, [dir], { encoding: 'utf8' })
      assert.equal(m.status, 0, m.stderr)
      assert.equal(await readlink(join(dir, 'bin/sh')), 'busybox')
      assert.equal((await stat(join(dir, 'tmp'))).mode & 0o7777, 0o1777)
      const c = spawnSync('chroot', [dir, '/bin/sh', '-c', 'echo hi from $(whoami)'], {
        encoding: 'utf8',
      })
      assert.equal(c.stdout, 'hi from root\n', c.stderr)

      const bad = spawnSync(maker, [dir], { encoding: 'utf8' })
      assert.notEqual(bad.status, 0, 'refuses a non-empty directory')
      assert.match(bad.stderr, /not empty/)
    } finally {
      await rm(d, { recursive: true, force: true })
    }
  })
})

describe('removeTree', () => {
  test('unmounts what is mounted under the dir, then removes it', async () => {
    const d = await mkdtemp('/tmp/bt-test-')
    const m = join(d, 'a b', 'mnt')
    await mkdir(m, { recursive: true })
    const r = spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', m], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    await writeFile(join(m, 'f'), 'x')
    assert.deepEqual(await mountsUnder(d), [m])
    await removeTree(d)
    assert.deepEqual(await mountsUnder(d), [])
    await assert.rejects(access(d), { code: 'ENOENT' })
  })
})

describe('dockerd oracle', () => {
  test('starts, answers the docker CLI, runs the busybox image, and stops clean', async () => {
    const dd = await startDockerd()
    try {
      const ping = await apiRequest(dd, 'GET', '/_ping')
      assert.equal(ping.status, 200)
      assert.equal(ping.body, 'OK')

      const v = await docker(['version', '--format', '{{.Server.Version}}'], { host: dd })
      assert.equal(v.code, 0, v.stderr)
      assert.match(v.stdout, /^\d+\.\d+\.\d+/)

      const id = await importBusybox(dd)
      assert.match(id, /^sha256:[0-9a-f]{64}$/)
      const run = await docker(['run', '--rm', '--network', 'none', 'busybox', 'echo', 'hi'], {
        host: dd,
      })
      assert.equal(run.code, 0, run.stderr)
      assert.equal(run.stdout, 'hi\n')

      const info = await apiRequest(dd, 'GET', '/info')
      assert.equal(info.status, 200)
      assert.equal((JSON.parse(info.body) as { Images: number }).Images, 1)
    } finally {
      await dd.stop()
    }
    await assert.rejects(access(dd.dir), { code: 'ENOENT' })
    assert.deepEqual(await mountsUnder(dd.dir), [])
  })
})

describe('dockerd oracle and the host network', () => {
  test("leaves the host's network devices as they were, a docker0 bridge included", async () => {
    // A dockerd started with --bridge=none in the host's namespace deletes docker0: a host
    // with a real Docker has one, so this host gets one for the test when it has none.
    const made = !(await access('/sys/class/net/docker0').then(
      () => true,
      () => false,
    ))
    if (made) {
      const r = spawnSync('ip', ['link', 'add', 'docker0', 'type', 'bridge'], { encoding: 'utf8' })
      assert.equal(r.status, 0, `ip link add docker0: ${r.stderr}`)
    }
    try {
      const before = await hostNetworkDevices()
      assert.ok(before['docker0'], 'docker0 is there to be kept')
      const dd = await startDockerd()
      try {
        await importBusybox(dd)
        const run = await docker(['run', '--rm', '--network', 'none', 'busybox', 'echo', 'hi'], {
          host: dd,
        })
        assert.equal(run.stdout, 'hi\n', run.stderr)
        assert.deepEqual(await hostNetworkDevices(), before, 'while the oracle runs')
      } finally {
        await dd.stop()
      }
      assert.deepEqual(await hostNetworkDevices(), before, 'after the oracle stopped')
    } finally {
      if (made) spawnSync('ip', ['link', 'del', 'docker0'])
    }
  })
})

// A stand-in daemon for testing startBerthd itself, whatever state the real berthd is in:
// it listens late (so the wait on the socket is exercised) and, like a daemon with running
// containers, leaves a mount and a process behind that only stop() cleans up.
const fakeDaemon = `
import http from 'node:http'
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
const a = process.argv.slice(2)
const opt = (f) => a[a.indexOf(f) + 1]
const socket = opt('--host').slice('unix://'.length)
const root = opt('--data-root')
console.error('fake berthd starting, log level ' + opt('--log-level'))
if (a.includes('--fail')) {
  console.error('fake berthd: cannot start: boom')
  process.exit(3)
}
if (a.includes('--never')) setInterval(() => {}, 1000)
else {
  mkdirSync(root + '/mnt', { recursive: true })
  spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', root + '/mnt'])
  const stray = ['-e', 'setInterval(() => {}, 1e6)', root]
  spawn(process.execPath, stray, { detached: true, stdio: 'ignore' }).unref()
  rmSync(socket, { force: true })
  const srv = http.createServer((req, res) => res.end(req.url === '/_ping' ? 'OK' : '{}'))
  setTimeout(() => srv.listen(socket), 150)
  process.on('SIGTERM', () => srv.close(() => process.exit(0)))
}
`

/** Live (not zombie) processes whose arguments mention text. */
async function processesMentioning(text: string): Promise<number[]> {
  const out: number[] = []
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const args = await readFile(`/proc/${pid}/cmdline`, 'utf8')
      const state = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '')[0]
      if (args.includes(text) && state !== 'Z') out.push(Number(pid))
    } catch {
      continue // gone meanwhile
    }
  }
  return out
}

async function alive(pid: number): Promise<boolean> {
  try {
    const state = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '')[0]
    return state !== 'Z'
  } catch {
    return false
  }
}

describe('startBerthd (with a fake daemon)', () => {
  test('waits for ping, survives kill -9 and restart, and cleans up on stop', async () => {
    const d = await mkdtemp('/tmp/bt-test-')
    const bin = join(d, 'fake.mjs')
    await writeFile(bin, fakeDaemon)
    try {
      const b = await startBerthd({ bin })
      let strays: number[] = []
      try {
        assert.match(b.socket, /^\/tmp\/bt-[^/]+\/berthd\.sock$/)
        assert.equal(b.dataRoot, join(b.dir, 'root'))
        assert.equal((await apiRequest(b, 'GET', '/_ping')).body, 'OK')
        assert.match(await b.logs(), /fake berthd starting, log level debug/)

        const first = b.pid
        await b.kill9()
        assert.ok(!(await alive(first)))
        await b.restart()
        assert.notEqual(b.pid, first)
        assert.equal((await apiRequest(b, 'GET', '/_ping')).body, 'OK')
        const second = b.pid
        await b.restart()
        assert.notEqual(b.pid, second)
        assert.ok(!(await alive(second)), 'restart stops the running daemon first')

        strays = await processesMentioning(b.dir)
        assert.ok(strays.length > 0, 'the fake left a process behind')
        assert.ok((await mountsUnder(b.dir)).length > 0, 'the fake left a mount behind')
      } finally {
        await b.stop()
      }
      await assert.rejects(access(b.dir), { code: 'ENOENT' })
      assert.deepEqual(await mountsUnder(b.dir), [])
      for (const pid of strays) assert.ok(!(await alive(pid)), `stray ${pid} killed`)
    } finally {
      await rm(d, { recursive: true, force: true })
    }
  })

  test('fails with the log when the daemon exits, and gives up on one that never answers', async () => {
    const d = await mkdtemp('/tmp/bt-test-')
    const bin = join(d, 'fake.mjs')
    await writeFile(bin, fakeDaemon)
    try {
      await assert.rejects(startBerthd({ bin, args: ['--fail'] }), /exited \(3\)[^]*boom/)
      // A daemon that never answers is given up on after timeoutMs, with its log attached. (What
      // the log holds by then depends on how fast the machine started it, so only the exit
      // case above, which logs before it exits, checks the log's words.)
      await assert.rejects(
        startBerthd({ bin, args: ['--never'], timeoutMs: 300 }),
        /did not answer \/_ping on \S+ within 300 ms; its log \(\S+\):\n/,
      )
    } finally {
      await rm(d, { recursive: true, force: true })
    }
  })
})

describe('berthd', () => {
  test('starts on its own socket, answers ping and the docker CLI, and stops clean', async () => {
    const b = await startBerthd()
    try {
      assert.ok(b.socket.length < 108)
      assert.ok(b.pid > 0)
      const ping = await apiRequest(b, 'GET', '/_ping')
      assert.equal(ping.status, 200, await b.logs())
      assert.equal(ping.body, 'OK')
      const v = await docker(['version'], { host: b })
      assert.equal(v.code, 0, v.stderr + (await b.logs()))
      assert.match(v.stdout, /Server:/)
    } finally {
      await b.stop()
    }
    await assert.rejects(access(b.dir), { code: 'ENOENT' })
  })
})
