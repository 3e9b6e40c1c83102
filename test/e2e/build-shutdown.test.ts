// berthd stopped (SIGTERM) in the middle of a build: the build is cancelled and its client told
// why, its step's process killed, its snapshot unmounted and removed before berthd exits (not
// left mounted until the next start), and the next berthd builds the same Dockerfile.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import tar from 'tar-stream'
import { docker, importBusybox, mountsUnder, startBerthd, type Berthd } from './harness.ts'

let d: Berthd
let dir: string

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
  dir = await mkdtemp(join(tmpdir(), 'bt-build-shutdown-'))
})

after(async () => {
  await d?.stop()
  await rm(dir, { recursive: true, force: true })
})

const DOCKERFILE = 'FROM busybox\nARG NAP=0\nRUN echo step-is-up; sleep $NAP; echo > /done\n'

/** Pids whose command line contains `needle` (NUL-separated arguments). */
async function processesRunning(needle: string): Promise<number[]> {
  const out: number[] = []
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue
    const cmd = await readFile(`/proc/${p}/cmdline`, 'latin1').catch(() => '')
    if (cmd.includes(needle)) out.push(Number(p))
  }
  return out
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function contextTar(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack()
  for (const [name, body] of Object.entries(files)) pack.entry({ name }, body)
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const c of pack) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/**
 * Starts a classic build (POST /build, as `docker build` without BuildKit sends it); `running`
 * resolves once the RUN step's process has printed, `lines` with the whole stream.
 */
function startBuild(
  body: Buffer,
  query: string,
): { running: Promise<void>; lines: Promise<Record<string, unknown>[]> } {
  let up!: () => void
  let failed!: (err: Error) => void
  const running = new Promise<void>((resolve, reject) => {
    up = resolve
    failed = reject
  })
  const lines = new Promise<Record<string, unknown>[]>((resolve, reject) => {
    const req = http.request(
      {
        socketPath: d.socket,
        method: 'POST',
        path: `/v1.41/build?${query}`,
        headers: { 'Content-Type': 'application/x-tar' },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          text += c
          if (text.includes('"stream":"step-is-up\\n"')) up()
        })
        res.on('error', reject)
        res.on('end', () => {
          const all = text
            .trim()
            .split(/\r?\n/)
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as Record<string, unknown>)
          failed(new Error(`the build ended before its step ran: ${text}`))
          resolve(all)
        })
      },
    )
    req.on('error', (err) => {
      failed(err)
      reject(err)
    })
    req.end(body)
  })
  return { running, lines }
}

test('SIGTERM mid-build cancels the build, releases its snapshot before exiting; the next berthd builds it', async () => {
  const body = await contextTar({ Dockerfile: DOCKERFILE })
  const build = startBuild(body, `t=shut:1&buildargs=${encodeURIComponent('{"NAP":"4323"}')}`)
  // What the client gets, looked at once the daemon's leftovers are.
  const told = build.lines.catch((err: Error) => err)
  await build.running
  // The step runs in its snapshot, an overlay mounted under the data root.
  assert.notDeepEqual(await mountsUnder(d.dataRoot), [])
  assert.equal((await processesRunning('sleep\u00004323')).length, 1)

  const pid = d.pid
  await d.term()
  assert.equal(alive(pid), false)

  // Nothing of the build outlives berthd: no mount, no step process, no step files, no RW layer.
  assert.deepEqual(await mountsUnder(d.dataRoot), [])
  assert.deepEqual(await processesRunning('sleep\u00004323'), [])
  assert.deepEqual(await readdir(join(d.dataRoot, 'builder', 'steps')), [])
  assert.deepEqual(await readdir(join(d.dataRoot, 'builder', 'mnt')), [])
  const rw = await readdir(join(d.dataRoot, 'layers', 'rw')).catch(() => [])
  assert.deepEqual(
    rw.filter((n) => n.startsWith('build-')),
    [],
  )

  // The client is told, in the stream, why its build failed.
  const lines = await told
  assert.ok(Array.isArray(lines), `the build's stream broke off: ${String(lines)}`)
  const message = 'berthd is shutting down: the build was cancelled'
  assert.deepEqual(lines[lines.length - 1], { errorDetail: { message }, error: message })

  // The next daemon works, and the same Dockerfile builds (its step now quick) and runs.
  await d.restart()
  const c = join(dir, 'ctx')
  await mkdir(c, { recursive: true })
  await writeFile(join(c, 'Dockerfile'), DOCKERFILE)
  const b = await docker(['build', '-t', 'shut:1', c], { host: d, timeoutMs: 120_000 })
  assert.equal(b.code, 0, b.stderr)
  const r = await docker(['run', '--rm', 'shut:1', 'ls', '/done'], { host: d })
  assert.equal(r.stdout, '/done\n')
})
