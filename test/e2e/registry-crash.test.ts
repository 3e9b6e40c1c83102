// A pull killed at any moment: berthd kills itself (SIGKILL) at the pull's fault points, or is
// killed with kill -9 while a layer is half downloaded. After the restart (and its garbage
// collection) there is no half image, nothing half written, and the next pull fetches only what
// had not been completed.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { access, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { join } from 'node:path'
import { startFaultProxy, type FaultProxy } from '../registry/faults.ts'
import { startRegistry, type RegistryServer } from '../registry/server.ts'
import { apiRequest, docker, importBusybox, startBerthd, type Berthd } from './harness.ts'

let d: Berthd
let reg: RegistryServer
let proxy: FaultProxy
let work: string
let faultFile: string

const host = () => ({ host: d })

async function ok(args: string[]): Promise<string> {
  const r = await docker(args, host())
  assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stdout}${r.stderr}`)
  return r.stdout
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p)
    return true
  } catch {
    return false
  }
}

const names = async (dir: string): Promise<string[]> => readdir(dir).catch(() => [])

interface Layer {
  digest: string
  size: number
}

/** An image of its own: busybox plus two small layers and one of `bigSize` random bytes. */
async function makeImage(ref: string, bigSize: number): Promise<Layer[]> {
  const name = `src-${Math.random().toString(36).slice(2, 8)}`
  await ok([
    'run',
    '--network',
    'none',
    '--name',
    name,
    'busybox',
    'sh',
    '-c',
    `head -c 3000 /dev/urandom > /small && head -c ${bigSize} /dev/urandom > /big`,
  ])
  await ok(['commit', name, `${ref}-a`])
  await ok(['rm', name])
  await ok([
    'run',
    '--network',
    'none',
    '--name',
    name,
    `${ref}-a`,
    'sh',
    '-c',
    'head -c 2000 /dev/urandom > /tiny',
  ])
  await ok(['commit', name, ref])
  await ok(['rm', name])
  await ok(['push', ref])
  await ok(['rmi', ref, `${ref}-a`])
  const repo = ref.slice(ref.indexOf('/') + 1, ref.lastIndexOf(':'))
  const res = await fetch(
    `${reg.url}/v2/${repo}/manifests/${ref.slice(ref.lastIndexOf(':') + 1)}`,
    {
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    },
  )
  return ((await res.json()) as { layers: Layer[] }).layers
}

/** What must hold after any crash: records whole, nothing half written, the API agreeing. */
async function checkState(what: string, ref: string): Promise<void> {
  const root = d.dataRoot
  const problems: string[] = []
  const records = (await names(join(root, 'images/metadata'))).filter((n) =>
    /^[0-9a-f]{64}\.json$/.test(n),
  )
  for (const rec of records) {
    const r = await apiRequest(d, 'GET', `/images/sha256:${rec.slice(0, 64)}/json`)
    if (r.status !== 200) {
      problems.push(`image ${rec} cannot be inspected: ${r.body}`)
      continue
    }
    for (const l of (JSON.parse(r.body) as { RootFS: { Layers: string[] } }).RootFS.Layers) {
      if (!(await exists(join(root, 'layers/sha256', l.slice(7), 'meta.json'))))
        problems.push(`image ${rec} lacks layer ${l}`)
    }
  }
  const ingests = await names(join(root, 'content/ingest'))
  if (ingests.length > 0) problems.push(`half-written blobs left: ${ingests.join(', ')}`)
  const r = await apiRequest(d, 'GET', `/images/${ref}/json`)
  if (r.status !== 404) problems.push(`${ref} is there after a pull that never finished`)
  assert.deepEqual(problems, [], `after ${what}`)
}

/** The layer statuses a pull printed, by short blob digest. */
function statuses(out: string): Map<string, string[]> {
  const m = new Map<string, string[]>()
  for (const line of out.split('\n')) {
    const x = /^([0-9a-f]{12}): (.*)$/.exec(line)
    if (x) m.set(x[1]!, [...(m.get(x[1]!) ?? []), x[2]!])
  }
  return m
}

/** API progress messages as the docker CLI prints them without a terminal. */
function toLines(stream: string): string {
  return stream
    .split('\r\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id?: string; status?: string })
    .map((m) => (m.id ? `${m.id}: ${m.status}` : `${m.status}`))
    .join('\n')
}

before(async () => {
  work = await mkdtemp('/tmp/bt-regcrash-')
  faultFile = join(work, 'fault')
  reg = await startRegistry()
  proxy = await startFaultProxy(reg.url)
  // berthd on the host's network: it reaches the registries the test runs on the host's loopback
  d = await startBerthd({ env: { BERTH_FAULT_FILE: faultFile }, network: 'inherit' })
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
  await proxy?.stop()
  await reg?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

describe('a pull killed at any moment', () => {
  for (const point of ['pull.after-layer', 'pull.before-record']) {
    test(`berthd killed at ${point}`, async () => {
      const ref = `${proxy.name}/crash/${point.replace('.', '-')}:1`
      const layers = await makeImage(ref, 200_000)
      await writeFile(faultFile, point)
      const r = await docker(['pull', ref], host())
      assert.notEqual(r.code, 0, 'the daemon died under the pull')
      assert.equal(await exists(faultFile), false, `${point} was reached`)
      await d.restart()
      await checkState(point, ref)
      // The lease that kept the completed layers through the restart's collection.
      assert.equal((await names(join(d.dataRoot, 'registry/leases'))).length >= 1, true)

      proxy.clear()
      const again = await ok(['pull', ref])
      const st = statuses(again)
      const fetched = proxy.requests.filter((q) => q.method === 'GET' && q.path.includes('/blobs/'))
      const reused = layers.filter((l) => st.get(l.digest.slice(7, 19))?.includes('Already exists'))
      if (point === 'pull.before-record') {
        // Every layer was whole: nothing is fetched again but the manifest.
        assert.equal(reused.length, layers.length, again)
        assert.deepEqual(fetched, [])
      } else {
        const before = statuses(r.stdout)
        for (const l of layers) {
          if (before.get(l.digest.slice(7, 19))?.includes('Pull complete')) {
            assert.ok(reused.includes(l), `completed before the kill, reused after:\n${again}`)
          }
        }
        assert.ok(reused.length >= 1, `a completed layer is reused:\n${again}`)
      }
      for (const l of reused) assert.ok(!fetched.some((q) => q.path.includes(l.digest)))
      assert.equal(
        (await ok(['run', '--network', 'none', '--rm', ref, 'sh', '-c', 'wc -c < /big'])).trim(),
        '200000',
      )
      assert.deepEqual(await names(join(d.dataRoot, 'registry/leases')), [])
      await ok(['rmi', ref])
    })
  }

  test('kill -9 while a layer is half downloaded', async () => {
    const ref = `${proxy.name}/crash/kill9:1`
    const layers = await makeImage(ref, 3_000_000)
    const big = layers.reduce((a, b) => (b.size > a.size ? b : a))
    let stalled!: () => void
    const reached = new Promise<void>((r) => (stalled = r))
    proxy.clear()
    proxy.add({
      method: 'GET',
      path: new RegExp(`/blobs/${big.digest}`),
      fault: { kind: 'stall', after: 1_000_000, onStall: () => stalled() },
    })
    // Through the API, to see each layer's progress as berthd sends it.
    const seen: string[] = []
    let tinyDone!: () => void
    const tinyCompleted = new Promise<void>((res) => (tinyDone = res))
    const req = http.request({
      socketPath: d.socket,
      method: 'POST',
      path: `/images/create?fromImage=${encodeURIComponent(ref.slice(0, ref.lastIndexOf(':')))}&tag=1`,
    })
    const ended = new Promise<void>((res) => {
      req.on('response', (resp) => {
        resp.setEncoding('utf8')
        resp.on('data', (c: string) => {
          seen.push(c)
          if (c.includes('"Pull complete"')) tinyDone()
        })
        resp.on('error', () => res())
        resp.on('close', () => res())
      })
      req.on('error', () => res())
    })
    req.end()
    await Promise.all([reached, tinyCompleted])
    await d.kill9()
    await ended
    const r = { stdout: toLines(seen.join('')) }
    await d.restart()
    await checkState('kill -9 mid-layer', ref)
    proxy.clear()
    const again = await ok(['pull', ref])
    // Every layer the killed pull had completed is reused; the one cut short is fetched again.
    const before = statuses(r.stdout)
    const st = statuses(again)
    const completed = layers.filter((l) =>
      before.get(l.digest.slice(7, 19))?.includes('Pull complete'),
    )
    assert.ok(completed.length >= 1, `the tiny layer completed before the kill:\n${r.stdout}`)
    for (const l of completed) {
      assert.deepEqual(
        st.get(l.digest.slice(7, 19)),
        ['Already exists'],
        `${r.stdout}\n---\n${again}`,
      )
    }
    assert.ok(st.get(big.digest.slice(7, 19))?.includes('Pull complete'), again)
    assert.equal(
      (await ok(['run', '--network', 'none', '--rm', ref, 'sh', '-c', 'wc -c < /big'])).trim(),
      '3000000',
    )
  })
})

describe('a push killed at any moment', () => {
  test('kill -9 while a layer is being uploaded', async () => {
    const ref = `${reg.name}/crash/push:1`
    const name = `src-${Math.random().toString(36).slice(2, 8)}`
    await ok([
      'run',
      '--network',
      'none',
      '--name',
      name,
      'busybox',
      'sh',
      '-c',
      'head -c 20000000 /dev/urandom > /big',
    ])
    await ok(['commit', name, ref])
    await ok(['rm', name])
    const before = JSON.parse(await ok(['image', 'inspect', ref])) as [{ Id: string }]

    // Killed as soon as the big layer's first bytes are on their way.
    const req = http.request({
      socketPath: d.socket,
      method: 'POST',
      path: `/images/${encodeURIComponent(ref.slice(0, ref.lastIndexOf(':')))}/push?tag=1`,
      headers: { 'X-Registry-Auth': Buffer.from('{}').toString('base64url') },
    })
    const seen: string[] = []
    let pushing!: () => void
    const uploading = new Promise<void>((res) => (pushing = res))
    const ended = new Promise<void>((res) => {
      req.on('response', (resp) => {
        resp.setEncoding('utf8')
        resp.on('data', (c: string) => {
          seen.push(c)
          if (/"status":"Pushing","progressDetail":\{"current":[1-9]/.test(c)) pushing()
        })
        resp.on('error', () => res())
        resp.on('close', () => res())
      })
      req.on('error', () => res())
    })
    req.end()
    await uploading
    await d.kill9()
    await ended
    assert.ok(!seen.join('').includes(' digest: '), 'the push was cut short')
    await d.restart()

    // The image is whole and unchanged, nothing half written is left, and the push starts over.
    const after = JSON.parse(await ok(['image', 'inspect', ref])) as [{ Id: string }]
    assert.equal(after[0].Id, before[0].Id)
    assert.deepEqual(await names(join(d.dataRoot, 'content/ingest')), [])
    const again = await ok(['push', ref])
    assert.match(again, /^1: digest: sha256:[0-9a-f]{64} size: \d+$/m)
    await ok(['rmi', ref])
    await ok(['pull', ref])
    assert.equal(
      (await ok(['run', '--network', 'none', '--rm', ref, 'sh', '-c', 'wc -c < /big'])).trim(),
      '20000000',
    )
    await ok(['rmi', ref])
  })
})
