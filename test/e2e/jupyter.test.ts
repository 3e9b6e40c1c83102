// The tutorial's Jupyter recipe through the stock docker CLI: the notebook image of
// examples/jupyter (Debian's jupyter-notebook on a debootstrap root, as make-rootfs.sh makes it
// until berth builds Dockerfiles), run with `-d -p 8889:8889 -v DATA:/home -w /home`; a
// notebook made through Jupyter's HTTP API from the host, with the token from `logs`, lands in
// the volume on the host and stays there after the container is removed.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { SCRATCH_HOST_IP, docker, repoRoot, startBerthd, type Berthd } from './harness.ts'

const exec = promisify(execFile)
const EXAMPLE = join(repoRoot, 'examples/jupyter')
/** The image's root filesystem (examples/jupyter/make-rootfs.sh), made once and kept. */
const ROOTFS = join(EXAMPLE, '.cache/rootfs.tar')
const IMAGE = 'berth-jupyter:test'
let d: Berthd

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

before(async () => {
  // Making it takes minutes (longer than a test file may run): scripts/setup.sh and .ci/run do
  // it beforehand, and it is kept.
  if (!(await exists(ROOTFS))) {
    throw new Error(
      `${ROOTFS} is missing: run examples/jupyter/make-rootfs.sh ${ROOTFS} (as root) first`,
    )
  }
  d = await startBerthd()
  // What the Dockerfile's WORKDIR, EXPOSE and CMD say, as import's changes.
  const r = await docker(
    [
      'import',
      '--change',
      'WORKDIR /home',
      '--change',
      'EXPOSE 8889',
      '--change',
      'CMD ["jupyter", "notebook", "--ip=0.0.0.0", "--port=8889", "--no-browser", "--allow-root"]',
      ROOTFS,
      IMAGE,
    ],
    { host: d, timeoutMs: 300_000 },
  )
  assert.equal(r.code, 0, r.stderr)
})

after(async () => {
  await d?.stop()
})

/** curl ARGS on berthd's host (its network namespace); stdout. */
async function curl(args: string[]): Promise<string> {
  const r = await exec(
    'nsenter',
    [`--net=${d.netns as string}`, '--', 'curl', '-sS', '--fail-with-body', ...args],
    { timeout: 120_000 },
  )
  return r.stdout
}

test('the Jupyter recipe: a notebook made through the published port lands in the volume', async () => {
  const run = await docker(
    ['run', '-d', '--name', 'nb', '-p', '8889:8889', '-v', 'nbdata:/home', '-w', '/home', IMAGE],
    { host: d },
  )
  assert.equal(run.code, 0, run.stderr)
  assert.equal((await docker(['port', 'nb'], { host: d })).stdout, '8889/tcp -> 0.0.0.0:8889\n')

  // The server answers (a just-started one refuses connections for a few seconds)...
  const status = await curl([
    '--retry',
    '60',
    '--retry-connrefused',
    '--retry-delay',
    '1',
    `http://${SCRATCH_HOST_IP}:8889/api`,
  ])
  assert.match(status, /"version"/)
  // ...and by then has written its URL with the token to the log.
  const logs = await docker(['logs', 'nb'], { host: d })
  const token = /[?&]token=([0-9a-f]+)/.exec(logs.stdout + logs.stderr)?.[1]
  assert.ok(token, `no token in the logs:\n${logs.stdout}${logs.stderr}`)

  // Without the token the contents are refused; with it a notebook is made, on 127.0.0.1 too.
  await assert.rejects(curl([`http://127.0.0.1:8889/api/contents`]), /403|401/)
  const made = JSON.parse(
    await curl([
      '-X',
      'POST',
      '-H',
      `Authorization: token ${token}`,
      '-H',
      'Content-Type: application/json',
      '--data',
      '{"type": "notebook"}',
      `http://127.0.0.1:8889/api/contents`,
    ]),
  ) as { path: string; type: string }
  assert.equal(made.type, 'notebook')

  const mountpoint = (
    await docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'nbdata'], { host: d })
  ).stdout.trim()
  const file = join(mountpoint, made.path)
  assert.ok(await exists(file), `${file} is not in the volume`)

  assert.equal((await docker(['rm', '-f', 'nb'], { host: d })).code, 0)
  assert.ok(await exists(file), `${file} went with the container`)
  const listed = await docker(['volume', 'ls', '-q'], { host: d })
  assert.match(listed.stdout, /^nbdata$/m)
})
