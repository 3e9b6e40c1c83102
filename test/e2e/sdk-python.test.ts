// docker-py (Debian's python3-docker) against berthd: test/e2e/sdk/docker_py_smoke.py runs
// the SDK's everyday flow and prints a JSON summary. The same script against Debian's dockerd
// must give the same summary, less the IDs, names and API version each daemon has.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import {
  importBusybox,
  repoRoot,
  startBerthd,
  startDockerd,
  type Berthd,
  type Dockerd,
} from './harness.ts'

// Debian's interpreter, where apt puts python3-docker (a python3 earlier on PATH may not have it).
const PYTHON = '/usr/bin/python3'
const SCRIPT = join(repoRoot, 'test/e2e/sdk/docker_py_smoke.py')

let berthd: Berthd
let dockerd: Dockerd

before(async () => {
  ;[berthd, dockerd] = await Promise.all([startBerthd(), startDockerd()])
  await Promise.all([importBusybox(berthd), importBusybox(dockerd)])
})

after(async () => {
  await Promise.all([berthd?.stop(), dockerd?.stop()])
})

interface Report {
  summary: Record<string, Record<string, unknown> & object>
  errors: Record<string, string>
}

function runScript(socket: string): Promise<Report> {
  const env: NodeJS.ProcessEnv = {}
  // Only what Python needs: no DOCKER_* setting of the developer's may leak in.
  for (const k of ['PATH', 'HOME', 'LANG']) if (process.env[k]) env[k] = process.env[k]
  env.DOCKER_HOST = `unix://${socket}`
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [SCRIPT], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${SCRIPT} failed: ${err.message}\n${stderr}`))
      try {
        resolve(JSON.parse(stdout) as Report)
      } catch {
        reject(new Error(`${SCRIPT} printed no JSON:\n${stdout}\n${stderr}`))
      }
    })
  })
}

/** The summary without what each daemon picks for itself. */
function comparable(r: Report): Report {
  const s = structuredClone(r.summary)
  delete s.version?.ApiVersion
  delete s.image_get?.id
  delete s.image_get?.short_id
  delete s.detached?.name
  return { summary: s, errors: r.errors }
}

test('docker-py: version, images, run, exec, logs, wait, stop, volumes, tag; same as dockerd', async () => {
  const got = await runScript(berthd.socket)
  assert.deepEqual(got.errors, {})
  const s = got.summary
  assert.deepEqual(s.version, { ApiVersion: '1.45', Os: 'linux', Arch: 'amd64' })
  assert.equal(s.ping, true)
  assert.deepEqual(s.images_list, ['busybox:latest'])
  assert.match(String(s.image_get?.id), /^sha256:[0-9a-f]{64}$/)
  assert.deepEqual(s.image_get?.tags, ['busybox:latest'])
  assert.equal(s.run_echo, 'hi\n')
  assert.deepEqual(s.run_fails, { exit_status: 2, stderr: 'bad\n' })
  assert.deepEqual(
    { ...s.detached, name: undefined },
    {
      status_after_run: 'created',
      status: 'running',
      name: undefined,
      exec_exit_code: 0,
      exec_output: 'x\n',
      exec_fail_code: 3,
      // sh as pid 1 ignores SIGTERM, so stop's SIGKILL after 1 s ends it.
      wait: { StatusCode: 137, Error: null },
      logs: 'started\n',
      status_after_stop: 'exited',
      listed_after_remove: false,
    },
  )
  assert.deepEqual(s.wait_exit, {
    wait: { StatusCode: 7, Error: null },
    logs_sorted: ['err\n', 'out\n'],
    stdout: 'out\n',
    stderr: 'err\n',
  })
  assert.deepEqual(s.volumes, {
    name: 'v1',
    driver: 'local',
    listed: ['v1'],
    got: 'v1',
    listed_after_remove: [],
  })
  assert.deepEqual(s.tag_remove, {
    tag_result: true,
    tags: ['busybox:latest', 'lab/py:v1'],
    after_remove: 'ImageNotFound',
  })
  assert.deepEqual(s.not_found, { status: 404, explanation: 'No such container: nope' })
  assert.deepEqual(comparable(got), comparable(await runScript(dockerd.socket)))
})
