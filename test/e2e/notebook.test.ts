// berth notebook through the built CLI: the notebook image of examples/jupyter (its root
// filesystem from make-rootfs.sh, imported with the Dockerfile's WORKDIR, EXPOSE and CMD) started
// with a volume; the printed URL answers from the host with its token, on 127.0.0.1 only; the
// ssh line is printed; `notebook ls` lists it with the same URL; `notebook stop` stops it.
// berthd runs on a fake NVIDIA host (src/engine/gpu/testkit.ts; this machine has no GPU), so
// `berth notebook --gpus` is seen to start a notebook that has the GPUs.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { FAKE_GPUS, makeFakeHost } from '../../src/engine/gpu/testkit.ts'
import {
  SCRATCH_HOST_IP,
  berth,
  busyboxTar,
  docker,
  repoRoot,
  startBerthd,
  type Berthd,
} from './harness.ts'

const exec = promisify(execFile)
const ROOTFS = join(repoRoot, 'examples/jupyter/.cache/rootfs.tar')
const IMAGE = 'berth-jupyter:nbtest'
let d: Berthd
let gpuDir: string | undefined

before(async () => {
  const present = await access(ROOTFS).then(
    () => true,
    () => false,
  )
  if (!present) {
    throw new Error(
      `${ROOTFS} is missing: run examples/jupyter/make-rootfs.sh ${ROOTFS} (as root) first`,
    )
  }
  gpuDir = await mkdtemp('/tmp/bt-nbgpu-')
  await mkdir(join(gpuDir, 'host'))
  const gpuHost = await makeFakeHost(join(gpuDir, 'host'))
  d = await startBerthd({ env: { BERTH_TEST_GPU_ROOT: gpuHost.root } })
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
  if (gpuDir) await rm(gpuDir, { recursive: true, force: true })
})

/** The notebook's URL and port from what `berth notebook` printed. */
function notebookURL(name: string, stdout: string): { url: string; port: string } {
  const m = new RegExp(
    `^Notebook ${name} is running: (http://127\\.0\\.0\\.1:(\\d+)/\\?token=[0-9a-f]+)$`,
    'm',
  ).exec(stdout)
  assert.ok(m, `no URL in:\n${stdout}`)
  return { url: m[1] as string, port: m[2] as string }
}

/** curl on berthd's host (its network namespace): the HTTP status and the body. */
async function curl(url: string, args: string[] = []): Promise<{ code: string; body: string }> {
  const r = await exec(
    'nsenter',
    [
      `--net=${d.netns as string}`,
      '--',
      'curl',
      '-sS',
      '-L',
      '-b',
      '',
      '-w',
      '\n%{http_code}',
      ...args,
      url,
    ],
    { timeout: 60_000 },
  )
  const nl = r.stdout.lastIndexOf('\n')
  return { body: r.stdout.slice(0, nl), code: r.stdout.slice(nl + 1) }
}

test('berth notebook prints a token URL on 127.0.0.1 that answers, and the ssh line', async () => {
  const r = await berth(['notebook', '-v', 'nbdata:/home', '--name', 'nb', IMAGE], {
    host: d,
    timeoutMs: 120_000,
  })
  assert.equal(r.code, 0, r.stderr)
  const m = /^Notebook nb is running: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=([0-9a-f]+))$/m.exec(
    r.stdout,
  )
  assert.ok(m, `no URL in:\n${r.stdout}`)
  const [, url, port, token] = m as unknown as [string, string, string, string]
  const user = process.env.USER || process.env.LOGNAME || 'root'
  assert.ok(
    r.stdout.includes(`\n  ssh -N -L ${port}:localhost:${port} ${user}@${hostname()}\n`),
    r.stdout,
  )

  // The URL answers with its token (Jupyter's tree page); the API refuses a request without it.
  const page = await curl(url)
  assert.equal(page.code, '200', page.body)
  assert.match(page.body, /Jupyter/)
  const api = await curl(`http://127.0.0.1:${port}/api/contents?token=${token}`)
  assert.equal(api.code, '200', api.body)
  const refused = await curl(`http://127.0.0.1:${port}/api/contents`)
  assert.match(refused.code, /^40[13]$/)

  // Published on 127.0.0.1 only: requested so, bound so, and not reachable on the host's other
  // address.
  const insp = JSON.parse((await docker(['inspect', 'nb'], { host: d })).stdout) as {
    HostConfig: {
      PortBindings: Record<string, { HostIp: string; HostPort: string }[]>
      Binds: string[] | null
    }
    NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> }
    Config: { WorkingDir: string; Labels: Record<string, string> }
  }[]
  const c = insp[0]!
  assert.deepEqual(c.HostConfig.PortBindings, {
    '8889/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }],
  })
  assert.deepEqual(c.NetworkSettings.Ports['8889/tcp'], [{ HostIp: '127.0.0.1', HostPort: port }])
  assert.deepEqual(c.HostConfig.Binds, ['nbdata:/home'])
  assert.equal(c.Config.WorkingDir, '/home')
  assert.equal(c.Config.Labels['org.berth.notebook'], '1')
  await assert.rejects(curl(`http://${SCRATCH_HOST_IP}:${port}/`), /curl: \(7\) Failed to connect/)

  // ls: the notebook with the same URL (its token read from the log).
  const ls = await berth(['notebook', 'ls'], { host: d })
  assert.equal(ls.code, 0, ls.stderr)
  const row = ls.stdout.split('\n').find((l) => l.startsWith('nb '))
  assert.ok(row, ls.stdout)
  assert.match(row, /\bUp\b/)
  assert.ok(row.trimEnd().endsWith(url), `${row} does not end with ${url}`)

  // stop: it stops, and ls shows it exited without a URL.
  const stop = await berth(['notebook', 'stop', 'nb'], { host: d, timeoutMs: 60_000 })
  assert.equal(stop.code, 0, stop.stderr)
  assert.equal(stop.stdout, 'nb\n')
  const state = await docker(['inspect', '-f', '{{.State.Running}}', 'nb'], { host: d })
  assert.equal(state.stdout, 'false\n')
  const after = await berth(['notebook', 'ls'], { host: d })
  const row2 = after.stdout.split('\n').find((l) => l.startsWith('nb '))
  assert.ok(row2, after.stdout)
  assert.match(row2, /Exited/)
  assert.ok(!row2.includes('http://'), row2)
  assert.equal((await docker(['rm', 'nb'], { host: d })).code, 0)
})

test('berth notebook stop refuses a container that is not a notebook', async () => {
  const imp = await docker(
    ['import', '--change', 'CMD ["sleep", "1000"]', await busyboxTar(), 'bb:nb'],
    {
      host: d,
    },
  )
  assert.equal(imp.code, 0, imp.stderr)
  assert.equal((await docker(['run', '-d', '--name', 'plain', 'bb:nb'], { host: d })).code, 0)
  const r = await berth(['notebook', 'stop', 'plain'], { host: d })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /plain is not a berth notebook/)
  const state = await docker(['inspect', '-f', '{{.State.Running}}', 'plain'], { host: d })
  assert.equal(state.stdout, 'true\n')
  assert.equal((await docker(['rm', '-f', 'plain'], { host: d })).code, 0)
})

test('a notebook whose server exits before it answers: an error with the end of its log', async () => {
  const imp = await docker(
    [
      'import',
      '--change',
      'CMD ["sh", "-c", "echo no jupyter here >&2; exit 3"]',
      await busyboxTar(),
      'bb:gone',
    ],
    { host: d },
  )
  assert.equal(imp.code, 0, imp.stderr)
  const r = await berth(['notebook', '--name', 'gone', 'bb:gone'], { host: d })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /exited \(code 3\) before its server printed a URL/)
  assert.match(r.stderr, /no jupyter here/)
  assert.equal(r.stdout, '')
  assert.equal((await docker(['rm', 'gone'], { host: d })).code, 0)
})

test('without IMAGE it builds berth-notebook from examples/jupyter, and says to pass an IMAGE when that fails', async () => {
  // berthd's scratch network namespace reaches no registry, so the Dockerfile's FROM cannot be
  // pulled: the build is tried (its progress shown) and its failure explained.
  const r = await berth(['notebook'], { host: d, timeoutMs: 120_000 })
  assert.equal(r.code, 1, r.stdout)
  assert.match(r.stderr, /Building berth-notebook from \S+examples\/jupyter/)
  assert.match(r.stderr, /building berth-notebook from \S+ failed: .*registry-1\.docker\.io/s)
  assert.match(r.stderr, /pass a notebook IMAGE: berth notebook IMAGE/)
  const images = await docker(['images', '-q', 'berth-notebook'], { host: d })
  assert.equal(images.stdout, '')
})

test('berth notebook --gpus all: a notebook that sees every GPU, sent as run sends it', async () => {
  const r = await berth(['notebook', '--gpus', 'all', '--name', 'nbgpu', IMAGE], {
    host: d,
    timeoutMs: 120_000,
  })
  assert.equal(r.code, 0, r.stderr)
  const { url } = notebookURL('nbgpu', r.stdout)
  const page = await curl(url)
  assert.equal(page.code, '200', page.body)
  assert.match(page.body, /Jupyter/)

  // Inside: nvidia-smi lists each of the host's GPUs, and their nodes are there.
  const smi = await docker(['exec', 'nbgpu', 'nvidia-smi', '-L'], { host: d })
  assert.equal(smi.code, 0, smi.stderr)
  assert.deepEqual(
    smi.stdout.trim().split('\n'),
    FAKE_GPUS.map((g, i) => `GPU ${i}: Fake A100 40GB (UUID: ${g.uuid})`),
  )
  const nodes = await docker(['exec', 'nbgpu', 'sh', '-c', 'ls /dev | grep "^nvidia[0-9]"'], {
    host: d,
  })
  assert.deepEqual(nodes.stdout.trim().split('\n'), ['nvidia0', 'nvidia1', 'nvidia2'])

  // The request is the one `run --gpus all` sends.
  const run = await berth(['create', '--gpus', 'all', '--name', 'rungpu', IMAGE], { host: d })
  assert.equal(run.code, 0, run.stderr)
  const requests = await docker(
    ['inspect', '-f', '{{json .HostConfig.DeviceRequests}}', 'nbgpu', 'rungpu'],
    { host: d },
  )
  const [nbReq, runReq] = requests.stdout.trim().split('\n')
  assert.equal(nbReq, runReq)
  assert.deepEqual(JSON.parse(nbReq as string), [
    { Driver: '', Count: -1, DeviceIDs: null, Capabilities: [['gpu']], Options: {} },
  ])
  assert.equal((await docker(['rm', '-f', 'nbgpu', 'rungpu'], { host: d })).code, 0)
})

test('--gpus with a GPU the host has not got: the same refusal as run, nothing left', async () => {
  const [nb, run] = await Promise.all([
    berth(['notebook', '--gpus', 'device=7', '--name', 'nbgpu', IMAGE], { host: d }),
    berth(['run', '-d', '--gpus', 'device=7', '--name', 'rungpu', IMAGE], { host: d }),
  ])
  assert.equal(run.code, 125, run.stderr)
  assert.match(run.stderr, /device error: 7: unknown device \(this host's GPUs: 0 \(GPU-/)
  assert.equal(nb.code, 125, nb.stderr)
  assert.equal(nb.stderr.replace("'berth notebook --help'", "'berth run --help'"), run.stderr)
  const ps = await docker(['ps', '-aq', '--filter', 'name=gpu'], { host: d })
  assert.equal(ps.stdout, '')
})
