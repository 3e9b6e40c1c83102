// Crash safety: berthd kills itself (SIGKILL) at named points inside create, start, rm, import
// and load (src/engine/fault.ts, armed through BERTH_FAULT_FILE), is started again, and the
// state on disk must be whole: no container record without its layer, no layer without its
// record, no half image, no stuck mount, and the daemon works as before.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { access, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  apiRequest,
  busyboxTar,
  docker,
  dockerOk,
  importBusybox,
  mountsUnder,
  startBerthd,
  type Berthd,
} from './harness.ts'

let d: Berthd
let work: string
let faultFile: string

before(async () => {
  work = await mkdtemp('/tmp/bt-crash-')
  faultFile = join(work, 'fault')
  d = await startBerthd({ env: { BERTH_FAULT_FILE: faultFile } })
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

const host = (): { host: Berthd } => ({ host: d })

function ok(args: string[]): Promise<string> {
  return dockerOk(args, host())
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

/** Arms `point`, runs the operation (whose client sees the daemon die), and starts it again. */
async function crashAt(point: string, op: () => Promise<unknown>): Promise<void> {
  const pid = d.pid
  await writeFile(faultFile, point)
  await op()
  // The daemon removes the file right before it kills itself: the point was reached. A point
  // in work done after the answer (an exited --rm container's cleanup) comes a moment later.
  const deadline = Date.now() + 10_000
  while ((await exists(faultFile)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  assert.equal(await exists(faultFile), false, `${point} was never reached`)
  await d.restart()
  assert.notEqual(d.pid, pid)
}

/** The invariants that must hold after any crash, once reconciliation has run. */
async function checkState(point: string): Promise<void> {
  const root = d.dataRoot
  const deadline = Date.now() + 10_000
  for (;;) {
    const problems: string[] = []
    const records = (await names(join(root, 'containers'))).filter((n) => /^[0-9a-f]{64}$/.test(n))
    const rw = new Set(await names(join(root, 'layers/rw')))
    for (const id of records) {
      if (!rw.has(id)) problems.push(`container ${id} has no read-write layer`)
      for (const f of ['config.json', 'state.json']) {
        if (!(await exists(join(root, 'containers', id, f)))) problems.push(`${id} lacks ${f}`)
      }
    }
    for (const id of rw) {
      if (!records.includes(id)) problems.push(`read-write layer ${id} has no container`)
    }
    const leftovers = (await names(join(root, 'containers'))).filter((n) => n.startsWith('.tmp'))
    if (leftovers.length > 0) problems.push(`temp records left: ${leftovers.join(', ')}`)
    // Images: every record's config blob and layers exist, and the API agrees with the disk.
    const imageRecords = (await names(join(root, 'images/metadata'))).filter((n) =>
      /^[0-9a-f]{64}\.json$/.test(n),
    )
    const listed = (await ok(['images', '-q', '--no-trunc'])).trim().split('\n').filter(Boolean)
    for (const rec of imageRecords) {
      const hexId = rec.slice(0, 64)
      if (!(await exists(join(root, 'content/blobs/sha256', hexId)))) {
        problems.push(`image ${hexId} has no config blob`)
      }
      const r = await apiRequest(d, 'GET', `/images/sha256:${hexId}/json`)
      if (r.status !== 200) problems.push(`image ${hexId} cannot be inspected: ${r.body}`)
      const img = JSON.parse(r.body) as { RootFS?: { Layers?: string[] } }
      for (const l of img.RootFS?.Layers ?? []) {
        if (!(await exists(join(root, 'layers/sha256', l.slice(7), 'meta.json')))) {
          problems.push(`image ${hexId} lacks layer ${l}`)
        }
      }
    }
    for (const id of listed) {
      if (!imageRecords.includes(`${id.slice(7)}.json`)) problems.push(`listed image ${id} unknown`)
    }
    // No mount left but those of running containers (their root filesystems and, on the
    // bridge, their network namespaces).
    const running = (await ok(['ps', '-q', '--no-trunc'])).trim().split('\n').filter(Boolean)
    for (const mp of await mountsUnder(root)) {
      const theirs = (id: string) =>
        mp.startsWith(join(root, 'containers', id)) || mp === join(root, 'network/netns', id)
      if (!running.some(theirs)) {
        problems.push(`stuck mount ${mp}`)
      }
    }
    if (problems.length === 0) break
    if (Date.now() > deadline) assert.fail(`after a crash at ${point}:\n${problems.join('\n')}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  // And the daemon works.
  const r = await docker(['run', '--rm', 'busybox', 'echo', 'alive'], host())
  assert.equal(r.stdout, 'alive\n', `after ${point}: ${r.stderr}`)
}

let n = 0
const fresh = (): string => `c${++n}`

describe('berthd killed inside a flow leaves whole state behind', () => {
  for (const point of ['create.after-rw', 'create.before-record', 'create.after-record']) {
    test(point, async () => {
      const name = fresh()
      await crashAt(point, () => docker(['create', '--name', name, 'busybox', 'true'], host()))
      await checkState(point)
    })
  }

  for (const point of ['start.after-mount', 'start.after-create', 'start.after-start']) {
    test(point, async () => {
      const name = fresh()
      await ok(['create', '--name', name, 'busybox', 'sleep', '1000'])
      await crashAt(point, () => docker(['start', name], host()))
      await checkState(point)
      // The container is usable: it starts (again) and can be removed.
      const running = (await ok(['inspect', '--format', '{{.State.Running}}', name])).trim()
      if (running !== 'true') await ok(['start', name])
      await ok(['rm', '-f', name])
    })
  }

  for (const point of ['rm.after-runtime', 'rm.after-record']) {
    test(point, async () => {
      const name = fresh()
      await ok(['run', '--name', name, 'busybox', 'true'])
      await crashAt(point, () => docker(['rm', name], host()))
      await checkState(point)
      // Either still there (and removable) or gone; never half.
      const r = await apiRequest(d, 'GET', `/containers/${name}/json`)
      if (r.status === 200) await ok(['rm', name])
      else assert.equal(r.status, 404)
    })
  }

  test('a --rm container killed at rm is gone after the restart', async () => {
    const name = fresh()
    await crashAt('rm.after-runtime', () =>
      docker(['run', '--rm', '--name', name, 'busybox', 'true'], host()),
    )
    await checkState('rm.after-runtime (--rm)')
    assert.equal((await apiRequest(d, 'GET', `/containers/${name}/json`)).status, 404)
  })

  for (const point of ['import.after-layer', 'import.before-record']) {
    test(point, async () => {
      const tag = `imp-${point.replace(/\W/g, '')}:1`
      await crashAt(point, async () =>
        docker(['import', '-c', `LABEL p=${point}`, await busyboxTar(), tag], host()),
      )
      await checkState(point)
      assert.equal((await apiRequest(d, 'GET', `/images/${tag}/json`)).status, 404)
      // The same import works now.
      await ok(['import', '-c', `LABEL p=${point}`, await busyboxTar(), tag])
      await ok(['rmi', tag])
    })
  }

  for (const point of ['load.after-layers', 'load.mid-record']) {
    test(point, async () => {
      // An image with a layer of its own, saved, then removed so that load brings it back.
      const src = join(work, `${n}-rootfs`)
      await mkdir(join(src, 'etc'), { recursive: true })
      await writeFile(join(src, 'etc/own'), `${point}\n`)
      const tar = join(work, `${n}-rootfs.tar`)
      await new Promise<void>((resolve, reject) =>
        spawn('tar', ['-cf', tar, '-C', src, '.'])
          .on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar: ${code}`))))
          .on('error', reject),
      )
      const tag = `own-${++n}:1`
      await ok(['import', tar, tag])
      await ok(['tag', 'busybox', `bb-${n}:1`])
      const archive = join(work, `${n}-save.tar`)
      await ok(['save', '-o', archive, tag, `bb-${n}:1`])
      await ok(['rmi', tag, `bb-${n}:1`])
      await crashAt(point, () => docker(['load', '-i', archive], host()))
      await checkState(point)
      await ok(['load', '-i', archive])
      assert.match(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), new RegExp(tag))
    })
  }

  for (const point of ['commit.paused', 'commit.before-record']) {
    test(point, async () => {
      const name = fresh()
      await ok(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'echo x > /made; sleep 1000'])
      const tag = `committed-${point.replace(/\W/g, '')}:1`
      await crashAt(point, () => docker(['commit', name, tag], host()))
      await checkState(point)
      // No half image; the container was thawed and still works, and commit works now.
      assert.equal((await apiRequest(d, 'GET', `/images/${tag}/json`)).status, 404)
      const st = JSON.parse((await apiRequest(d, 'GET', `/containers/${name}/json`)).body) as {
        State: { Status: string; Paused: boolean }
      }
      assert.equal(st.State.Status, 'running')
      assert.equal((await docker(['exec', name, 'cat', '/made'], host())).stdout, 'x\n')
      await ok(['commit', name, tag])
      assert.equal((await docker(['run', '--rm', tag, 'cat', '/made'], host())).stdout, 'x\n')
      await ok(['rm', '-f', name])
      await ok(['rmi', tag])
    })
  }

  test('the daemon said what it repaired', async () => {
    const log = await d.logs()
    assert.match(log, /reconcile: removing a read-write layer with no container/)
    assert.match(log, /reconcile: thawing a container left frozen by an interrupted commit/)
    assert.match(log, /reconcile: removed content that no image records/)
  })
})
